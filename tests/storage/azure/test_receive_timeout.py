"""A queue receive that gets no answer (an endpoint that accepts and never answers) fails
within its read timeout, with an error naming the queue, and the pollers go on: one log line
per failed round, no traceback. Before, such a receive hung a minute per attempt."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from azure_durable_ext.core.clock import SystemClock
from azure_durable_ext.core.errors import StorageUnavailableError
from azure_durable_ext.core.options import AzureStorageOptions
from azure_durable_ext.sidecar.dispatch import work_loop
from azure_durable_ext.sidecar.dispatch.work_loop import WorkLoop
from azure_durable_ext.storage.azure import control_queue
from azure_durable_ext.storage.azure.activity_queue import ActivityQueue
from azure_durable_ext.storage.azure.control_queue import ControlQueue
from azure_durable_ext.storage.azure.message_queue import MessageQueue, ReceivedMessage
from azure_durable_ext.storage.azure.operations import StorageOperationCounter
from azure_durable_ext.storage.azure.sessions import SessionTable
from azure_durable_ext.storage.service import ActivityWorkItem
from silent_endpoint import silent_port, silent_queue  # noqa: F401  (fixture)

#: Short, so the tests are quick; the default is a few seconds.
RECEIVE_TIMEOUT = 0.3
#: Only a guard against a hang (three attempts of RECEIVE_TIMEOUT and two SDK retry waits
#: of at most 0.75 s take ~2.5 s): the receive used to hang 60 s per attempt.
HANG_GUARD = 20.0


async def never_poisons(message: ReceivedMessage, reason: str) -> None:
    raise AssertionError(f"nothing is received here: {reason}")


#: A started polling loop: its task, and how to stop it.
Polling = tuple["asyncio.Task[None] | None", Callable[[], Awaitable[None]]]


async def poll_three_rounds(port: int, name: str, start: Callable[[MessageQueue], Awaitable[Polling]]) -> None:
    """Poll queue ``name`` on the silent endpoint until the third receive began; the polling
    task must still run then."""
    counter = StorageOperationCounter()
    async with silent_queue(port, name, counter) as queue:
        queue.receive_timeout = RECEIVE_TIMEOUT
        task, stop = await start(queue)
        try:

            async def until_three() -> None:
                while counter.counts["queue.receive"] < 3:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(until_three(), HANG_GUARD * 2)
            assert task is not None and not task.done(), "still polling"
        finally:
            await stop()


def assert_one_line_each(caplog: pytest.LogCaptureFixture, logger: str, text: str) -> None:
    """The failed rounds before the third receive were logged, one line each."""
    failures = [r for r in caplog.records if r.name == logger]
    assert len(failures) >= 2, f"a line for each failed round: {[r.getMessage() for r in caplog.records]}"
    for record in failures:
        assert record.exc_info is None, "one line, no traceback"
        assert text in record.getMessage()


@pytest.mark.timeout(60)
async def test_a_receive_without_an_answer_fails_with_an_error_naming_the_queue(silent_port: int) -> None:
    async with silent_queue(silent_port, "hub-control-00", StorageOperationCounter()) as queue:
        queue.receive_timeout = RECEIVE_TIMEOUT
        with pytest.raises(StorageUnavailableError) as raised:
            await asyncio.wait_for(queue.receive(32, 30), HANG_GUARD)
    assert str(raised.value) == "receiving from queue hub-control-00: the last attempt got no answer within 0.3 s"


@pytest.mark.timeout(60)
async def test_a_control_queue_poller_goes_on_after_receives_without_an_answer(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def start(queue: MessageQueue) -> Polling:
        sessions = SessionTable()
        sessions.consumed.set()
        poller = ControlQueue(0, queue, sessions, AzureStorageOptions(), never_poisons, SystemClock())
        poller.start()
        return poller._task, poller.stop

    await poll_three_rounds(silent_port, "hub-control-00", start)
    assert_one_line_each(
        caplog, control_queue.__name__, "polling hub-control-00 failed (StorageUnavailableError: receiving from queue"
    )


class _ActivityFetcher(WorkLoop[ActivityWorkItem]):
    """The dispatchers' fetch loop over an activity queue (nothing is ever fetched here)."""

    kind = "activity"

    def __init__(self, activities: ActivityQueue) -> None:
        super().__init__(max_concurrent=1, poll_timeout=0.1)
        self.activities = activities

    async def fetch(self, timeout: float) -> ActivityWorkItem | None:
        return await self.activities.lock_next(timeout)

    async def process(self, item: ActivityWorkItem) -> None:
        raise AssertionError(f"nothing is received here: {item}")


@pytest.mark.timeout(60)
async def test_the_activity_fetch_loop_goes_on_after_receives_without_an_answer(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def start(queue: MessageQueue) -> Polling:
        fetcher = _ActivityFetcher(ActivityQueue(queue, AzureStorageOptions(), never_poisons, SystemClock()))
        await fetcher.start()
        return fetcher._fetcher, fetcher.stop

    await poll_three_rounds(silent_port, "hub-workitems", start)
    assert_one_line_each(
        caplog, work_loop.__name__, "activity dispatcher: fetching work failed (receiving from queue hub-workitems"
    )
