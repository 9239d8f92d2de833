"""A sidecar with dispatchers on the test's own loop, and a raw protocol-level worker."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

READ_TIMEOUT = 10.0


class RawWorker:
    """A GetWorkItems stream driven by hand: read items, complete or abandon them."""

    def __init__(self, stub: Any, request: pb.GetWorkItemsRequest) -> None:
        self.stub = stub
        self.call = stub.GetWorkItems(request)
        self._read: asyncio.Task[Any] | None = None

    async def _next(self, timeout: float) -> Any:
        # Cancelling a read cancels the whole call, so a read that times out is kept for
        # the next attempt instead.
        if self._read is None:
            self._read = asyncio.ensure_future(self.call.read())
        done, _ = await asyncio.wait({self._read}, timeout=timeout)
        if not done:
            raise asyncio.TimeoutError
        read, self._read = self._read, None
        return read.result()

    async def next_item(self, *, skip_pings: bool = True, timeout: float = READ_TIMEOUT) -> pb.WorkItem:
        """The next work item within ``timeout`` seconds (health pings skipped by default)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self._next(max(0.0, deadline - loop.time()))
            assert item is not grpc.aio.EOF, "the work-item stream ended"
            if skip_pings and item.HasField("healthPing"):
                continue
            return item

    async def nothing_for(self, seconds: float) -> bool:
        """True when no (non-ping) work item arrives within ``seconds``."""
        try:
            await self.next_item(timeout=seconds)
        except asyncio.TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.call.cancel()


class Sidecar:
    def __init__(self, host: SidecarHost, channel: grpc.aio.Channel) -> None:
        self.host = host
        self.channel = channel
        self.stub = SidecarStub(channel)
        self.workers: list[RawWorker] = []

    @property
    def hub(self) -> TaskHub:
        return self.host.hubs.default

    def worker(self, **request: Any) -> RawWorker:
        worker = RawWorker(self.stub, pb.GetWorkItemsRequest(**request))
        self.workers.append(worker)
        return worker

    async def start(self, name: str, instance_id: str, version: str | None = None, input: str | None = None) -> None:
        await self.hub.durable.start_new(name, instance_id, version, input)


@pytest.fixture
async def sidecar() -> AsyncIterator[Sidecar]:
    hub = TaskHub.create(DurableTaskOptions(), InMemoryOrchestrationService())
    host = build_sidecar_host(TaskHubRegistry([hub]), poll_timeout=0.2, health_ping_interval=0.3)
    await host.start()
    channel = grpc.aio.insecure_channel(host.address)
    sidecar = Sidecar(host, channel)
    try:
        yield sidecar
    finally:
        for worker in sidecar.workers:
            worker.close()
        await channel.close()
        await host.stop()
