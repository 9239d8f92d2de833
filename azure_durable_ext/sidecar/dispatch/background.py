"""Run a SidecarHost on its own event-loop thread (tests, benchmarks, sync callers).

The sidecar is asyncio; the official ``durabletask`` worker and sync clients block their
thread. Giving the sidecar a thread of its own lets both live in one process:

    with BackgroundSidecar(lambda: build_sidecar_host(hubs)) as sidecar:
        worker = TaskHubGrpcWorker(host_address=sidecar.address)
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..host import SidecarHost

T = TypeVar("T")


class BackgroundSidecar:
    """A SidecarHost built and served on a private event loop in a daemon thread."""

    def __init__(self, make_host: Callable[[], SidecarHost], *, stop_grace: float = 1.0) -> None:
        self._make_host = make_host
        self._stop_grace = stop_grace
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sidecar-loop", daemon=True)
        self.host: SidecarHost | None = None

    @property
    def address(self) -> str:
        if self.host is None:
            raise RuntimeError("the sidecar is not started")
        return self.host.address

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def call(self, make: Callable[[], Awaitable[T]], timeout: float | None = 30.0) -> T:
        """Run ``make()`` on the sidecar's loop and return its result."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def start(self) -> "BackgroundSidecar":
        self._thread.start()

        async def start() -> None:
            self.host = self._make_host()
            await self.host.start()

        self.call(start)
        return self

    def replace_host(self, make_host: Callable[[], SidecarHost]) -> None:
        """Stop the host and start another on the same loop ("the app restarted"): state
        the first host's storage object keeps (the in-memory provider) carries over."""
        old = self.host

        async def swap() -> None:
            if old is not None:
                await old.stop(self._stop_grace)
            self.host = make_host()
            await self.host.start()

        self.call(swap, timeout=60.0)

    def stop(self) -> None:
        """Stop the host, then the loop and its thread. Idempotent."""
        if not self._thread.is_alive():
            return
        host = self.host
        if host is not None:
            self.call(lambda: host.stop(self._stop_grace), timeout=60.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._loop.close()

    def __enter__(self) -> "BackgroundSidecar":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
