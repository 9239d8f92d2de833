"""WorkQueue (the in-memory provider's) and the shared waiting primitives ChangeNotifier and wait_signal."""
from __future__ import annotations

import asyncio

import pytest

from azure_durable_ext.storage.memory.signals import WorkQueue
from azure_durable_ext.storage.waiting import ChangeNotifier


async def test_items_are_queued_once_and_in_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for item in ("a", "b", "a"):
        queue.put(item)
    queue.put("c", front=True)
    assert len(queue) == 3 and "a" in queue
    assert [queue.pop_nowait() for _ in range(4)] == ["c", "a", "b", None]
    assert await queue.take(0) is None


async def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(queue.take(10))
    second = asyncio.create_task(queue.take(10))
    await asyncio.sleep(0)
    queue.put("only")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await second == "only"
    assert first.cancelled()


async def test_take_times_out_and_discard_removes() -> None:
    queue: WorkQueue[int] = WorkQueue()
    assert await queue.take(0.01) is None
    queue.put(1)
    queue.discard(1)
    queue.discard(2)
    assert await queue.take(0.01) is None


async def test_claim_skips_stale_items() -> None:
    queue: WorkQueue[int] = WorkQueue()
    for n in (1, 2, 3):
        queue.put(n)
    assert await queue.claim(1, lambda n: None if n < 3 else n * 10) == 30
    assert len(queue) == 0


async def test_notifier_wakes_every_watcher_of_a_key() -> None:
    notifier: ChangeNotifier[str] = ChangeNotifier()
    a1, a2, b = notifier.watch("a"), notifier.watch("a"), notifier.watch("b")
    notifier.notify("a")
    assert a1.done() and a2.done() and not b.done()
    notifier.unwatch("b", b)
    notifier.notify_all()
    assert not b.done()


async def test_notifier_wait_ends_at_the_change_or_the_timeout_and_leaves_no_watcher() -> None:
    notifier: ChangeNotifier[str] = ChangeNotifier()
    woken = asyncio.create_task(notifier.wait("a", 10))
    await asyncio.sleep(0)
    notifier.notify("b")
    await asyncio.sleep(0)
    assert not woken.done()
    notifier.notify("a")
    assert await woken is True
    assert await notifier.wait("a", 0.01) is False
    cancelled = asyncio.create_task(notifier.wait("a", 10))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert notifier._waiters == {}


async def test_wait_signal_never_loses_a_cancellation() -> None:
    from azure_durable_ext.storage.waiting import wait_signal

    waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(wait_signal(waiter, 10))
    await asyncio.sleep(0)
    waiter.set_result(True)
    task.cancel()  # in the same loop turn as the signal
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    expired: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    assert await wait_signal(expired, 0.01) is False
