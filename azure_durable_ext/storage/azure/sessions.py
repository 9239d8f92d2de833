"""Received control-queue messages grouped per instance, and which instances are locked.

One work item per instance at a time: messages that arrive while an instance is locked
wait here (still invisible on the queue) and make it ready again when the lock is released.
The pollers fill the table only once something has taken work from it (``consumed``): a
process that never runs orchestrations (a client-only host) leaves the messages in storage.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..waiting import ChangeNotifier
from .message_queue import ReceivedMessage


class SessionTable:
    """Pending messages per instance plus a FIFO of instances ready to be locked."""

    def __init__(self) -> None:
        self._pending: dict[str, dict[str, ReceivedMessage]] = {}
        self._ready: deque[str] = deque()
        self._signal = asyncio.Event()
        self._queued: set[str] = set()
        self._locked: set[str] = set()
        #: Extended sessions waiting for messages to their (locked) instance.
        self._session_waits: ChangeNotifier[str] = ChangeNotifier()
        self._count = 0
        #: Set by the first ``take``: from then on the pollers receive.
        self.consumed = asyncio.Event()

    @property
    def pending_count(self) -> int:
        """Buffered messages (kept as a running count: the pollers ask on every wake-up)."""
        return self._count

    def is_locked(self, instance_id: str) -> bool:
        return instance_id in self._locked

    def add(self, instance_id: str, message: ReceivedMessage) -> None:
        """Buffer a message; a re-received copy (same id) replaces the older receipt."""
        messages = self._pending.setdefault(instance_id, {})
        if message.message_id not in messages:
            self._count += 1
        messages[message.message_id] = message
        self._mark_ready(instance_id)
        self._session_waits.notify(instance_id)

    def _mark_ready(self, instance_id: str) -> None:
        if instance_id not in self._locked and instance_id not in self._queued and self._pending.get(instance_id):
            self._queued.add(instance_id)
            self._ready.append(instance_id)
            self._signal.set()

    async def take(self, timeout: float) -> tuple[str, list[ReceivedMessage]] | None:
        """Lock the next ready instance and take its buffered messages; None on timeout."""
        self.consumed.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._ready:
                instance_id = self._ready.popleft()
                self._queued.discard(instance_id)
                messages = self._pending.pop(instance_id, None)
                if messages:
                    self._count -= len(messages)
                if messages and instance_id not in self._locked:
                    self._locked.add(instance_id)
                    return instance_id, list(messages.values())
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            # Waiting on an event (not on a queue item) so a timeout can never lose an item.
            self._signal.clear()
            try:
                await asyncio.wait_for(self._signal.wait(), remaining)
            except asyncio.TimeoutError:
                continue

    async def wait_for_messages(self, instance_id: str, timeout: float) -> list[ReceivedMessage]:
        """For a locked instance's extended session: its buffered messages, waiting up to
        ``timeout`` seconds for the first; [] when none came (or ``end_sessions`` ended the
        wait). The instance stays locked either way."""
        if not self._pending.get(instance_id) and timeout > 0:
            await self._session_waits.wait(instance_id, timeout)
        messages = self._pending.pop(instance_id, None)
        if not messages:
            return []
        self._count -= len(messages)
        return list(messages.values())

    def end_sessions(self, belongs: Callable[[str], bool]) -> None:
        """Wake the extended sessions of the instances ``belongs`` selects, so they end now
        (a partition being given up, the service stopping)."""
        self._session_waits.notify_where(belongs)

    def release(self, instance_id: str) -> None:
        """Unlock; messages that arrived meanwhile make the instance ready again."""
        self._locked.discard(instance_id)
        self._mark_ready(instance_id)

    def drop_all(self) -> list[ReceivedMessage]:
        """Forget every buffered message and lock (stopping, the task hub deleted): the
        messages reappear after their visibility timeout; an episode still in flight finds
        its lock gone when it completes (OrchestrationWork forgets its locks with this)."""
        dropped = [m for msgs in self._pending.values() for m in msgs.values()]
        self._pending.clear()
        self._session_waits.notify_all()
        self._locked.clear()
        self._count = 0
        self._queued.clear()
        self._ready.clear()
        return dropped

    def drop_where(self, belongs: Callable[[str], bool]) -> list[ReceivedMessage]:
        """Forget the buffered messages of the instances ``belongs`` selects (a partition
        handed to another worker); locked instances keep their lock until released."""
        dropped: list[ReceivedMessage] = []
        for instance_id in [i for i in self._pending if belongs(i)]:
            dropped.extend(self._pending.pop(instance_id).values())
            self._queued.discard(instance_id)
        self._count -= len(dropped)
        if dropped:
            self._ready = deque(i for i in self._ready if not belongs(i))
        return dropped

    def any_locked(self, belongs: Callable[[str], bool]) -> bool:
        """True while an instance ``belongs`` selects is locked (its episode in flight)."""
        return any(belongs(i) for i in self._locked)
