"""GrpcDurableTaskClient (async) against the durabletask in-memory sidecar, every operation,
with the official durabletask worker running the orchestrations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext import GrpcDurableTaskClient, OrchestrationStatus, TaskName
from azure_durable_ext.client import OrchestrationMetadata

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def client(sidecar):
    async with GrpcDurableTaskClient(sidecar.address, task_hub="ClientHub", connection_name="Storage") as c:
        yield c


async def test_start_with_version_sends_it_and_the_orchestrator_runs_as_that_version(client, sidecar):
    instance_id = await client.schedule_new_orchestration_instance(
        TaskName("hello", "1.2.0"), {"city": "Tokyo"}, instance_id="versioned-1", tags={"team": "a"}
    )
    assert instance_id == "versioned-1"
    [request] = sidecar.recorder.requests_of("StartInstance")
    assert (request.name, request.version.value, request.input.value) == ("hello", "1.2.0", '{"city": "Tokyo"}')
    assert dict(request.tags) == {"team": "a"}

    done = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.name == "hello"
    assert done.read_input_as() == {"city": "Tokyo"}
    assert done.read_output_as() == {"version": "1.2.0", "input": {"city": "Tokyo"}}

    history = await client.get_instance_history(instance_id)
    started = [e.executionStarted for e in history if e.HasField("executionStarted")]
    assert [(s.name, s.version.value) for s in started] == [("hello", "1.2.0")]
    assert history[-1].HasField("executionCompleted")


async def test_version_keyword_overrides_the_task_names(client, sidecar):
    await client.schedule_new_orchestration_instance(TaskName("hello", "1.0.0"), version="2.0.0")
    await client.schedule_new_orchestration_instance("hello")
    first, second = sidecar.recorder.requests_of("StartInstance")
    assert first.version.value == "2.0.0"
    assert not second.HasField("version")
    # A generated id is a GUID in "N" format.
    assert len(second.instanceId) == 32 and int(second.instanceId, 16) >= 0


async def test_get_instance_reads_status_and_payloads_and_none_when_unknown(client):
    instance_id = await client.schedule_new_orchestration_instance("wait_for_go", [1, 2])
    metadata = await client.get_instance(instance_id)
    assert isinstance(metadata, OrchestrationMetadata)
    assert metadata.instance_id == instance_id and metadata.name == "wait_for_go"
    assert metadata.read_input_as(list) == [1, 2]
    assert metadata.created_at.tzinfo is timezone.utc
    without = await client.get_instance(instance_id, get_inputs_and_outputs=False)
    assert without.serialized_input is None
    assert await client.get_instance("no-such-instance") is None


async def test_wait_for_start_then_raise_event_completes(client):
    instance_id = await client.schedule_new_orchestration_instance("wait_for_go")
    started = await client.wait_for_instance_start(instance_id, timeout=timedelta(seconds=30))
    assert started.runtime_status in (OrchestrationStatus.RUNNING, OrchestrationStatus.COMPLETED)
    await client.raise_event(instance_id, "go", {"n": 7})
    done = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert done.read_output_as() == {"got": {"n": 7}}


async def test_suspend_and_resume(client, eventually):
    instance_id = await client.schedule_new_orchestration_instance("wait_for_go")
    await client.wait_for_instance_start(instance_id, timeout=30)
    await client.suspend_instance(instance_id, reason="maintenance")
    suspended = await eventually(
        lambda: client.get_instance(instance_id), until=lambda m: m.runtime_status is OrchestrationStatus.SUSPENDED
    )
    assert suspended.runtime_status is OrchestrationStatus.SUSPENDED
    await client.resume_instance(instance_id, reason="done")
    running = await eventually(
        lambda: client.get_instance(instance_id), until=lambda m: m.runtime_status is OrchestrationStatus.RUNNING
    )
    assert running.runtime_status is OrchestrationStatus.RUNNING
    await client.raise_event(instance_id, "go", "after resume")
    done = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert done.read_output_as() == {"got": "after resume"}


async def test_terminate_with_output_and_recursive_flag(client, sidecar):
    instance_id = await client.schedule_new_orchestration_instance("wait_for_go")
    await client.wait_for_instance_start(instance_id, timeout=30)
    await client.terminate_instance(instance_id, {"why": "test"}, recursive=True)
    done = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert done.runtime_status is OrchestrationStatus.TERMINATED
    assert done.read_output_as() == {"why": "test"}
    [request] = sidecar.recorder.requests_of("TerminateInstance")
    assert request.recursive is True and request.output.value == '{"why": "test"}'


async def test_restart_same_id_and_new_id(client):
    instance_id = await client.schedule_new_orchestration_instance(TaskName("hello", "3.1"), "again")
    await client.wait_for_instance_completion(instance_id, timeout=30)

    same = await client.restart_instance(instance_id)
    assert same == instance_id
    rerun = await client.wait_for_instance_completion(same, timeout=30)
    assert rerun.read_output_as() == {"version": "3.1", "input": "again"}

    fresh = await client.restart_instance(instance_id, restart_with_new_instance_id=True)
    assert fresh != instance_id
    rerun = await client.wait_for_instance_completion(fresh, timeout=30)
    assert rerun.read_output_as() == {"version": "3.1", "input": "again"}


async def test_rewind_a_failed_instance_runs_the_failed_activity_again(client):
    instance_id = await client.schedule_new_orchestration_instance("flaky", "rewind-key")
    failed = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert failed.runtime_status is OrchestrationStatus.FAILED
    assert "first attempt of rewind-key fails" in failed.failure_details.message

    await client.rewind_instance(instance_id, reason="fixed")
    done = await client.wait_for_instance_completion(instance_id, timeout=30)
    assert done.runtime_status is OrchestrationStatus.COMPLETED
    assert done.read_output_as() == "rewind-key ok"


async def test_purge_one_and_by_filter(client):
    ids = [await client.schedule_new_orchestration_instance("hello", i, instance_id=f"purge-{i}") for i in range(3)]
    for instance_id in ids:
        await client.wait_for_instance_completion(instance_id, timeout=30)

    result = await client.purge_instance(ids[0])
    assert (result.deleted_instance_count, result.is_complete) == (1, True)
    assert await client.get_instance(ids[0]) is None

    running = await client.schedule_new_orchestration_instance("wait_for_go", instance_id="purge-running")
    result = await client.purge_instances(
        created_from=datetime.now(timezone.utc) - timedelta(hours=1), statuses=[OrchestrationStatus.COMPLETED]
    )
    assert result.deleted_instance_count == 2
    assert [await client.get_instance(i) for i in ids[1:]] == [None, None]
    assert await client.get_instance(running) is not None


async def test_query_pages_and_iterates_all(client):
    for i in range(5):
        await client.schedule_new_orchestration_instance("wait_for_go", i, instance_id=f"q-{i}")
    await client.schedule_new_orchestration_instance("wait_for_go", instance_id="other-1")

    first = await client.query_instances(instance_id_prefix="q-", page_size=2)
    assert len(first.instances) == 2 and first.continuation_token is not None
    second = await client.query_instances(
        instance_id_prefix="q-", page_size=2, continuation_token=first.continuation_token
    )
    third = await client.query_instances(
        instance_id_prefix="q-", page_size=2, continuation_token=second.continuation_token, fetch_inputs_and_outputs=True
    )
    assert third.continuation_token is None
    paged = [m.instance_id for page in (first, second, third) for m in page.instances]
    assert sorted(paged) == [f"q-{i}" for i in range(5)]
    assert third.instances[0].read_input_as() is not None

    everything = [m.instance_id async for m in client.iter_instances(instance_id_prefix="q-", page_size=2)]
    assert sorted(everything) == sorted(paged)
    pages = [len(page.instances) async for page in client.iter_instance_pages(instance_id_prefix="q-", page_size=2)]
    assert pages == [2, 2, 1]
    by_status = [m async for m in client.iter_instances(statuses=[OrchestrationStatus.COMPLETED])]
    assert by_status == []


async def test_scheduled_start_time_goes_on_the_wire(client, sidecar):
    start_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    await client.schedule_new_orchestration_instance("hello", start_at=start_at)
    [request] = sidecar.recorder.requests_of("StartInstance")
    assert request.scheduledStartTimestamp.ToDatetime(tzinfo=timezone.utc) == start_at
