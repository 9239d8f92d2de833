"""SidecarHost: task hubs + listener + background components, started and stopped together."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol, TypeVar

from .hub import TaskHubRegistry
from .listener import LocalGrpcListener

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_host_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the host's event loop: uvloop when installed (grpc.aio spends most of a call in
    loop wake-ups, which uvloop makes cheaper), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


class Component(Protocol):
    """Anything with async start/stop that lives as long as the host (dispatchers...)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SidecarHost:
    """Starts storage, then components, then the listener; stops in reverse order.

    Other parts plug in through ``components`` (started before clients can connect) and
    ``extra_servicers`` (more RPCs on the same gRPC service).
    """

    def __init__(
        self,
        hubs: TaskHubRegistry,
        *,
        port: int = 0,
        components: Iterable[Component] = (),
        extra_servicers: Iterable[Any] = (),
    ) -> None:
        self.hubs = hubs
        self.components: list[Component] = list(components)
        self.listener = LocalGrpcListener(hubs, port=port, extra_servicers=extra_servicers)
        self._started: list[Component] = []

    @property
    def address(self) -> str:
        return self.listener.address

    def add_component(self, component: Component) -> None:
        """Add a background component (before ``start``)."""
        self.components.append(component)

    async def start(self) -> int:
        """Start everything; returns the listener's port. A failure stops what started."""
        try:
            for hub in self.hubs:
                # Registered before anything can fail, so a failed start still closes it.
                self._started.append(hub.service)
                await hub.service.create_task_hub()
                await hub.service.start()
            for component in self.components:
                await self._start(component)
            return await self.listener.start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self, component: Component) -> None:
        await component.start()
        self._started.append(component)

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop the listener, then components and storage in reverse start order. Every
        part is stopped even if one fails; the first failure is re-raised."""
        first: BaseException | None = None
        try:
            await self.listener.stop(grace)
        except Exception as exc:
            log.exception("stopping the listener failed")
            first = exc
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()
            except Exception as exc:
                log.exception("stopping %r failed", component)
                first = first or exc
        if first is not None:
            raise first

    async def __aenter__(self) -> "SidecarHost":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
