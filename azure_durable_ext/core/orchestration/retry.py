"""Retry policy for activities and sub-orchestrations.

Retries are durable: between attempts the orchestrator creates a durable timer, so a
retried task replays exactly (attempt, timer, attempt...) from history. The delay before
retry n (n = 1 for the first retry) is ``first_retry_interval * backoff_coefficient**(n-1)``,
capped at ``max_retry_interval``; no retry starts once ``retry_timeout`` has passed since
the first attempt was scheduled (Durable Functions' RetryOptions semantics).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How often and how patiently to retry a failing task.

    ``max_number_of_attempts`` counts the first attempt: 3 means one call plus two retries.
    """

    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.first_retry_interval, timedelta) or self.first_retry_interval <= timedelta(0):
            raise InvalidArgumentError("first_retry_interval must be a positive timedelta")
        if not isinstance(self.max_number_of_attempts, int) or self.max_number_of_attempts < 1:
            raise InvalidArgumentError("max_number_of_attempts must be an integer >= 1")
        if self.backoff_coefficient < 1.0:
            raise InvalidArgumentError("backoff_coefficient must be >= 1.0")
        if self.max_retry_interval is not None and self.max_retry_interval <= timedelta(0):
            raise InvalidArgumentError("max_retry_interval must be a positive timedelta")
        if self.retry_timeout is not None and self.retry_timeout < timedelta(0):
            raise InvalidArgumentError("retry_timeout must not be negative")

    @classmethod
    def from_milliseconds(cls, first_retry_interval_in_milliseconds: int, max_number_of_attempts: int) -> "RetryOptions":
        """azure-functions-durable's constructor arguments (interval in milliseconds)."""
        return cls(timedelta(milliseconds=first_retry_interval_in_milliseconds), max_number_of_attempts)

    def next_delay(self, attempts_made: int, first_attempt_at: datetime, now: datetime) -> timedelta | None:
        """Delay before the next attempt after ``attempts_made`` failed ones, or None to give up."""
        if attempts_made >= self.max_number_of_attempts:
            return None
        if self.retry_timeout is not None and now - first_attempt_at >= self.retry_timeout:
            return None
        delay = self.first_retry_interval * (self.backoff_coefficient ** (attempts_made - 1))
        if self.max_retry_interval is not None and delay > self.max_retry_interval:
            delay = self.max_retry_interval
        return delay
