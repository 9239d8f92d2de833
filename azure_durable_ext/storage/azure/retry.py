"""Retries of the queue and blob clients: quick after a lost connection, patient when busy.

The storage SDKs' default (``ExponentialRetry``: 15 + 3^n s before retry n) kept a poll
that failed during an Azurite restart away for 15-21 s, so the clients retried every
0.25-0.75 s instead. That suits a connection that is refused or reset (a restarting
emulator, a dropped network path: nothing was processed, and storage is usually back in a
moment) but not an account that answers 503 ServerBusy or 500 OperationTimedOut: Azure
Storage asks clients that are throttled to back off exponentially, and retrying every half
second keeps the partition hot. ``StorageRetry`` therefore waits

* after a transport error: ``connection_wait`` +- ``jitter`` seconds (as before);
* after a retryable status (408, 5xx): ``Retry-After`` when the answer gives one, else
  ``status_initial * 2^(n-1)`` seconds for the n-th such answer, at most ``status_max``,
  +-20% so clients throttled together do not come back together.

Status answers get up to ``retry_status`` retries (5: about 31 s of waiting at the
defaults), transport errors ``retry_connect`` / ``retry_read`` (2 each, as before: a queue
receive over a half-open connection gives up after three 5 s read timeouts), ``retry_total``
all together. The table client keeps azure-core's policy with ``CLIENT_OPTIONS``.
"""
from __future__ import annotations

import random
from typing import Any

from azure.storage.blob.aio import ExponentialRetry


class StorageRetry(ExponentialRetry):
    """An async storage retry policy (see the module doc); shared by queue and blob clients,
    whose SDKs carry identical copies of the retry machinery."""

    def __init__(
        self,
        *,
        connection_wait: float = 0.5,
        jitter: float = 0.25,
        status_initial: float = 1.0,
        status_max: float = 16.0,
        retry_total: int = 8,
        retry_connect: int = 2,
        retry_read: int = 2,
        retry_status: int = 5,
        **kwargs: Any,
    ) -> None:
        if connection_wait < 0 or jitter < 0 or jitter > connection_wait:
            raise ValueError(f"need 0 <= jitter <= connection_wait, got {jitter!r} and {connection_wait!r}")
        if not 0 < status_initial <= status_max:
            raise ValueError(f"need 0 < status_initial <= status_max, got {status_initial!r} and {status_max!r}")
        super().__init__(
            initial_backoff=connection_wait,  # type: ignore[arg-type]  # the SDK annotates int, uses float
            increment_base=0,
            random_jitter_range=jitter,  # type: ignore[arg-type]
            retry_total=retry_total,
            retry_connect=retry_connect,
            retry_read=retry_read,
            retry_status=retry_status,
            **kwargs,
        )
        self.status_initial = status_initial
        self.status_max = status_max
        self._random = random.Random()

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        """Seconds to wait before the next attempt, from what the last attempt got."""
        history = settings.get("history") or []
        response = history[-1].http_response if history else None
        if response is None:  # a transport error: no answer came; the SDK's wait with our settings
            return float(super().get_backoff_time(settings))
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is not None:
            return min(asked, self.status_max)
        answered = sum(1 for attempt in history if attempt.http_response is not None)
        wait = min(self.status_max, self.status_initial * 2 ** (answered - 1))
        return self._random.uniform(wait * 0.8, wait * 1.2)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds only, as storage sends it); None
    when absent or not a non-negative number."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
