"""Our client against our own sidecar: GrpcDurableTaskClient -> LocalGrpcListener ->
DurableClient -> in-memory provider, all in the test's event loop. No orchestration
dispatcher runs here; where a test needs an instance to finish, it records the episode
through the provider the way a dispatcher would (``settle``)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import pytest

from azure_durable_ext import GrpcDurableTaskClient, OrchestrationStatus, TaskName
from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidStateError,
    OperationTimeoutError,
    TaskHubNotFoundError,
)
from azure_durable_ext.core.model import OrchestrationCheckpoint
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


@dataclass
class OurSidecar:
    host: SidecarHost
    hubs: dict[str, TaskHub]

    @property
    def address(self) -> str:
        return self.host.address

    async def settle(self, hub: str, status: OrchestrationStatus, output: str | None = None) -> None:
        """Take the hub's next pending episode and record it as ending in ``status``."""
        service = self.hubs[hub].service
        item = await service.lock_next_orchestration(5)
        assert item is not None and item.state is not None
        now = datetime.now(timezone.utc)
        events = [message.event for message in item.new_messages]
        if status.is_terminal:
            completed = pb.HistoryEvent(eventId=-1)
            completed.executionCompleted.orchestrationStatus = status.value
            events.append(completed)
        state = replace(
            item.state, status=status, output=output, last_updated_at=now, completed_at=now if status.is_terminal else None
        )
        await service.complete_orchestration(item, OrchestrationCheckpoint(state=state, new_events=events))


@pytest.fixture
async def ours() -> AsyncIterator[OurSidecar]:
    hubs = {
        name: TaskHub.create(DurableTaskOptions(hub_name=name, default_version=default), InMemoryOrchestrationService(task_hub=name))
        for name, default in (("HubA", None), ("HubB", "2.0"))
    }
    host = SidecarHost(TaskHubRegistry(hubs.values()))
    await host.start()
    try:
        yield OurSidecar(host, hubs)
    finally:
        await host.stop(grace=0.5)


@pytest.mark.parametrize("scheme", ["", "http://"])
async def test_start_versioned_and_read_the_version_back(ours, scheme):
    async with GrpcDurableTaskClient(f"{scheme}{ours.address}", task_hub="HubA") as client:
        instance_id = await client.schedule_new_orchestration_instance(TaskName("HelloOrchestration", "1.2.0"), {"n": 1})
        metadata = await client.get_instance(instance_id)
    assert (metadata.name, metadata.version, metadata.runtime_status) == (
        "HelloOrchestration",
        "1.2.0",
        OrchestrationStatus.PENDING,
    )
    assert metadata.read_input_as() == {"n": 1}
    assert metadata.execution_id


async def test_task_hub_header_picks_the_hub_and_its_default_version(ours):
    async with GrpcDurableTaskClient(ours.address, task_hub="HubB") as client:
        instance_id = await client.schedule_new_orchestration_instance("hello")
        assert (await client.get_instance(instance_id)).version == "2.0"
    assert await ours.hubs["HubB"].service.get_instance(instance_id) is not None
    assert await ours.hubs["HubA"].service.get_instance(instance_id) is None
    async with GrpcDurableTaskClient(ours.address, task_hub="NoSuchHub") as client:
        with pytest.raises(TaskHubNotFoundError, match="task hub 'NoSuchHub' is not served by this host"):
            await client.get_instance(instance_id)
        with pytest.raises(TaskHubNotFoundError) as unknown_hub:
            await client.raise_event(instance_id, "go")
        assert not isinstance(unknown_hub.value, InstanceNotFoundError)


async def test_server_errors_map_to_our_exceptions(ours):
    async with GrpcDurableTaskClient(ours.address, task_hub="HubA") as client:
        instance_id = await client.schedule_new_orchestration_instance("hello", instance_id="dup")
        with pytest.raises(InstanceAlreadyExistsError, match=r"^An Orchestration instance with the ID dup already exists\.$"):
            await client.schedule_new_orchestration_instance("hello", instance_id=instance_id)
        with pytest.raises(InvalidArgumentError, match="must not contain '/'"):
            await client.schedule_new_orchestration_instance("hello", instance_id="bad/id")
        with pytest.raises(InstanceNotFoundError, match="ghost"):
            await client.raise_event("ghost", "evt")
        with pytest.raises(InvalidStateError, match="only Failed instances can be rewound"):
            await client.rewind_instance(instance_id)
        with pytest.raises(InvalidStateError, match="it is Pending"):
            await client.purge_instance(instance_id)
        with pytest.raises(OperationTimeoutError, match="to start"):
            await client.wait_for_instance_start(instance_id, timeout=0.2)


async def test_lifecycle_wait_history_restart_purge(ours):
    async with GrpcDurableTaskClient(ours.address, task_hub="HubA") as client:
        instance_id = await client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "in")
        await client.raise_event(instance_id, "go", 1)
        await ours.settle("HubA", OrchestrationStatus.RUNNING)
        assert (await client.wait_for_instance_start(instance_id, timeout=10)).is_running
        await client.suspend_instance(instance_id, "pause")
        await ours.settle("HubA", OrchestrationStatus.SUSPENDED)
        assert (await client.get_instance(instance_id)).runtime_status is OrchestrationStatus.SUSPENDED
        await client.resume_instance(instance_id, "go on")
        await ours.settle("HubA", OrchestrationStatus.COMPLETED, output='"out"')
        done = await client.wait_for_instance_completion(instance_id, timeout=10)
        assert (done.runtime_status, done.read_output_as()) == (OrchestrationStatus.COMPLETED, "out")

        kinds = [event.WhichOneof("eventType") for event in await client.get_instance_history(instance_id)]
        assert kinds[0] == "executionStarted" and kinds[-1] == "executionCompleted"
        assert {"eventRaised", "executionSuspended", "executionResumed"} <= set(kinds)

        restarted = await client.restart_instance(instance_id, restart_with_new_instance_id=True)
        assert restarted != instance_id
        again = await client.get_instance(restarted)
        assert (again.name, again.version, again.read_input_as()) == ("hello", "1.2.0", "in")

        assert (await client.purge_instance(instance_id)).deleted_instance_count == 1
        assert await client.get_instance(instance_id) is None


async def test_terminate_sends_output_and_purge_by_filter(ours):
    async with GrpcDurableTaskClient(ours.address, task_hub="HubA") as client:
        instance_id = await client.schedule_new_orchestration_instance("hello")
        await client.terminate_instance(instance_id, {"reason": "stop"}, recursive=True)
        item = await ours.hubs["HubA"].service.lock_next_orchestration(5)
        terminated = [m.event.executionTerminated for m in item.new_messages if m.event.HasField("executionTerminated")]
        assert [(t.input.value, t.recurse) for t in terminated] == [('{"reason": "stop"}', True)]
        await ours.hubs["HubA"].service.abandon_orchestration(item)
        await ours.settle("HubA", OrchestrationStatus.TERMINATED, output='{"reason": "stop"}')
        result = await client.purge_instances(statuses=[OrchestrationStatus.TERMINATED])
        assert result.deleted_instance_count == 1


async def test_query_pages_through_our_listener(ours):
    async with GrpcDurableTaskClient(ours.address, task_hub="HubA") as client:
        for i in range(5):
            await client.schedule_new_orchestration_instance("hello", i, instance_id=f"page-{i}")
        first = await client.query_instances(instance_id_prefix="page-", page_size=2, fetch_inputs_and_outputs=True)
        assert len(first.instances) == 2 and first.continuation_token
        assert first.instances[0].read_input_as(int) in range(5)
        found = [m.instance_id async for m in client.iter_instances(instance_id_prefix="page-", page_size=2)]
        assert sorted(found) == [f"page-{i}" for i in range(5)]
        pending = await client.query_instances(statuses=[OrchestrationStatus.PENDING])
        assert len(pending.instances) == 5


def test_sync_facade_against_our_listener_from_a_plain_thread(ours_in_thread):
    with GrpcDurableTaskClient(ours_in_thread, task_hub="HubA").sync() as client:
        instance_id = client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"))
        assert client.get_instance(instance_id).version == "1.2.0"
        assert [m.instance_id for m in client.iter_instances()] == [instance_id]


@pytest.fixture
def ours_in_thread():
    """Our sidecar on its own portal thread, for a test that blocks its own thread."""
    from azure_durable_ext.client import LoopPortal

    hub = TaskHub.create(DurableTaskOptions(hub_name="HubA"), InMemoryOrchestrationService(task_hub="HubA"))
    host = SidecarHost(TaskHubRegistry([hub]))
    with LoopPortal(name="our-sidecar") as portal:
        portal.call(host.start)
        try:
            yield host.address
        finally:
            portal.call(host.stop, 0.5)
