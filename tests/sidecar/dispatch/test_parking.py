"""Work no runner can take is parked: no storage churn while no worker can run it, handed
out as soon as a capable worker connects, given back to storage at stop and after the
park limit."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub
from azure_durable_ext.sidecar.dispatch import HubDispatchers
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService
from raw_worker import RawWorker

NEVER = 3600.0


class CountingService(InMemoryOrchestrationService):
    """The in-memory provider, counting locks handed out and abandons."""

    def __init__(self) -> None:
        super().__init__()
        self.locks = 0
        self.abandons = 0
        self.activity_abandons = 0

    async def lock_next_orchestration(self, timeout: float) -> Any:
        item = await super().lock_next_orchestration(timeout)
        self.locks += item is not None
        return item

    async def abandon_orchestration(self, item: Any, *, delay: float = 0.0) -> None:
        self.abandons += 1
        await super().abandon_orchestration(item, delay=delay)

    async def abandon_activity(self, item: Any, *, delay: float = 0.0) -> None:
        self.activity_abandons += 1
        await super().abandon_activity(item, delay=delay)


class Rig:
    def __init__(self, host: Any, service: CountingService, channel: grpc.aio.Channel) -> None:
        self.host = host
        self.service = service
        self.stub = SidecarStub(channel)
        self.workers: list[RawWorker] = []
        self.dispatchers: HubDispatchers = host.components[0]

    def worker(self, **request: Any) -> RawWorker:
        worker = RawWorker(self.stub, pb.GetWorkItemsRequest(**request))
        self.workers.append(worker)
        return worker

    async def start(self, instance_id: str) -> None:
        await self.host.hubs.default.durable.start_new("Hello", instance_id, "1.0")


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    service = CountingService()
    host = build_sidecar_host(TaskHubRegistry([TaskHub.create(DurableTaskOptions(), service)]), poll_timeout=0.2)
    await host.start()
    channel = grpc.aio.insecure_channel(host.address)
    rig = Rig(host, service, channel)
    try:
        yield rig
    finally:
        for worker in rig.workers:
            worker.close()
        await channel.close()
        await host.stop()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_no_worker_means_parked_without_storage_churn(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_recheck = 0.01  # check often: it must still not poll storage
    await rig.start("i1")
    await until(lambda: rig.dispatchers.orchestrations.parked == 1)
    await asyncio.sleep(0.3)
    assert (rig.service.locks, rig.service.abandons) == (1, 0)
    assert rig.dispatchers.orchestrations.parked == 1


async def test_without_any_worker_new_work_waits_in_storage_until_one_connects(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_recheck = NEVER  # no periodic sweep
    await rig.start("i1")
    await asyncio.sleep(0.3)
    assert rig.service.locks == 0  # nothing could run it: not even fetched
    worker = rig.worker()
    assert (await worker.next_item()).orchestratorRequest.instanceId == "i1"


async def test_parked_work_goes_to_a_worker_as_soon_as_it_connects(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_recheck = 0.01
    await rig.start("i1")
    await rig.start("i2")
    await until(lambda: rig.dispatchers.orchestrations.parked == 2)
    # No periodic check any more: only the worker's arrival can wake the parked work.
    rig.dispatchers.orchestrations.park_recheck = NEVER
    worker = rig.worker()
    ids = {(await worker.next_item()).orchestratorRequest.instanceId for _ in range(2)}
    assert ids == {"i1", "i2"}
    assert rig.dispatchers.orchestrations.parked == 0
    assert rig.service.abandons == 0


async def test_worker_whose_filters_do_not_match_leaves_work_parked(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_recheck = 0.01
    await rig.start("i1")
    await until(lambda: rig.dispatchers.orchestrations.parked == 1)
    rig.dispatchers.orchestrations.park_recheck = NEVER
    other = rig.worker(workItemFilters=pb.WorkItemFilters(orchestrations=[pb.OrchestrationFilter(name="Other")]))
    assert await other.nothing_for(0.3)
    assert rig.dispatchers.orchestrations.parked == 1
    matching = rig.worker()
    assert (await matching.next_item()).orchestratorRequest.instanceId == "i1"


async def test_parked_activity_runs_when_a_worker_for_it_connects(rig: Rig) -> None:
    rig.dispatchers.activities.park_recheck = NEVER
    # Takes orchestrations only: an empty activity filter matches no activity.
    orchestrations_only = rig.worker(
        workItemFilters=pb.WorkItemFilters(orchestrations=[pb.OrchestrationFilter(name="Hello")])
    )
    await rig.start("i1")
    item = await orchestrations_only.next_item()
    schedule = pb.OrchestratorAction(id=0, scheduleTask=pb.ScheduleTaskAction(name="SayHello"))
    await rig.stub.CompleteOrchestratorTask(
        pb.OrchestratorResponse(instanceId="i1", actions=[schedule], completionToken=item.completionToken)
    )
    await until(lambda: rig.dispatchers.activities.parked == 1)
    activities = rig.worker(workItemFilters=pb.WorkItemFilters(activities=[pb.ActivityFilter(name="SayHello")]))
    assert (await activities.next_item()).activityRequest.name == "SayHello"
    assert rig.service.activity_abandons == 0


async def test_parked_work_goes_back_to_storage_after_the_park_limit(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_limit = 0.05
    rig.dispatchers.orchestrations.park_recheck = 0.01
    await rig.start("i1")
    # Given back, locked again with whatever arrived meanwhile, parked again.
    await until(lambda: rig.service.abandons >= 1 and rig.service.locks >= 2)


async def test_parked_work_goes_back_to_storage_at_stop(rig: Rig) -> None:
    rig.dispatchers.orchestrations.park_recheck = 0.01
    await rig.start("i1")
    await until(lambda: rig.dispatchers.orchestrations.parked == 1)
    await rig.dispatchers.stop()
    assert rig.dispatchers.orchestrations.parked == 0
    item = await rig.service.lock_next_orchestration(0.0)
    assert item is not None and item.instance_id == "i1"
