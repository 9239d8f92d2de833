"""Same OrchestratorRequest bytes into our executor and the official durabletask worker's
executor (durabletask 1.12.0): the actions must be the same on the wire."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from orch_history import History

from azure_durable_ext.core.orchestration import OrchestrationContext, Registry, execute_orchestrator
from azure_durable_ext.core.versions import VersioningOptions

dt_worker = pytest.importorskip("durabletask.worker")
dt_pb = pytest.importorskip("durabletask.internal.orchestrator_service_pb2")
from durabletask import task as dt_task  # noqa: E402
from durabletask.serialization import JsonDataConverter  # noqa: E402


# Each scenario: one orchestrator written once against the common subset of the two context
# APIs (durabletask spells keyword arguments), and a script of history steps.
def sequence(ctx, _input):
    results = []
    for city in ["Tokyo", "Seattle", "London"]:
        results.append((yield ctx.call_activity("SayHello", input=city)))
    return results


def fan_out(ctx, cities):
    tasks = [ctx.call_activity("SayHello", input=c) for c in cities]
    # durabletask offers when_all as a module function, ours is a context method.
    results = yield (ctx.when_all(tasks) if isinstance(ctx, OrchestrationContext) else dt_task.when_all(tasks))
    ctx.set_custom_status({"done": len(results)})
    return results


def timer_then_event(ctx, _input):
    yield ctx.create_timer(timedelta(minutes=5))
    value = yield ctx.wait_for_external_event("Approval")
    return value


def sub_orchestration(ctx, _input):
    child = yield ctx.call_sub_orchestrator("Child", input={"n": 1})
    return child


def continue_as_new(ctx, n):
    yield ctx.call_activity("Tick", input=n)
    ctx.continue_as_new(n + 1)


def terminated(ctx, _input):
    yield ctx.call_activity("Slow")


SCENARIOS = {
    "sequence": (sequence, None, [
        lambda h: h.complete_task(1, '"Hello Tokyo"'),
        lambda h: h.complete_task(2, '"Hello Seattle"'),
        lambda h: h.complete_task(3, '"Hello London"'),
    ]),
    "fan_out": (fan_out, '["a", "b", "c", "d"]', [
        lambda h: h.complete_task(2, '"B"').complete_task(1, '"A"'),
        lambda h: h.complete_task(4, '"D"').complete_task(3, '"C"'),
    ]),
    "timer_then_event": (timer_then_event, None, [
        lambda h: h.fire_timer(1),
        lambda h: h.raise_event("approval", '"ok"'),
    ]),
    "sub_orchestration": (sub_orchestration, None, [lambda h: h.complete_sub(1, '{"child": true}')]),
    "continue_as_new": (continue_as_new, "5", [lambda h: h.complete_task(1, None)]),
    "terminated": (terminated, None, [lambda h: h.terminate('"enough"')]),
    "activity_failure": (sequence, None, [lambda h: h.fail_task(1, "ConnectionError", "host down")]),
}


def _comparable(response) -> object:
    """The response with the orchestration's own failure text removed: both sides name the
    exception their way (ours "TaskFailedError", theirs "durabletask.task.TaskFailedError") and
    stack traces differ; status, ids and the activity's inner failure must still agree."""
    for action in response.actions:
        if action.HasField("completeOrchestration") and action.completeOrchestration.HasField("failureDetails"):
            details = action.completeOrchestration.failureDetails
            details.ClearField("errorType")
            details.ClearField("errorMessage")
            details.ClearField("stackTrace")
            details.ClearField("isNonRetriable")
            details.innerFailure.ClearField("stackTrace")
    return response


def _official_actions(fn, name: str, request_bytes: bytes) -> bytes:
    request = dt_pb.OrchestratorRequest.FromString(request_bytes)
    registry = dt_worker._Registry()
    registry.add_named_orchestrator(name, fn)
    executor = dt_worker._OrchestrationExecutor(registry, logging.getLogger("official"), JsonDataConverter())
    result = executor.execute(request.instanceId, request.pastEvents, request.newEvents)
    response = dt_pb.OrchestratorResponse(instanceId=request.instanceId, actions=result.actions)
    if result.encoded_custom_status is not None:
        response.customStatus.value = result.encoded_custom_status
    return response.SerializeToString(deterministic=True)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_actions_match_the_official_executor_episode_by_episode(scenario):
    fn, input_json, steps = SCENARIOS[scenario]
    registry = Registry()
    registry.add_orchestrator(fn, scenario)
    history = History(scenario, input_json, instance_id=f"wire-{scenario}")
    for episode, step in enumerate([None, *steps]):
        if step is not None:
            step(history)
        request_bytes = history.request().SerializeToString()
        ours = execute_orchestrator(registry, history.request()).response
        official = dt_pb.OrchestratorResponse.FromString(_official_actions(fn, scenario, request_bytes))
        ours_parsed = _comparable(dt_pb.OrchestratorResponse.FromString(ours.SerializeToString()))
        assert ours_parsed == _comparable(official), (
            f"episode {episode}: ours={ours} official={official}"
        )
        history.run(registry)
    assert history.past[-2].HasField("executionCompleted"), "every scenario runs to completion"


def test_default_version_of_sub_orchestrations_matches_the_official_worker():
    registry = Registry()
    registry.add_orchestrator(sub_orchestration, "sub_orchestration")
    history = History("sub_orchestration", instance_id="parent")
    options = VersioningOptions(version="2.0.0", default_version="2.0.0")
    ours = execute_orchestrator(registry, history.request(), versioning=options).response

    official_registry = dt_worker._Registry()
    official_registry.add_named_orchestrator("sub_orchestration", sub_orchestration)
    official_registry.versioning = dt_worker.VersioningOptions(
        version="2.0.0", default_version="2.0.0", match_strategy=dt_worker.VersionMatchStrategy.NONE
    )
    request = dt_pb.OrchestratorRequest.FromString(history.request().SerializeToString())
    executor = dt_worker._OrchestrationExecutor(official_registry, logging.getLogger("official"), JsonDataConverter())
    result = executor.execute(request.instanceId, request.pastEvents, request.newEvents)
    official = dt_pb.OrchestratorResponse(instanceId=request.instanceId, actions=result.actions)
    assert dt_pb.OrchestratorResponse.FromString(ours.SerializeToString()) == official
