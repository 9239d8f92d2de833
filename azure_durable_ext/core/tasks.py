"""asyncio task helpers shared by the layers (no I/O)."""
from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: "asyncio.Task[Any]") -> None:
    """Cancel ``task`` and wait until it has ended. Its own CancelledError is expected; one
    that cancels the caller while it waits, or any other error of the task, propagates."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
