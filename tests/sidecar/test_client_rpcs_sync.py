"""Every client RPC through the official sync durabletask client against our listener."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf import empty_pb2
from durabletask.client import OrchestrationQuery, OrchestrationStatus, TaskHubGrpcClient

from azure_durable_ext._proto import pb
from azure_durable_ext.core.model import FailureDetails, OrchestrationCheckpoint
from azure_durable_ext.core.status import OrchestrationStatus as Status
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub

from sidecar_harness import SidecarThread


def _wire_state(sidecar: SidecarThread, instance_id: str) -> pb.OrchestrationState:
    with grpc.insecure_channel(sidecar.address) as channel:
        response = SidecarStub(channel).GetInstance(pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=True))
    assert response.exists
    return response.orchestrationState


def _event_kinds(sidecar: SidecarThread, instance_id: str) -> list[str]:
    return [m.event.WhichOneof("eventType") for m in sidecar.run(_pending(sidecar, instance_id))]


async def _pending(sidecar: SidecarThread, instance_id: str):  # type: ignore[no-untyped-def]
    """The messages queued for the instance (locks it, reads, and puts them back)."""
    item = await sidecar.service.lock_next_orchestration(1)
    assert item is not None and item.instance_id == instance_id
    await sidecar.service.abandon_orchestration(item)
    return item.new_messages


def test_hello(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    with grpc.insecure_channel(sidecar.address) as channel:
        assert SidecarStub(channel).Hello(empty_pb2.Empty()) == empty_pb2.Empty()


def test_start_versioned_instance_and_read_it_back(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration", input={"city": "Tokyo"}, version="1.2.0")
    assert len(instance_id) == 32 and int(instance_id, 16) >= 0

    state = sync_client.get_orchestration_state(instance_id)
    assert state is not None
    assert state.name == "HelloOrchestration"
    assert state.runtime_status == OrchestrationStatus.PENDING
    assert json.loads(state.serialized_input) == {"city": "Tokyo"}
    wire = _wire_state(sidecar, instance_id)
    assert wire.version.value == "1.2.0"
    assert wire.executionId.value and len(wire.executionId.value) == 32

    stored = sidecar.state(instance_id)
    assert stored is not None and stored.version == "1.2.0" and stored.generation == 0
    (message,) = sidecar.run(_pending(sidecar, instance_id))
    started = message.event.executionStarted
    assert message.event.eventId == -1
    assert started.name == "HelloOrchestration" and started.version.value == "1.2.0"
    assert started.orchestrationInstance.instanceId == instance_id
    assert started.orchestrationInstance.executionId.value == stored.execution_id


def test_get_unknown_instance_is_none(sync_client: TaskHubGrpcClient) -> None:
    assert sync_client.get_orchestration_state("nobody-here") is None


def test_get_without_payloads(sync_client: TaskHubGrpcClient) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration", input="secret")
    state = sync_client.get_orchestration_state(instance_id, fetch_payloads=False)
    assert state is not None and state.serialized_input is None


def test_raise_terminate_suspend_resume_send_events(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    sidecar.mark_running(instance_id)
    sync_client.raise_orchestration_event(instance_id, "Approval", data={"ok": True})
    sync_client.suspend_orchestration(instance_id, reason="maintenance")
    (raised, suspended) = sidecar.run(_pending(sidecar, instance_id))
    assert raised.execution_id is None and raised.event.eventRaised.name == "Approval"
    assert json.loads(raised.event.eventRaised.input.value) == {"ok": True}
    assert suspended.event.executionSuspended.input.value == "maintenance"

    sidecar.finish(instance_id, Status.SUSPENDED)
    sync_client.resume_orchestration(instance_id, reason="done")
    sync_client.terminate_orchestration(instance_id, output="stopped", recursive=False)
    assert _event_kinds(sidecar, instance_id) == ["executionResumed", "executionTerminated"]


def test_suspend_twice_and_resume_running_are_no_ops(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    sidecar.mark_running(instance_id)
    sync_client.resume_orchestration(instance_id)  # running: nothing to resume
    sync_client.suspend_orchestration(instance_id)
    sidecar.finish(instance_id, Status.SUSPENDED)
    sync_client.suspend_orchestration(instance_id)  # already suspended
    assert sidecar.run(sidecar.service.lock_next_orchestration(0)) is None


def test_terminate_finished_instance_is_a_no_op(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    sidecar.finish(instance_id, Status.COMPLETED, output='"done"')
    sync_client.terminate_orchestration(instance_id)
    state = sync_client.get_orchestration_state(instance_id)
    assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
    assert sidecar.run(sidecar.service.lock_next_orchestration(0)) is None


def test_suspend_or_raise_on_finished_instance_is_failed_precondition(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    sidecar.finish(instance_id, Status.COMPLETED)
    for call in (
        lambda: sync_client.suspend_orchestration(instance_id),
        lambda: sync_client.raise_orchestration_event(instance_id, "Late"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "Completed" in err.value.details()


def test_wait_for_start_and_completion(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration", input=1)
    with pytest.raises(TimeoutError):
        sync_client.wait_for_orchestration_start(instance_id, timeout=0.3)
    sidecar.mark_running(instance_id)
    started = sync_client.wait_for_orchestration_start(instance_id, timeout=10)
    assert started is not None and started.runtime_status == OrchestrationStatus.RUNNING
    with pytest.raises(TimeoutError):
        sync_client.wait_for_orchestration_completion(instance_id, timeout=0.3)

    sync_client.raise_orchestration_event(instance_id, "go")
    # The episode completes on the sidecar's loop while the client is already waiting.
    sidecar.loop.call_soon_threadsafe(
        lambda: sidecar.loop.call_later(
            0.2, lambda: sidecar.loop.create_task(sidecar._finish(instance_id, Status.COMPLETED, '"hi"', None))
        )
    )
    done = sync_client.wait_for_orchestration_completion(instance_id, timeout=10)
    assert done is not None and done.runtime_status == OrchestrationStatus.COMPLETED
    assert done.serialized_output == '"hi"'


def test_restart_same_and_new_id(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration", input={"n": 1}, version="1.2.0")
    with pytest.raises(grpc.RpcError) as err:
        sync_client.restart_orchestration(instance_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    first = sidecar.state(instance_id)
    sidecar.finish(instance_id, Status.COMPLETED)

    assert sync_client.restart_orchestration(instance_id) == instance_id
    again = sidecar.state(instance_id)
    assert again is not None and again.status is Status.PENDING
    assert again.execution_id != first.execution_id and again.generation == 1
    assert (again.version, again.input) == ("1.2.0", '{"n": 1}')

    new_id = sync_client.restart_orchestration(instance_id, restart_with_new_instance_id=True)
    assert new_id != instance_id
    copy = sidecar.state(new_id)
    assert copy is not None and (copy.name, copy.version, copy.input) == ("HelloOrchestration", "1.2.0", '{"n": 1}')


def test_rewind_only_failed(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    with pytest.raises(grpc.RpcError) as err:
        sync_client.rewind_orchestration(instance_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "Pending" in err.value.details()

    sidecar.finish(instance_id, Status.FAILED, failure=FailureDetails(error_type="ValueError", message="boom"))
    failed = sync_client.get_orchestration_state(instance_id)
    assert failed is not None and failed.failure_details is not None
    assert failed.failure_details.message == "boom"
    sync_client.rewind_orchestration(instance_id, reason="fixed the bug")
    (message,) = sidecar.run(_pending(sidecar, instance_id))
    assert message.event.executionRewound.reason.value == "fixed the bug"


def test_purge_one_and_by_filter(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    done = [sync_client.schedule_new_orchestration("HelloOrchestration") for _ in range(3)]
    running = sync_client.schedule_new_orchestration("HelloOrchestration")
    for instance_id in done:
        sidecar.finish(instance_id, Status.COMPLETED)

    with pytest.raises(grpc.RpcError) as err:
        sync_client.purge_orchestration(running)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert sync_client.purge_orchestration(done[0]).deleted_instance_count == 1
    assert sync_client.get_orchestration_state(done[0]) is None
    assert sync_client.purge_orchestration(done[0]).deleted_instance_count == 0

    result = sync_client.purge_orchestrations_by(
        created_time_from=datetime.now(timezone.utc) - timedelta(minutes=5),
        runtime_status=[OrchestrationStatus.COMPLETED],
    )
    assert result.deleted_instance_count == 2 and result.is_complete is True
    assert sync_client.get_orchestration_state(running) is not None


def test_purge_by_instance_batch(sidecar: SidecarThread, sync_client: TaskHubGrpcClient) -> None:
    ids = [sync_client.schedule_new_orchestration("HelloOrchestration") for _ in range(2)]
    for instance_id in ids:
        sidecar.finish(instance_id, Status.TERMINATED)
    with grpc.insecure_channel(sidecar.address) as channel:
        response = SidecarStub(channel).PurgeInstances(
            pb.PurgeInstancesRequest(instanceBatch=pb.InstanceBatch(instanceIds=[*ids, "unknown"]))
        )
    assert response.deletedInstanceCount == 2


def test_query_with_paging_and_filters(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    ids = [sync_client.schedule_new_orchestration("HelloOrchestration", instance_id=f"q-{i:02d}", input=i) for i in range(7)]
    sync_client.schedule_new_orchestration("Other", instance_id="other-1")
    sidecar.finish(ids[0], Status.COMPLETED)

    everything = sync_client.get_all_orchestration_states(OrchestrationQuery(instance_id_prefix="q-", max_instance_count=3))
    assert [s.instance_id for s in everything] == ids
    assert all(s.serialized_input is None for s in everything)

    pending = sync_client.get_all_orchestration_states(
        OrchestrationQuery(runtime_status=[OrchestrationStatus.PENDING], fetch_inputs_and_outputs=True)
    )
    assert sorted(s.instance_id for s in pending) == sorted([*ids[1:], "other-1"])
    assert {s.serialized_input for s in pending if s.instance_id == "q-03"} == {"3"}

    future = sync_client.get_all_orchestration_states(
        OrchestrationQuery(created_time_from=datetime.now(timezone.utc) + timedelta(hours=1))
    )
    assert future == []

    with grpc.insecure_channel(sidecar.address) as channel:
        page = SidecarStub(channel).QueryInstances(
            pb.QueryInstancesRequest(query=pb.InstanceQuery(maxInstanceCount=4, instanceIdPrefix={"value": "q-"}))
        )
    assert [s.instanceId for s in page.orchestrationState] == ids[:4]
    assert page.continuationToken.value == "q-03"


def test_list_instance_ids_pages_terminal_instances(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    ids = [sync_client.schedule_new_orchestration("HelloOrchestration", instance_id=f"l-{i}") for i in range(5)]
    for instance_id in ids[:4]:
        sidecar.finish(instance_id, Status.COMPLETED)
    first = sync_client.list_instance_ids(page_size=3)
    assert first.items == ids[:3] and first.continuation_token == ids[2]
    second = sync_client.list_instance_ids(page_size=3, continuation_token=first.continuation_token)
    assert second.items == [ids[3]] and second.continuation_token is None
    assert sync_client.list_instance_ids(runtime_status=[OrchestrationStatus.FAILED]).items == []


def test_history_stream(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration", version="1.2.0")
    sidecar.finish(instance_id, Status.COMPLETED, output='"ok"')
    events = sync_client.get_orchestration_history(instance_id)
    assert [type(e).__name__ for e in events] == ["ExecutionStartedEvent", "ExecutionCompletedEvent"]
    assert events[0].version == "1.2.0"

    with pytest.raises(grpc.RpcError) as err:
        sync_client.get_orchestration_history("no-such-instance")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        sync_client.get_orchestration_history(instance_id, execution_id="0" * 32)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_create_and_delete_task_hub(sidecar: SidecarThread, sync_client: TaskHubGrpcClient) -> None:
    instance_id = sync_client.schedule_new_orchestration("HelloOrchestration")
    with grpc.insecure_channel(sidecar.address) as channel:
        stub = SidecarStub(channel)
        stub.CreateTaskHub(pb.CreateTaskHubRequest(recreateIfExists=False))
        assert sync_client.get_orchestration_state(instance_id) is not None
        stub.DeleteTaskHub(pb.DeleteTaskHubRequest())
    assert sync_client.get_orchestration_state(instance_id) is None


def test_scheduled_start_and_tags(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    instance_id = sync_client.schedule_new_orchestration(
        "HelloOrchestration", start_at=later, tags={"team": "payments"}
    )
    stored = sidecar.state(instance_id)
    assert stored is not None and stored.status is Status.PENDING and stored.tags == {"team": "payments"}
    assert stored.scheduled_start_at is not None and abs((stored.scheduled_start_at - later).total_seconds()) < 0.001
    wire = _wire_state(sidecar, instance_id)
    assert dict(wire.tags) == {"team": "payments"} and wire.HasField("scheduledStartTimestamp")
    # The start message waits for its time: no work is offered now.
    assert sidecar.run(sidecar.service.lock_next_orchestration(0)) is None


def test_reuse_policy_replaces_listed_statuses(sidecar: SidecarThread) -> None:
    request = pb.CreateInstanceRequest(name="HelloOrchestration", instanceId="reuse")
    with grpc.insecure_channel(sidecar.address) as channel:
        stub = SidecarStub(channel)
        stub.StartInstance(request)
        replace_pending = pb.CreateInstanceRequest(name="HelloOrchestration", instanceId="reuse")
        replace_pending.orchestrationIdReusePolicy.replaceableStatus.append(Status.PENDING.value)
        stub.StartInstance(replace_pending)
        assert sidecar.state("reuse").generation == 1  # type: ignore[union-attr]
        nothing_replaceable = pb.CreateInstanceRequest(name="HelloOrchestration", instanceId="reuse")
        nothing_replaceable.orchestrationIdReusePolicy.SetInParent()
        with pytest.raises(grpc.RpcError) as err:
            stub.StartInstance(nothing_replaceable)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_recursive_purge_follows_sub_orchestrations(sync_client: TaskHubGrpcClient, sidecar: SidecarThread) -> None:
    parent = sync_client.schedule_new_orchestration("Parent", instance_id="parent")
    child = sync_client.schedule_new_orchestration("Child", instance_id="parent:0000")

    async def record_child_then_complete() -> None:
        item = await sidecar.service.lock_next_orchestration(5)
        assert item is not None and item.instance_id == parent and item.state is not None
        created = pb.HistoryEvent(eventId=0)
        created.subOrchestrationInstanceCreated.instanceId = child
        created.subOrchestrationInstanceCreated.name = "Child"
        state = item.state.evolve(status=Status.COMPLETED)
        await sidecar.service.complete_orchestration(
            item, OrchestrationCheckpoint(state=state, new_events=[m.event for m in item.new_messages] + [created])
        )

    sidecar.run(record_child_then_complete())
    sidecar.finish(child, Status.COMPLETED)
    assert sync_client.purge_orchestration(parent, recursive=True).deleted_instance_count == 2
    assert sync_client.get_orchestration_state(child) is None
