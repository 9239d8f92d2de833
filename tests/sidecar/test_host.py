"""SidecarHost: start order, stop order, cleanup after a failed start."""
from __future__ import annotations

import grpc
import pytest
from google.protobuf import empty_pb2

from azure_durable_ext.core.errors import StorageUnavailableError
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub
from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


class RecordingService(InMemoryOrchestrationService):
    def __init__(self, events: list[str], fail_create: bool = False) -> None:
        super().__init__()
        self.events = events
        self.fail_create = fail_create

    async def create_task_hub(self, *, recreate: bool = False) -> None:
        self.events.append("create")
        if self.fail_create:
            raise StorageUnavailableError("storage is down")

    async def start(self) -> None:
        self.events.append("service start")

    async def stop(self) -> None:
        self.events.append("service stop")
        await super().stop()


class Component:
    def __init__(self, name: str, events: list[str], fail: bool = False) -> None:
        self.name, self.events, self.fail = name, events, fail

    async def start(self) -> None:
        self.events.append(f"{self.name} start")
        if self.fail:
            raise RuntimeError(f"{self.name} cannot start")

    async def stop(self) -> None:
        self.events.append(f"{self.name} stop")


def _host(events: list[str], **kw: object) -> SidecarHost:
    service = RecordingService(events, fail_create=bool(kw.pop("fail_create", False)))
    return SidecarHost(TaskHubRegistry([TaskHub.create(DurableTaskOptions(), service)]), **kw)  # type: ignore[arg-type]


async def test_start_and_stop_order() -> None:
    events: list[str] = []
    host = _host(events, components=[Component("dispatcher", events)])
    async with host:
        async with grpc.aio.insecure_channel(host.address) as channel:
            await SidecarStub(channel).Hello(empty_pb2.Empty())
    assert events == ["create", "service start", "dispatcher start", "dispatcher stop", "service stop"]


async def test_failed_component_start_stops_what_started() -> None:
    events: list[str] = []
    host = _host(events, components=[Component("a", events), Component("b", events, fail=True)])
    with pytest.raises(RuntimeError, match="b cannot start"):
        await host.start()
    assert events == ["create", "service start", "a start", "b start", "a stop", "service stop"]
    with pytest.raises(RuntimeError):
        host.address  # the listener never started


async def test_failed_storage_is_still_closed() -> None:
    events: list[str] = []
    host = _host(events, fail_create=True)
    with pytest.raises(StorageUnavailableError):
        await host.start()
    assert events == ["create", "service stop"]
