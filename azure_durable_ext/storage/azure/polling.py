"""Queue polling delays: exponential backoff with jitter, cut short by local activity.

An empty poll doubles the wait (50 ms up to maxQueuePollingInterval, +-20 % jitter); a
message, or a message enqueued by this process, resets it and wakes the poller at once, so
an idle host starts a new instance without waiting out the backoff.
"""
from __future__ import annotations

import asyncio
import random

MIN_POLL_DELAY = 0.05


class PollingBackoff:
    """The wait before the next poll of one queue."""

    def __init__(self, max_delay: float, *, min_delay: float = MIN_POLL_DELAY, rng: random.Random | None = None) -> None:
        self.min_delay = min_delay
        self.max_delay = max(max_delay, min_delay)
        self._current = 0.0
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        #: Waits under way (a wake-up matters only to them).
        self.sleeping = 0

    @property
    def current(self) -> float:
        return self._current

    def reset(self) -> None:
        """A message arrived: poll again at once."""
        self._current = 0.0

    def wake(self) -> None:
        """Something was enqueued locally: reset and interrupt a running wait."""
        self._current = 0.0
        self._wake.set()

    def next_delay(self) -> float:
        """The wait after one more empty poll."""
        base = self.min_delay if self._current == 0.0 else min(self._current * 2, self.max_delay)
        self._current = base
        return min(self.max_delay, base * self._rng.uniform(0.8, 1.2))

    async def wait(self, delay: float) -> bool:
        """Sleep up to ``delay``; True if woken early by :meth:`wake`."""
        if self._wake.is_set():
            self._wake.clear()
            return True
        self.sleeping += 1
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except asyncio.TimeoutError:
            return False
        finally:
            self.sleeping -= 1
        self._wake.clear()
        return True
