"""Bad requests get a clear status naming the problem, and nothing stored changes."""
from __future__ import annotations

import grpc
import pytest
from durabletask.client import TaskHubGrpcClient
from sidecar_harness import SidecarThread, start_sidecar

from azure_durable_ext._proto import pb
from azure_durable_ext.core.options import DurableTaskOptions, OverridableStates
from azure_durable_ext.core.status import OrchestrationStatus as Status
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub


def _snapshot(sidecar: SidecarThread) -> list[object]:
    async def everything() -> list[object]:
        from azure_durable_ext.core.model import InstanceQuery

        page = await sidecar.service.query_instances(InstanceQuery(page_size=1000))
        return [(s, await sidecar.service.get_history(s.instance_id)) for s in page.instances]

    return sidecar.run(everything())


def _code(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


@pytest.mark.parametrize(
    ("instance_id", "rule"),
    [
        ("@entity", "'@'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a#b", "'#'"),
        ("a?b", "'?'"),
        ("a\x07b", "control characters"),
        ("x" * 257, "the limit is 256"),
    ],
)
def test_invalid_instance_ids(sync_client: TaskHubGrpcClient, sidecar: SidecarThread, instance_id: str, rule: str) -> None:
    existing = sync_client.schedule_new_orchestration("HelloOrchestration", instance_id="keep-me")
    before = _snapshot(sidecar)
    code, details = _code(lambda: sync_client.schedule_new_orchestration("HelloOrchestration", instance_id=instance_id))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert rule in details
    assert _snapshot(sidecar) == before
    assert sync_client.get_orchestration_state(existing) is not None


def test_empty_orchestrator_name(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    code, details = _code(lambda: sync_client.schedule_new_orchestration("", instance_id="nameless"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "name must not be empty" in details
    assert sidecar.state("nameless") is None


@pytest.mark.parametrize("version", ["1.2.0 ", "../1", "v\n1", "x" * 101])
def test_invalid_version(sync_client: TaskHubGrpcClient, sidecar: SidecarThread, version: str) -> None:
    code, details = _code(lambda: sync_client.schedule_new_orchestration("Hello", instance_id="v", version=version))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "invalid version" in details
    assert sidecar.state("v") is None


@pytest.mark.parametrize("status", [Status.PENDING, Status.RUNNING, Status.SUSPENDED])
def test_start_over_running_instance_is_already_exists(
    sync_client: TaskHubGrpcClient, sidecar: SidecarThread, status: Status
) -> None:
    sync_client.schedule_new_orchestration("HelloOrchestration", instance_id="dup", input="first")
    if status is not Status.PENDING:
        sidecar.finish("dup", status)
    before = _snapshot(sidecar)
    code, details = _code(lambda: sync_client.schedule_new_orchestration("HelloOrchestration", instance_id="dup", input="second"))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details == "An Orchestration instance with the ID dup already exists."
    assert _snapshot(sidecar) == before


def test_start_over_finished_instance_replaces_it(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    sync_client.schedule_new_orchestration("HelloOrchestration", instance_id="again", input="1")
    sidecar.finish("again", Status.FAILED)
    sync_client.schedule_new_orchestration("HelloOrchestration", instance_id="again", input="2")
    state = sidecar.state("again")
    assert state is not None and state.status is Status.PENDING and state.input == "\"2\"" and state.generation == 1


def test_any_state_replaces_a_running_instance() -> None:
    options = DurableTaskOptions(overridable_existing_instance_states=OverridableStates.ANY_STATE)
    for sidecar in start_sidecar(options):
        with TaskHubGrpcClient(host_address=sidecar.address) as client:
            client.schedule_new_orchestration("HelloOrchestration", instance_id="any", input="1")
            sidecar.mark_running("any")
            first = sidecar.state("any")
            client.schedule_new_orchestration("HelloOrchestration", instance_id="any", input="2")
            second = sidecar.state("any")
        assert first is not None and second is not None
        assert second.status is Status.PENDING and second.input == "\"2\""
        assert second.execution_id != first.execution_id and second.generation == 1


@pytest.mark.parametrize("call", ["terminate", "raise", "suspend", "resume", "rewind", "restart"])
def test_operations_on_unknown_instance_are_not_found(sync_client: TaskHubGrpcClient, sidecar: SidecarThread, call: str) -> None:
    before = _snapshot(sidecar)
    calls = {
        "terminate": lambda: sync_client.terminate_orchestration("ghost"),
        "raise": lambda: sync_client.raise_orchestration_event("ghost", "Event", data=1),
        "suspend": lambda: sync_client.suspend_orchestration("ghost"),
        "resume": lambda: sync_client.resume_orchestration("ghost"),
        "rewind": lambda: sync_client.rewind_orchestration("ghost"),
        "restart": lambda: sync_client.restart_orchestration("ghost"),
    }
    code, details = _code(calls[call])
    assert code == grpc.StatusCode.NOT_FOUND and "ghost" in details
    assert _snapshot(sidecar) == before
    assert sidecar.run(sidecar.service.lock_next_orchestration(0)) is None


def test_payload_over_max_message_size_is_resource_exhausted() -> None:
    limit = 64 * 1024
    for sidecar in start_sidecar(DurableTaskOptions(max_grpc_message_size_in_bytes=limit)):
        with TaskHubGrpcClient(host_address=sidecar.address) as client:
            client.schedule_new_orchestration("HelloOrchestration", instance_id="small", input="x")
            before = _snapshot(sidecar)
            code, details = _code(
                lambda: client.schedule_new_orchestration("HelloOrchestration", instance_id="big", input="x" * (limit + 10))
            )
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert str(limit) in details
            assert _snapshot(sidecar) == before


def test_input_over_limit_is_refused_by_the_size_check(sidecar: SidecarThread) -> None:
    """The request fits gRPC's limit here (multi-byte characters), the input check refuses it."""
    limit = sidecar.options.max_grpc_message_size_in_bytes
    big = "é" * (limit // 2 + 1)  # 2 UTF-8 bytes each: just over the limit as UTF-8
    request = pb.CreateInstanceRequest(name="Hello", instanceId="wide")
    request.input.value = big
    durable = sidecar.hub.durable
    with pytest.raises(Exception) as err:
        sidecar.run(durable.start_new("Hello", "wide", None, big))
    assert "exceeds maxGrpcMessageSizeInBytes (4194304)" in str(err.value)
    assert type(err.value).grpc_status == "RESOURCE_EXHAUSTED"
    assert sidecar.state("wide") is None


def test_purge_request_without_target_is_invalid(sidecar: SidecarThread) -> None:
    with grpc.insecure_channel(sidecar.address) as channel:
        code, details = _code(lambda: SidecarStub(channel).PurgeInstances(pb.PurgeInstancesRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "instanceId" in details


def test_unknown_status_number_in_query_is_invalid(sidecar: SidecarThread) -> None:
    with grpc.insecure_channel(sidecar.address) as channel:
        code, details = _code(
            lambda: SidecarStub(channel).QueryInstances(pb.QueryInstancesRequest(query=pb.InstanceQuery(runtimeStatus=[42])))
        )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "42" in details
