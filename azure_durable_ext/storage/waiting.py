"""Waiting on asyncio futures that someone else resolves: a wait with a timeout that never
loses a cancellation, and per-key change notification (both providers' building blocks)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


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


class ChangeNotifier(Generic[T]):
    """Wakes everyone waiting on a key when that key changes."""

    def __init__(self) -> None:
        self._waiters: dict[T, set[asyncio.Future[bool]]] = {}

    def notify(self, key: T) -> None:
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(True)

    def notify_all(self) -> None:
        self.notify_where(lambda _: True)

    def notify_where(self, selects: Callable[[T], bool]) -> None:
        """Wake the waiters of every key ``selects`` picks."""
        for key in [k for k in self._waiters if selects(k)]:
            self.notify(key)

    async def wait(self, key: T, timeout: float | None) -> bool:
        """Wait for the next change of ``key``, at most ``timeout`` seconds (None: no
        limit); False on timeout."""
        waiter = self.watch(key)
        try:
            return await wait_signal(waiter, timeout)
        finally:
            self.unwatch(key, waiter)

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
