"""The poller of one control queue (one partition): receive in batches, sort into sessions.

Unreadable messages and messages dequeued too often go to the poison handler instead of
the sessions; messages not yet due (hidden beyond the queue's 7-day cap) are hidden again.
A poller receives nothing until something has asked the sessions for work (a dispatcher's
first ``lock_next_orchestration``): a process that runs no orchestrations leaves them queued.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ...core.clock import Clock
from ...core.errors import StorageUnavailableError
from ...core.options import AzureStorageOptions
from ...core.tasks import cancel_and_wait
from .message_queue import MessageQueue, ReceivedMessage
from .operations import brief_error
from .polling import PollingBackoff
from .sessions import SessionTable

log = logging.getLogger(__name__)
PoisonHandler = Callable[[ReceivedMessage, str], Awaitable[None]]
#: How long ``stop`` lets a receive under way finish (storage may be unreachable).
RECEIVE_GRACE = 5.0


class ControlQueue:
    """Polls one control queue for as long as this process owns its partition."""

    def __init__(
        self,
        partition: int,
        queue: MessageQueue,
        sessions: SessionTable,
        options: AzureStorageOptions,
        on_poison: PoisonHandler,
        clock: Clock,
    ) -> None:
        self.partition = partition
        self.queue = queue
        self._sessions = sessions
        self._options = options
        self._on_poison = on_poison
        self._clock = clock
        self.backoff = PollingBackoff(options.max_queue_polling_interval)
        self._task: asyncio.Task[None] | None = None
        self._receiving = False
        self._closing = False

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"poll {self.queue.name}")

    async def stop(self) -> None:
        """Stop polling. A receive under way is let finish and its messages sorted: cut
        short, they would stay invisible for the whole visibility timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        try:
            try:
                if self._receiving:
                    await asyncio.wait({task}, timeout=RECEIVE_GRACE)
            finally:
                # A no-op when the round ended; cuts short a receive that hangs, and when
                # this stop is itself cancelled, still ends the polling it took over.
                await cancel_and_wait(task)
        finally:
            self._closing = False

    async def _run(self) -> None:
        # Nothing has asked for orchestration work yet: the messages stay in storage, where
        # another process may run them (and none is held invisible by one that will not).
        await self._sessions.consumed.wait()
        while not self._closing:
            if self._sessions.pending_count >= self._options.control_queue_buffer_threshold:
                # Enough buffered work: let the dispatchers catch up before receiving more.
                await self.backoff.wait(self.backoff.min_delay)
                continue
            self._receiving = True
            try:
                received = await self.queue.receive(
                    self._options.control_queue_batch_size, self._options.control_queue_visibility_timeout
                )
                for message in received:
                    await self._sort(message)
            except asyncio.CancelledError:
                raise
            except StorageUnavailableError as exc:
                # Storage down or silent (e.g. Azurite restarting): one line per round, as a
                # traceback would say nothing more.
                log.warning("polling %s failed (%s); retrying after the backoff", self.queue.name, brief_error(exc))
                received = []
            except Exception:
                log.exception("polling %s failed; retrying after the backoff", self.queue.name)
                received = []
            finally:
                self._receiving = False
            if self._closing:
                return
            if len(received) >= self._options.control_queue_batch_size:
                self.backoff.reset()  # a full batch: more may be waiting
            elif received:
                # The queue is drained: a poll at once would come back empty. Messages this
                # process sends wake the wait; others' are seen within the minimum delay.
                self.backoff.reset()
                await self.backoff.wait(self.backoff.min_delay)
            else:
                await self.backoff.wait(self.backoff.next_delay())

    async def poll_once(self) -> int:
        """One receive round (tests and callers that drive polling themselves)."""
        received = await self.queue.receive(
            self._options.control_queue_batch_size, self._options.control_queue_visibility_timeout
        )
        for message in received:
            await self._sort(message)
        return len(received)

    async def _sort(self, message: ReceivedMessage) -> None:
        if message.data is None or message.data.message is None:
            await self._on_poison(message, f"unreadable message: {message.error}")
            return
        limit = self._options.poison_message_dequeue_count
        if message.failed_deliveries > limit:
            await self._on_poison(message, poison_reason(message, limit))
            return
        task = message.data.message
        if task.visible_at is not None:
            wait = (task.visible_at - self._clock.now()).total_seconds()
            if wait > 1:
                await self.queue.hide(message, wait)
                return
        self._sessions.add(task.instance_id, message)


def poison_reason(message: ReceivedMessage, limit: int) -> str:
    return (
        f"delivered {message.failed_deliveries} times without being completed (limit {limit}; "
        f"dequeued {message.dequeue_count} times in all)"
    )
