"""A sidecar with dispatchers on the test's own loop, and a raw protocol-level worker."""
from __future__ import annotations

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
from raw_worker import RawWorker


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
