"""The worker half of the protocol at the wire: tokens, abandon, filters, capacity, pings,
disconnects, bad completions."""
from __future__ import annotations

import grpc
import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.status import OrchestrationStatus


def completion(item: pb.WorkItem, result: str, token: str | None = None) -> pb.OrchestratorResponse:
    action = pb.OrchestratorAction(id=0)
    action.completeOrchestration.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
    action.completeOrchestration.result.value = result
    return pb.OrchestratorResponse(
        instanceId=item.orchestratorRequest.instanceId,
        actions=[action],
        completionToken=item.completionToken if token is None else token,
    )


async def status_of(sidecar, instance_id: str) -> OrchestrationStatus:
    state = await sidecar.hub.service.get_instance(instance_id)
    assert state is not None
    return state.status


async def wait_done(sidecar, instance_id: str):
    state = await sidecar.hub.durable.wait_for_completion(instance_id, 10)
    assert state is not None
    return state


async def test_orchestrator_request_carries_history_inline_and_a_token(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1", "1.0", '"x"')
    item = await worker.next_item()
    request = item.orchestratorRequest
    assert item.completionToken
    assert request.instanceId == "i1" and request.executionId.value
    assert [e.WhichOneof("eventType") for e in request.newEvents] == ["orchestratorStarted", "executionStarted"]
    started = request.newEvents[1].executionStarted
    assert (started.name, started.version.value, started.input.value) == ("Hello", "1.0", '"x"')


async def test_stale_and_unknown_tokens_are_ignored(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1")
    item = await worker.next_item()
    await sidecar.stub.CompleteOrchestratorTask(completion(item, '"forged"', token="not-a-token"))
    assert await status_of(sidecar, "i1") is OrchestrationStatus.PENDING
    await sidecar.stub.CompleteOrchestratorTask(completion(item, '"real"'))
    assert (await wait_done(sidecar, "i1")).output == '"real"'
    # The same token again: already used, so nothing changes.
    await sidecar.stub.CompleteOrchestratorTask(completion(item, '"replayed"'))
    assert (await sidecar.hub.service.get_instance("i1")).output == '"real"'


async def test_completion_for_another_instance_is_ignored(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1")
    item = await worker.next_item()
    wrong = completion(item, '"x"')
    wrong.instanceId = "someone-else"
    await sidecar.stub.CompleteOrchestratorTask(wrong)
    assert await status_of(sidecar, "i1") is OrchestrationStatus.PENDING
    await sidecar.stub.CompleteOrchestratorTask(completion(item, '"ok"'))
    assert (await wait_done(sidecar, "i1")).output == '"ok"'


async def test_abandon_offers_the_work_again_with_a_new_token(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1")
    first = await worker.next_item()
    await sidecar.stub.AbandonTaskOrchestratorWorkItem(pb.AbandonOrchestrationTaskRequest(completionToken=first.completionToken))
    second = await worker.next_item()
    assert second.orchestratorRequest.instanceId == "i1"
    assert second.completionToken != first.completionToken
    # The abandoned token is dead now.
    await sidecar.stub.CompleteOrchestratorTask(completion(first, '"late"'))
    assert await status_of(sidecar, "i1") is OrchestrationStatus.PENDING
    await sidecar.stub.CompleteOrchestratorTask(completion(second, '"done"'))
    assert (await wait_done(sidecar, "i1")).output == '"done"'


async def test_disconnecting_worker_gives_its_items_to_another(sidecar) -> None:
    leaving = sidecar.worker()
    await sidecar.start("Hello", "i1")
    item = await leaving.next_item()
    leaving.close()
    staying = sidecar.worker()
    again = await staying.next_item()
    assert again.orchestratorRequest.instanceId == "i1" and again.completionToken != item.completionToken
    await sidecar.stub.CompleteOrchestratorTask(completion(again, '"ok"'))
    assert (await wait_done(sidecar, "i1")).status is OrchestrationStatus.COMPLETED


async def test_work_item_filters_by_name_and_version(sidecar) -> None:
    filters = pb.WorkItemFilters(orchestrations=[pb.OrchestrationFilter(name="hello", versions=["1.0"])])
    picky = sidecar.worker(workItemFilters=filters)
    await sidecar.start("Other", "other")
    await sidecar.start("Hello", "v2", "2.0")
    await sidecar.start("Hello", "v1", "1.0")
    item = await picky.next_item()
    assert item.orchestratorRequest.instanceId == "v1"  # name matched case-insensitively
    assert await picky.nothing_for(0.8)
    assert await status_of(sidecar, "other") is OrchestrationStatus.PENDING
    assert await status_of(sidecar, "v2") is OrchestrationStatus.PENDING
    anyone = sidecar.worker()
    got = {(await anyone.next_item()).orchestratorRequest.instanceId for _ in range(2)}
    assert got == {"other", "v2"}


async def test_capacity_limits_items_in_flight(sidecar) -> None:
    worker = sidecar.worker(maxConcurrentOrchestrationWorkItems=1)
    await sidecar.start("Hello", "a")
    await sidecar.start("Hello", "b")
    first = await worker.next_item()
    assert await worker.nothing_for(0.6)  # the second waits for the first to finish
    await sidecar.stub.CompleteOrchestratorTask(completion(first, "1"))
    second = await worker.next_item()
    assert {first.orchestratorRequest.instanceId, second.orchestratorRequest.instanceId} == {"a", "b"}


async def test_idle_stream_gets_health_pings(sidecar) -> None:
    worker = sidecar.worker()
    item = await worker.next_item(skip_pings=False, timeout=5)
    assert item.HasField("healthPing")


async def test_activity_work_item_round_trip(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1")
    item = await worker.next_item()
    schedule = pb.OrchestratorAction(id=0, scheduleTask=pb.ScheduleTaskAction(name="SayHello"))
    schedule.scheduleTask.input.value = '"Tokyo"'
    await sidecar.stub.CompleteOrchestratorTask(
        pb.OrchestratorResponse(instanceId="i1", actions=[schedule], completionToken=item.completionToken)
    )
    activity = await worker.next_item()
    request = activity.activityRequest
    assert (request.name, request.input.value, request.taskId) == ("SayHello", '"Tokyo"', 0)
    assert request.orchestrationInstance.instanceId == "i1"
    await sidecar.stub.CompleteActivityTask(
        pb.ActivityResponse(instanceId="i1", taskId=0, result=pb.ActivityResponse().result.__class__(value='"Hi"'),
                            completionToken="stale")
    )
    response = pb.ActivityResponse(instanceId="i1", taskId=0, completionToken=activity.completionToken)
    response.result.value = '"Hello Tokyo"'
    await sidecar.stub.CompleteActivityTask(response)
    next_episode = await worker.next_item()
    results = [e for e in next_episode.orchestratorRequest.newEvents if e.HasField("taskCompleted")]
    assert [(e.taskCompleted.taskScheduledId, e.taskCompleted.result.value) for e in results] == [(0, '"Hello Tokyo"')]
    assert await worker.nothing_for(0.3)  # the stale completion produced nothing


async def test_partial_responses_are_refused(sidecar) -> None:
    worker = sidecar.worker()
    await sidecar.start("Hello", "i1")
    item = await worker.next_item()
    partial = completion(item, "1")
    partial.isPartial = True
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await sidecar.stub.CompleteOrchestratorTask(partial)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "isPartial" in info.value.details()


async def test_entity_work_is_unimplemented(sidecar) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await sidecar.stub.CompleteEntityTask(pb.EntityBatchResult())
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_workers_pick_their_task_hub_by_header() -> None:
    from azure_durable_ext.core.options import DurableTaskOptions
    from azure_durable_ext.protocol.sidecar_rpc import SidecarStub
    from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
    from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
    from azure_durable_ext.storage.memory import InMemoryOrchestrationService
    from raw_worker import RawWorker

    hubs = [TaskHub.create(DurableTaskOptions(hub_name=n), InMemoryOrchestrationService()) for n in ("HubA", "HubB")]
    host = build_sidecar_host(TaskHubRegistry(hubs), poll_timeout=0.2)
    await host.start()
    channel = grpc.aio.insecure_channel(host.address)
    stub = SidecarStub(channel)
    worker_b = RawWorker(stub, pb.GetWorkItemsRequest(), metadata=(("durable-taskhub", "hubb"),))
    try:
        await hubs[0].durable.start_new("Hello", "in-a")
        await hubs[1].durable.start_new("Hello", "in-b")
        item = await worker_b.next_item()
        assert item.orchestratorRequest.instanceId == "in-b"
        assert await worker_b.nothing_for(0.6)
        unknown = stub.GetWorkItems(pb.GetWorkItemsRequest(), metadata=(("durable-taskhub", "nope"),))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await unknown.read()
        assert info.value.code() is grpc.StatusCode.NOT_FOUND and "nope" in info.value.details()
    finally:
        worker_b.close()
        await channel.close()
        await host.stop()
