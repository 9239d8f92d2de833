"""End to end on our side of the wire: our GrpcDurableTaskClient -> our sidecar (listener,
dispatchers, worker RPCs, in-memory provider) <- the official durabletask worker running the
orchestrations over GetWorkItems."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from durabletask.worker import TaskHubGrpcWorker

from azure_durable_ext import GrpcDurableTaskClient, OrchestrationStatus, TaskName
from azure_durable_ext.client import LoopPortal
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

from client_test_app import register_app


@pytest.fixture
def our_sidecar() -> Iterator[str]:
    """Our sidecar on its own loop thread (the official worker blocks its threads on it)."""
    hub = TaskHub.create(DurableTaskOptions(hub_name="E2EHub"), InMemoryOrchestrationService(task_hub="E2EHub"))
    host = build_sidecar_host(TaskHubRegistry([hub]), poll_timeout=0.2)
    with LoopPortal(name="our-sidecar") as portal:
        portal.call(host.start)
        try:
            yield host.address
        finally:
            portal.call(host.stop, 0.5)


@pytest.fixture
def official_worker(our_sidecar: str) -> Iterator[TaskHubGrpcWorker]:
    worker = register_app(TaskHubGrpcWorker(host_address=our_sidecar))
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.mark.usefixtures("official_worker")
async def test_versioned_start_runs_to_completion_and_reads_back(our_sidecar):
    async with GrpcDurableTaskClient(f"http://{our_sidecar}", task_hub="E2EHub") as client:
        instance_id = await client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), {"city": "Oslo"})
        done = await client.wait_for_instance_completion(instance_id, timeout=30)
        assert (done.runtime_status, done.name, done.version) == (OrchestrationStatus.COMPLETED, "hello", "1.2.0")
        assert done.read_output_as() == {"version": "1.2.0", "input": {"city": "Oslo"}}

        waiting = await client.schedule_new_orchestration_instance("wait_for_go")
        await client.wait_for_instance_start(waiting, timeout=30)
        await client.raise_event(waiting, "go", [1, 2])
        assert (await client.wait_for_instance_completion(waiting, timeout=30)).read_output_as() == {"got": [1, 2]}

        doomed = await client.schedule_new_orchestration_instance("wait_for_go")
        await client.wait_for_instance_start(doomed, timeout=30)
        await client.terminate_instance(doomed, "stopped")
        terminated = await client.wait_for_instance_completion(doomed, timeout=30)
        assert (terminated.runtime_status, terminated.read_output_as()) == (OrchestrationStatus.TERMINATED, "stopped")


@pytest.mark.usefixtures("official_worker")
def test_sync_facade_end_to_end(our_sidecar):
    with GrpcDurableTaskClient(our_sidecar, task_hub="E2EHub").sync() as client:
        instance_id = client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "sync")
        done = client.wait_for_instance_completion(instance_id, timeout=30)
        assert done.read_output_as() == {"version": "1.2.0", "input": "sync"}
        started = [e.executionStarted for e in client.get_instance_history(instance_id) if e.HasField("executionStarted")]
        assert [(s.name, s.version.value) for s in started] == [("hello", "1.2.0")]


@pytest.mark.usefixtures("official_worker")
async def test_management_operations_end_to_end(our_sidecar, eventually):
    async with GrpcDurableTaskClient(our_sidecar, task_hub="E2EHub") as client:
        waiting = await client.schedule_new_orchestration_instance("wait_for_go", instance_id="e2e-suspend")
        await client.wait_for_instance_start(waiting, timeout=30)
        await client.suspend_instance(waiting, "pause")
        await eventually(lambda: client.get_instance(waiting), until=lambda m: m.runtime_status is OrchestrationStatus.SUSPENDED)
        await client.resume_instance(waiting, "go on")
        await eventually(lambda: client.get_instance(waiting), until=lambda m: m.runtime_status is OrchestrationStatus.RUNNING)
        await client.raise_event(waiting, "go", "resumed")
        assert (await client.wait_for_instance_completion(waiting, timeout=30)).read_output_as() == {"got": "resumed"}

        done = await client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "again")
        await client.wait_for_instance_completion(done, timeout=30)
        restarted = await client.restart_instance(done, restart_with_new_instance_id=True)
        rerun = await client.wait_for_instance_completion(restarted, timeout=30)
        assert (rerun.version, rerun.read_output_as()) == ("1.2.0", {"version": "1.2.0", "input": "again"})

        completed = [m.instance_id async for m in client.iter_instances(statuses=[OrchestrationStatus.COMPLETED], page_size=1)]
        assert sorted(completed) == sorted([waiting, done, restarted])
        assert (await client.purge_instances(statuses=[OrchestrationStatus.COMPLETED])).deleted_instance_count == 3
        assert await client.get_instance(waiting) is None


@pytest.mark.usefixtures("official_worker")
async def test_rewind_end_to_end(our_sidecar, eventually):
    async with GrpcDurableTaskClient(our_sidecar, task_hub="E2EHub") as client:
        failing = await client.schedule_new_orchestration_instance("flaky", "e2e-rewind")
        failed = await client.wait_for_instance_completion(failing, timeout=30)
        assert failed.runtime_status is OrchestrationStatus.FAILED
        await client.rewind_instance(failing, "retry")
        # The rewind is a message: the instance reads Failed until the dispatcher takes it.
        await eventually(lambda: client.get_instance(failing), until=lambda m: m.runtime_status is not OrchestrationStatus.FAILED)
        rewound = await client.wait_for_instance_completion(failing, timeout=5)
        assert (rewound.runtime_status, rewound.read_output_as()) == (OrchestrationStatus.COMPLETED, "e2e-rewind ok")
