"""Activity work items on the ``{hub}-workitems`` queue.

A lock is the queue message's invisibility: renew extends it, abandon shortens it, complete
deletes the message. A few messages are received per round trip and handed out one by one.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Sequence

from ...core.clock import Clock
from ...core.errors import ConcurrencyConflictError
from ...core.model import TaskMessage
from ...core.options import AzureStorageOptions
from ..service import ActivityWorkItem
from .control_queue import PoisonHandler, poison_reason
from .message_codec import MessageData
from .message_queue import MessageQueue, ReceivedMessage, SentMessage, gather_sends
from .polling import PollingBackoff

PREFETCH = 8


class ActivityQueue:
    """Hands out activity messages under visibility-timeout locks."""

    def __init__(self, queue: MessageQueue, options: AzureStorageOptions, on_poison: PoisonHandler, clock: Clock) -> None:
        self.queue = queue
        self._options = options
        self._on_poison = on_poison
        self._clock = clock
        self._buffer: deque[ReceivedMessage] = deque()
        self._held: dict[str, ReceivedMessage] = {}
        self.backoff = PollingBackoff(options.max_queue_polling_interval)
        self._receiving = asyncio.Lock()
        self._drained = False
        #: ``lock_next`` calls under way: takers for messages sent locked.
        self._waiting = 0

    async def send_all(self, messages: Sequence[TaskMessage]) -> None:
        """Enqueue activity messages. While a ``lock_next`` here waits for work, messages due
        now go to it directly (sent already locked, see ``MessageQueue.send_locked``): one
        per waiting caller, so nothing is held that this process has no taker for."""
        if not messages:
            return
        now = self._clock.now()
        spare = self._waiting - len(self._buffer)
        locked: list[Awaitable[ReceivedMessage]] = []
        sends: list[Awaitable[SentMessage]] = []
        for m in messages:
            data = MessageData(message=m, sender_instance_id=m.instance_id, sender_execution_id=m.execution_id)
            if m.visible_at is None and len(locked) < spare:
                locked.append(self.queue.send_locked(data, self._options.work_item_queue_visibility_timeout))
            else:
                sends.append(self.queue.send(data, visible_at=m.visible_at, now=now))
        handed, failure = await gather_sends(locked, sends)
        if handed:
            self._buffer.extend(handed)
            # The takers were idle, i.e. their last receive found nothing: the next one
            # waits a little (as after a receive that drained the queue) rather than
            # spending a receive on a queue this process just emptied itself.
            self._drained = True
        if sends or self.backoff.sleeping:
            self.backoff.wake()
        if failure is not None:
            raise failure

    async def lock_next(self, timeout: float) -> ActivityWorkItem | None:
        self._waiting += 1
        try:
            return await self._lock_next(timeout)
        finally:
            self._waiting -= 1

    async def _lock_next(self, timeout: float) -> ActivityWorkItem | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._buffer:
                message = self._buffer.popleft()
                item = await self._accept(message)
                if item is not None:
                    return item
            async with self._receiving:
                if not self._buffer and self._drained:
                    # The last receive emptied the queue: one at once would come back
                    # empty. Local sends wake this wait; others' are seen within it.
                    self._drained = False
                    await self.backoff.wait(min(self.backoff.min_delay, max(0.0, deadline - loop.time())))
                if not self._buffer:  # (a local send may have handed one over meanwhile)
                    received = await self.queue.receive(PREFETCH, self._options.work_item_queue_visibility_timeout)
                    self._buffer.extend(received)
                    if received:
                        self.backoff.reset()
                        self._drained = len(received) < PREFETCH
            if self._buffer:
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self.backoff.wait(min(self.backoff.next_delay(), remaining))

    async def _accept(self, message: ReceivedMessage) -> ActivityWorkItem | None:
        if message.data is None or message.data.message is None:
            await self._on_poison(message, f"unreadable message: {message.error}")
            return None
        limit = self._options.poison_message_dequeue_count
        if message.failed_deliveries > limit:
            await self._on_poison(message, "activity message " + poison_reason(message, limit))
            return None
        self._held[message.message_id] = message
        return ActivityWorkItem(message=message.data.message, lock=message, dequeue_count=message.dequeue_count)

    def held(self, item: ActivityWorkItem) -> ReceivedMessage:
        lock = item.lock
        if not isinstance(lock, ReceivedMessage) or self._held.get(lock.message_id) is not lock:
            raise ConcurrencyConflictError(
                f"the lock on activity task {item.task_id} of {item.instance_id!r} is no longer held"
            )
        return lock

    async def finish(self, item: ActivityWorkItem, received: ReceivedMessage) -> None:
        self._held.pop(received.message_id, None)
        await self.queue.delete(received)

    async def abandon(self, item: ActivityWorkItem, delay: float) -> None:
        received = self.held(item)
        self._held.pop(received.message_id, None)
        await self.queue.hide(received, max(0.0, delay), deliberate=True)
        if delay <= 0:
            self.backoff.wake()

    async def renew(self, item: ActivityWorkItem) -> None:
        await self.queue.hide(self.held(item), self._options.work_item_queue_visibility_timeout)
