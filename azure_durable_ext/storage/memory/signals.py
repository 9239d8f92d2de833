"""Small asyncio building blocks of the in-memory provider: a work queue with waiters and
per-key change notification. No polling anywhere: waiters are futures woken directly."""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
R = TypeVar("R")


async def wait_signal(waiter: asyncio.Future[bool], timeout: float | None) -> bool:
    """Wait for ``waiter`` (resolved True by whoever signals it) at most ``timeout`` seconds
    (None: no limit); False on timeout.

    Not ``asyncio.wait_for``: on Python < 3.12 it returns normally when the caller is
    cancelled in the same loop turn the future completes, losing the cancellation (a
    stopping dispatcher would then keep waiting). Awaiting the future directly never does.
    """
    handle = None
    if timeout is not None:
        handle = asyncio.get_running_loop().call_later(max(0.0, timeout), _expire, waiter)
    try:
        return await waiter
    finally:
        if handle is not None:
            handle.cancel()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class WorkQueue(Generic[T]):
    """A FIFO of distinct items; ``take`` waits (with a timeout) until one is available.

    An item already queued is not queued twice (an instance with more messages is still one
    unit of orchestration work).
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._members: set[T] = set()
        self._waiters: deque[asyncio.Future[bool]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def put(self, item: T, *, front: bool = False) -> None:
        """Queue ``item`` unless it is queued already, and wake one waiter."""
        if item in self._members:
            return
        self._members.add(item)
        if front:
            self._items.appendleft(item)
        else:
            self._items.append(item)
        self._wake_one()

    def discard(self, item: T) -> None:
        """Remove ``item`` if queued (used when its work disappears, e.g. on purge)."""
        if item in self._members:
            self._members.discard(item)
            self._items.remove(item)

    def clear(self) -> None:
        self._items.clear()
        self._members.clear()

    def pop_nowait(self) -> T | None:
        if not self._items:
            return None
        item = self._items.popleft()
        self._members.discard(item)
        return item

    async def take(self, timeout: float) -> T | None:
        """The next item, or None if nothing arrived within ``timeout`` seconds."""
        item = self.pop_nowait()
        if item is not None or timeout <= 0:
            return item
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiters.append(waiter)
            try:
                woken = await wait_signal(waiter, deadline - loop.time())
            except asyncio.CancelledError:
                # Pass a wake-up this cancelled waiter received on to the next one.
                if waiter.done() and not waiter.cancelled() and waiter.result():
                    self._wake_one()
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            item = self.pop_nowait()
            if item is not None or not woken or loop.time() >= deadline:
                return item

    async def claim(self, timeout: float, claim: Callable[[T], R | None]) -> R | None:
        """Take items until ``claim`` turns one into a result (stale items give None and
        are skipped); None if no item was claimed within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self.take(max(0.0, deadline - loop.time()))
            if item is None:
                return None
            result = claim(item)
            if result is not None:
                return result
            if loop.time() >= deadline:
                return None

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return


class ChangeNotifier(Generic[T]):
    """Wakes everyone waiting on a key when that key changes."""

    def __init__(self) -> None:
        self._waiters: dict[T, set[asyncio.Future[bool]]] = {}

    def notify(self, key: T) -> None:
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(True)

    def notify_all(self) -> None:
        for key in list(self._waiters):
            self.notify(key)

    def watch(self, key: T) -> asyncio.Future[bool]:
        """A future resolved (True) at the next change of ``key``; wait on it with
        ``wait_signal`` and call ``unwatch`` afterwards."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(waiter)
        return waiter

    def unwatch(self, key: T, waiter: asyncio.Future[bool]) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[key]
