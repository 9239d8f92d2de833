"""Dispatcher runners that run orchestrations and activities by invoking the Functions worker.

Orchestrations use the gRPC flavour of the orchestration trigger: the trigger binding's input
is base64 of a serialized ``OrchestratorRequest``, the function returns base64 of an
``OrchestratorResponse``. A failed invocation is not an orchestration failure: the episode is
put back and offered again. Activities get their JSON input; the return value becomes the
task's JSON result, a failed invocation the task's failure.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid

from google.protobuf.message import DecodeError

from .._proto import pb
from ..core.episode import find_execution_started
from ..protocol.function_rpc import frpc
from ..sidecar.dispatch.runners import ActivityOutcome, RunnerOutcome
from .function_rpc_host import FunctionRpcHost, WorkerUnavailableError

log = logging.getLogger(__name__)

#: Seconds before an episode the worker could not run is offered again.
RETRY_DELAY = 1.0


def _trigger_name(host: FunctionRpcHost, function_name: str) -> str:
    function = host.function(function_name)
    trigger = function.trigger if function is not None else None
    return str(trigger["name"]) if trigger else "context"


class FunctionsOrchestrationRunner:
    """Runs orchestration episodes on the worker's orchestration trigger functions."""

    def __init__(self, host: FunctionRpcHost) -> None:
        self.host = host

    def can_run(self, name: str, version: str | None) -> bool:
        return self.host.ready.is_set() and self.host.functions.orchestrator(name) is not None

    async def run(self, request: pb.OrchestratorRequest) -> RunnerOutcome:
        return await self._invoke(_orchestration_name(request), request.instanceId, request.SerializeToString())

    async def run_encoded(
        self, request: pb.OrchestratorRequest, past_events_wire: bytes, name: str, version: str | None
    ) -> RunnerOutcome:
        """The request goes to the worker serialized anyway: the encoded history is appended
        to its encoding as it is (see ``protocol.history_wire``)."""
        return await self._invoke(name, request.instanceId, request.SerializeToString() + past_events_wire)

    async def _invoke(self, name: str, instance_id: str, encoded_request: bytes) -> RunnerOutcome:
        function = self.host.functions.orchestrator(name)
        if function is None:
            return RunnerOutcome.abandoned(f"no orchestrator function {name!r} is loaded", RETRY_DELAY)
        invocation = frpc.InvocationRequest(invocation_id=str(uuid.uuid4()), function_id=function.function_id)
        payload = base64.b64encode(encoded_request).decode("ascii")
        invocation.input_data.add(name=_trigger_name(self.host, function.name), data=frpc.TypedData(string=payload))
        log.info("Executing 'Functions.%s' (orchestration %s, Id=%s)", function.name, instance_id,
                 invocation.invocation_id)
        try:
            response = await self.host.invoke(invocation)
        except WorkerUnavailableError as exc:
            return RunnerOutcome.abandoned(str(exc), RETRY_DELAY)
        if response.result.status != frpc.StatusResult.Success:
            reason = response.result.exception.message or "the orchestrator invocation failed"
            log.warning("orchestrator %s failed to run (%s); the episode will be retried", name, reason)
            return RunnerOutcome.abandoned(reason, RETRY_DELAY)
        try:
            return RunnerOutcome.completed(_decode_orchestrator_response(response.return_value))
        except ValueError as exc:
            log.error("orchestrator %s returned an unreadable response: %s", name, exc)
            return RunnerOutcome.abandoned(str(exc), RETRY_DELAY)


class FunctionsActivityRunner:
    """Runs activities on the worker's activity trigger functions."""

    def __init__(self, host: FunctionRpcHost) -> None:
        self.host = host

    def can_run(self, name: str, version: str | None) -> bool:
        return self.host.ready.is_set() and self.host.functions.activity(name) is not None

    async def run(self, request: pb.ActivityRequest) -> ActivityOutcome:
        function = self.host.functions.activity(request.name)
        if function is None:
            return ActivityOutcome.abandoned(f"no activity function {request.name!r} is loaded", RETRY_DELAY)
        invocation = frpc.InvocationRequest(invocation_id=str(uuid.uuid4()), function_id=function.function_id)
        data = frpc.TypedData(json=request.input.value) if request.HasField("input") else frpc.TypedData(json="null")
        invocation.input_data.add(name=_trigger_name(self.host, function.name), data=data)
        log.info("Executing 'Functions.%s' (activity of %s, Id=%s)", function.name,
                 request.orchestrationInstance.instanceId, invocation.invocation_id)
        try:
            response = await self.host.invoke(invocation)
        except WorkerUnavailableError as exc:
            return ActivityOutcome.abandoned(str(exc), RETRY_DELAY)
        result = pb.ActivityResponse(instanceId=request.orchestrationInstance.instanceId, taskId=request.taskId)
        exception = response.result.exception
        if response.result.status == frpc.StatusResult.Success:
            try:
                result.result.value = _json_result(response.return_value)
                return ActivityOutcome.completed(result)
            except ValueError as exc:
                exception = frpc.RpcException(source="SerializationError", message=str(exc))
        result.failureDetails.CopyFrom(pb.TaskFailureDetails(
            errorType=exception.source or "FunctionInvocationException",
            errorMessage=exception.message or f"activity {request.name} failed",
        ))
        if exception.stack_trace:
            result.failureDetails.stackTrace.value = exception.stack_trace
        return ActivityOutcome.completed(result)


def _orchestration_name(request: pb.OrchestratorRequest) -> str:
    started = find_execution_started(request.pastEvents) or find_execution_started(request.newEvents)
    if started is None:
        raise ValueError(f"orchestration {request.instanceId} has no executionStarted event")
    return started.name


def _decode_orchestrator_response(value: frpc.TypedData) -> pb.OrchestratorResponse:
    kind = value.WhichOneof("data")
    if kind == "string":
        text = value.string
    elif kind == "json":
        # The Python worker sends the base64 text as is in the json field; other workers
        # may send it as a JSON string.
        text = value.json.strip()
        if text.startswith('"'):
            decoded = json.loads(text)
            if not isinstance(decoded, str):
                raise ValueError("the orchestrator returned JSON that is not a base64 string")
            text = decoded
    else:
        raise ValueError(f"the orchestrator returned {kind or 'nothing'} instead of a base64 OrchestratorResponse")
    try:
        return pb.OrchestratorResponse.FromString(base64.b64decode(text, validate=True))
    except (binascii.Error, DecodeError) as exc:
        raise ValueError(f"the orchestrator's return value is not a base64 OrchestratorResponse: {exc}") from None


def _json_result(value: frpc.TypedData) -> str:
    """An activity's return value as the task's JSON result."""
    kind = value.WhichOneof("data")
    if kind is None:
        return "null"
    if kind == "json":
        return value.json
    if kind == "string":
        return json.dumps(value.string)
    if kind in ("int", "double"):
        return json.dumps(getattr(value, kind))
    if kind == "bytes":
        return json.dumps(base64.b64encode(value.bytes).decode("ascii"))
    raise ValueError(f"an activity returned {kind}, which has no JSON form")
