"""The in-memory activity queue: FIFO of TaskScheduled messages, locks by token."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from ...core.errors import ConcurrencyConflictError
from ...core.model import TaskMessage
from ..service import ActivityWorkItem
from .signals import WorkQueue


@dataclass(slots=True)
class _Locked:
    message: TaskMessage
    dequeue_count: int


class ActivityQueue:
    """Activity messages waiting or locked. A lock is a token; using a token that is no
    longer held (completed, abandoned, dropped) raises ConcurrencyConflictError."""

    def __init__(self) -> None:
        self._ready: WorkQueue[int] = WorkQueue()
        self._waiting: dict[int, tuple[TaskMessage, int]] = {}
        self._locked: dict[int, _Locked] = {}
        self._keys = itertools.count(1)

    def clear(self) -> None:
        self._ready.clear()
        self._waiting.clear()
        self._locked.clear()

    def put(self, message: TaskMessage, dequeue_count: int = 0, *, front: bool = False) -> None:
        """Queue a message that has been handed out ``dequeue_count`` times before."""
        key = next(self._keys)
        self._waiting[key] = (message, dequeue_count)
        self._ready.put(key, front=front)

    async def lock_next(self, timeout: float) -> ActivityWorkItem | None:
        return await self._ready.claim(timeout, self._lock)

    def _lock(self, key: int) -> ActivityWorkItem | None:
        entry = self._waiting.pop(key, None)
        if entry is None:
            return None
        message, count = entry
        self._locked[key] = _Locked(message, count + 1)
        return ActivityWorkItem(message=message, lock=key, dequeue_count=count + 1)

    def release(self, item: ActivityWorkItem) -> tuple[TaskMessage, int]:
        """Drop the lock of ``item``; returns its message and dequeue count."""
        locked = self._locked.pop(item.lock, None)  # type: ignore[call-overload]  # lock is an opaque object
        if locked is None:
            raise ConcurrencyConflictError(
                f"the lock on activity task {item.task_id} of {item.instance_id!r} is no longer held"
            )
        return locked.message, locked.dequeue_count

    def check_held(self, item: ActivityWorkItem) -> None:
        if item.lock not in self._locked:
            raise ConcurrencyConflictError("the activity work item's lock is no longer held")
