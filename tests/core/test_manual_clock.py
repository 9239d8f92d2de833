"""core.clock.ManualClock: moves only when told to."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext.core.clock import ManualClock

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_advance_moves_now_and_monotonic_together() -> None:
    clock = ManualClock(START)
    assert (clock.now(), clock.monotonic()) == (START, 0.0)
    clock.advance(90.5)
    assert clock.now() == START + timedelta(seconds=90.5) and clock.monotonic() == 90.5


def test_refuses_naive_start_and_going_back() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="go back"):
        ManualClock(START).advance(-1)
