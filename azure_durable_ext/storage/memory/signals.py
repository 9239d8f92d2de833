"""The in-memory provider's work queue with waiters (per-key change notification and the
wait itself are shared with the Azure provider: ``storage.waiting``). No polling anywhere:
waiters are futures woken directly."""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..waiting import wait_signal

T = TypeVar("T", bound=Hashable)
R = TypeVar("R")


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
