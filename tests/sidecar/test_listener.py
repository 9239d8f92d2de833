"""LocalGrpcListener: loopback binding, hub selection by header, default version, extra
servicers on the same service, unimplemented entity RPCs."""
from __future__ import annotations

import grpc
import pytest
from durabletask.client import TaskHubGrpcClient
from google.protobuf import empty_pb2
from sidecar_harness import SidecarThread, start_sidecar

from azure_durable_ext._proto import pb
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.sidecar.listener import LocalGrpcListener
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


def _version_of(sidecar: SidecarThread, instance_id: str) -> str | None:
    state = sidecar.state(instance_id)
    assert state is not None
    return state.version


def test_default_version_applies_when_request_has_none() -> None:
    for sidecar in start_sidecar(DurableTaskOptions(default_version="2.0")):
        with TaskHubGrpcClient(host_address=sidecar.address) as client:
            plain = client.schedule_new_orchestration("HelloOrchestration")
            explicit = client.schedule_new_orchestration("HelloOrchestration", version="1.2.0")
        assert _version_of(sidecar, plain) == "2.0"
        assert _version_of(sidecar, explicit) == "1.2.0"


def test_no_default_version_leaves_version_empty(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    assert _version_of(sidecar, sync_client.schedule_new_orchestration("HelloOrchestration")) is None


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* shows them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                    found.add(address)
    return found


def test_listener_binds_loopback_only(sidecar: SidecarThread) -> None:
    port = sidecar.host.listener.port
    assert port is not None and sidecar.address == f"127.0.0.1:{port}"
    addresses = _listening_addresses(port)
    # 127.0.0.1, either as such or IPv4-mapped on a dual-stack socket; nothing else.
    assert addresses and addresses <= {"0100007F", "0000000000000000FFFF00000100007F"}


def test_entity_rpcs_are_unimplemented(sidecar: SidecarThread) -> None:
    with grpc.insecure_channel(sidecar.address) as channel:
        with pytest.raises(grpc.RpcError) as err:
            SidecarStub(channel).GetEntity(pb.GetEntityRequest(instanceId="@counter@k1"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


class _WorkerRpcs:
    """Stands in for the worker servicer another module adds through extra_servicers."""

    async def AbandonTaskActivityWorkItem(self, request, context):  # type: ignore[no-untyped-def]
        return pb.AbandonActivityTaskResponse()


async def _two_hub_listener(extra: list[object]) -> tuple[LocalGrpcListener, TaskHub, TaskHub]:
    alpha = TaskHub.create(DurableTaskOptions(hub_name="AlphaHub"), InMemoryOrchestrationService())
    beta = TaskHub.create(DurableTaskOptions(hub_name="BetaHub", default_version="9.0"), InMemoryOrchestrationService())
    listener = LocalGrpcListener(TaskHubRegistry([alpha, beta]), extra_servicers=extra)
    await listener.start()
    return listener, alpha, beta


async def test_task_hub_header_picks_the_hub_and_unknown_hub_is_not_found() -> None:
    listener, alpha, beta = await _two_hub_listener([_WorkerRpcs()])
    try:
        async with grpc.aio.insecure_channel(listener.address) as channel:
            stub = SidecarStub(channel)
            request = pb.CreateInstanceRequest(name="Hello", instanceId="where")
            await stub.StartInstance(request)
            await stub.StartInstance(request, metadata=[("durable-taskhub", "betahub")])
            assert (await alpha.service.get_instance("where")).version is None  # type: ignore[union-attr]
            assert (await beta.service.get_instance("where")).version == "9.0"  # type: ignore[union-attr]

            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.StartInstance(request, metadata=[("durable-taskhub", "GammaHub")])
            assert err.value.code() == grpc.StatusCode.NOT_FOUND and "GammaHub" in (err.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetInstance(
                    pb.GetInstanceRequest(instanceId="where"),
                    metadata=[("durable-taskhub", "AlphaHub"), ("durable-connectionname", "OtherStorage")],
                )
            assert err.value.code() == grpc.StatusCode.NOT_FOUND and "OtherStorage" in (err.value.details() or "")
            same = await stub.GetInstance(
                pb.GetInstanceRequest(instanceId="where"),
                metadata=[("durable-taskhub", "AlphaHub"), ("durable-connectionname", "AzureWebJobsStorage")],
            )
            assert same.exists

            # The extra servicer's RPC is served on the same service, next to Hello.
            await stub.AbandonTaskActivityWorkItem(pb.AbandonActivityTaskRequest(completionToken="t"))
            await stub.Hello(empty_pb2.Empty())
    finally:
        await listener.stop(grace=0)


async def test_unexpected_failure_is_internal() -> None:
    class Broken(InMemoryOrchestrationService):
        async def get_instance(self, instance_id, *, include_payloads=True):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk on fire")

    hub = TaskHub.create(DurableTaskOptions(), Broken())
    listener = LocalGrpcListener(TaskHubRegistry([hub]))
    await listener.start()
    try:
        async with grpc.aio.insecure_channel(listener.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await SidecarStub(channel).GetInstance(pb.GetInstanceRequest(instanceId="x"))
        assert err.value.code() == grpc.StatusCode.INTERNAL and "disk on fire" in (err.value.details() or "")
    finally:
        await listener.stop(grace=0)


async def test_stop_is_idempotent_and_port_is_reported() -> None:
    hub = TaskHub.create(DurableTaskOptions(), InMemoryOrchestrationService())
    listener = LocalGrpcListener(TaskHubRegistry([hub]))
    with pytest.raises(RuntimeError):
        listener.address
    port = await listener.start()
    assert port > 0 and listener.address == f"127.0.0.1:{port}"
    await listener.stop()
    await listener.stop()
