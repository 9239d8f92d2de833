"""The orchestration trigger under the gRPC protocol: base64 OrchestratorRequest in, base64
OrchestratorResponse out, through the replay executor; versions picked from the history."""
from __future__ import annotations

import base64
import inspect
import json

import azure.functions as func

import pytest
from functions_support import SAMPLE_APP, RunningWorker
from functions_test_host import invocation, invoke, load_all

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import InvalidArgumentError, VersionMismatchError
from azure_durable_ext.core.versions import VersionFailureStrategy, VersioningOptions, VersionMatchStrategy
from azure_durable_ext.functions import DurableApp
from azure_durable_ext.functions.definitions import index_function_app
from azure_durable_ext.protocol.function_rpc import frpc


def _request(name: str, version: str | None, instance_id: str = "inst-1") -> pb.OrchestratorRequest:
    started = pb.ExecutionStartedEvent(name=name, orchestrationInstance=pb.OrchestrationInstance(instanceId=instance_id))
    if version is not None:
        started.version.value = version
    started.input.value = json.dumps(None)
    return pb.OrchestratorRequest(instanceId=instance_id, newEvents=[
        pb.HistoryEvent(eventId=-1, orchestratorStarted=pb.OrchestratorStartedEvent()),
        pb.HistoryEvent(eventId=-1, executionStarted=started),
    ])


def _encode(request: pb.OrchestratorRequest) -> str:
    return base64.b64encode(request.SerializeToString()).decode("ascii")


def _decode(payload: str) -> pb.OrchestratorResponse:
    return pb.OrchestratorResponse.FromString(base64.b64decode(payload))


def _hello_entry():
    indexed = index_function_app(SAMPLE_APP)
    (hello,) = [f for f in indexed.functions if f.name == "Hello"]
    return hello.user_function


@pytest.mark.parametrize(("version", "city"), [("1.0.0", "v1"), ("1.2.0", "v1.2")])
def test_round_trip_runs_the_requested_version(version: str, city: str) -> None:
    response = _decode(_hello_entry()(context=_encode(_request("Hello", version))))
    assert response.instanceId == "inst-1"
    (action,) = response.actions
    assert action.scheduleTask.name == "say_hello"
    assert json.loads(action.scheduleTask.input.value) == city


def test_the_real_workers_orchestration_context_is_accepted() -> None:
    entry = _hello_entry()
    assert inspect.signature(entry).parameters["context"].annotation is func.OrchestrationContext
    context = func.OrchestrationContext(_encode(_request("Hello", "1.0.0")).encode())
    (action,) = _decode(entry(context=context)).actions
    assert json.loads(action.scheduleTask.input.value) == "v1"


def test_unregistered_version_fails_the_orchestration() -> None:
    response = _decode(_hello_entry()(context=_encode(_request("Hello", "9.9.9"))))
    (action,) = response.actions
    completion = action.completeOrchestration
    assert completion.orchestrationStatus == pb.ORCHESTRATION_STATUS_FAILED
    assert "9.9.9" in completion.failureDetails.errorMessage and "1.0.0" in completion.failureDetails.errorMessage


@pytest.mark.parametrize("payload", ["not base64!!", "", base64.b64encode(b"\xff\xff\xff").decode()])
def test_bad_payload_is_refused(payload: str) -> None:
    with pytest.raises(InvalidArgumentError):
        _hello_entry()(context=payload)


def test_versioning_reject_fails_the_invocation_so_the_host_retries() -> None:
    app = DurableApp(versioning=VersioningOptions(
        version="1.0.0", match_strategy=VersionMatchStrategy.STRICT, failure_strategy=VersionFailureStrategy.REJECT))

    @app.orchestration_trigger(context_name="context", orchestration="Hello", version="2.0.0")
    def hello(context):
        return (yield context.call_activity("x"))

    (function,) = app.get_functions()
    with pytest.raises(VersionMismatchError):
        function.get_user_function()(_encode(_request("Hello", "2.0.0")))


async def test_through_the_worker(worker: RunningWorker) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    response = await invoke(worker.host, invocation(
        functions["Hello"], "inv-orch", context=frpc.TypedData(string=_encode(_request("Hello", "1.2.0")))))
    assert response.result.status == frpc.StatusResult.Success, response.result.exception.message
    (action,) = _decode(response.return_value.string).actions
    assert json.loads(action.scheduleTask.input.value) == "v1.2"
