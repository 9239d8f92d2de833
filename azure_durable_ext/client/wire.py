"""Pure request builders and response parsers, one pair per client operation.

``CODECS`` maps each operation input type to the RPC it calls, how to build that RPC's
request from the input, and how to read the result from the response. No I/O here: the
gRPC client looks the pair up, sends, and parses; tests can check both halves alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from .._proto import pb
from ..core.errors import InstanceNotFoundError
from ..protocol.convert import (
    instance_query_to_pb,
    instance_state_from_pb,
    optional_string,
    purge_filter_to_pb,
    set_timestamp,
    status_to_pb,
)
from .converter import DataConverter
from .metadata import InstancesPage, OrchestrationMetadata, PurgeResult
from .operations import (
    GetInstanceHistoryInput,
    GetInstanceInput,
    Operation,
    PurgeInstanceInput,
    PurgeInstancesInput,
    QueryInstancesInput,
    RaiseEventInput,
    RestartInstanceInput,
    ResumeInstanceInput,
    RewindInstanceInput,
    StartOrchestrationInput,
    SuspendInstanceInput,
    TerminateInstanceInput,
    WaitForInstanceCompletionInput,
    WaitForInstanceStartInput,
)


@dataclass(frozen=True, slots=True)
class Codec:
    """How one operation travels: the RPC, the request builder, the response parser.

    For a server-streaming RPC the parser receives the list of streamed messages.
    """

    rpc: str
    build: Callable[[Any, DataConverter], Message]
    parse: Callable[[Any, Any, DataConverter], Any]
    streaming: bool = False


# -- builders ------------------------------------------------------------------------------


def build_start(op: StartOrchestrationInput, converter: DataConverter) -> pb.CreateInstanceRequest:
    request = pb.CreateInstanceRequest(instanceId=op.instance_id, name=op.name)
    if op.version:
        request.version.value = op.version
    payload = converter.serialize(op.input)
    if payload is not None:
        request.input.value = payload
    if op.start_at is not None:
        set_timestamp(request.scheduledStartTimestamp, op.start_at)
    if op.tags:
        request.tags.update(op.tags)
    if op.reuse_statuses is not None:
        request.orchestrationIdReusePolicy.replaceableStatus.extend(
            sorted(status_to_pb(s) for s in op.reuse_statuses)
        )
        # An empty policy must still reach the server ("replace nothing").
        request.orchestrationIdReusePolicy.SetInParent()
    return request


def build_get(
    op: GetInstanceInput | WaitForInstanceStartInput | WaitForInstanceCompletionInput, converter: DataConverter
) -> pb.GetInstanceRequest:
    return pb.GetInstanceRequest(instanceId=op.instance_id, getInputsAndOutputs=op.get_inputs_and_outputs)


def build_raise_event(op: RaiseEventInput, converter: DataConverter) -> pb.RaiseEventRequest:
    request = pb.RaiseEventRequest(instanceId=op.instance_id, name=op.event_name)
    payload = converter.serialize(op.data)
    if payload is not None:
        request.input.value = payload
    return request


def build_terminate(op: TerminateInstanceInput, converter: DataConverter) -> pb.TerminateRequest:
    request = pb.TerminateRequest(instanceId=op.instance_id, recursive=op.recursive)
    payload = converter.serialize(op.output)
    if payload is not None:
        request.output.value = payload
    return request


def build_with_reason(request_type: type[Message]) -> Callable[[Any, DataConverter], Message]:
    """Builder of the ``{instanceId, reason}`` requests (suspend, resume, rewind); the
    reason travels as given, not serialized."""

    def build(op: SuspendInstanceInput | ResumeInstanceInput | RewindInstanceInput, converter: DataConverter) -> Message:
        request = request_type(instanceId=op.instance_id)
        if op.reason is not None:
            request.reason.value = op.reason  # type: ignore[attr-defined]
        return request

    return build


def build_restart(op: RestartInstanceInput, converter: DataConverter) -> pb.RestartInstanceRequest:
    return pb.RestartInstanceRequest(
        instanceId=op.instance_id, restartWithNewInstanceId=op.restart_with_new_instance_id
    )


def build_purge_one(op: PurgeInstanceInput, converter: DataConverter) -> pb.PurgeInstancesRequest:
    return pb.PurgeInstancesRequest(instanceId=op.instance_id, recursive=op.recursive)


def build_purge_filter(op: PurgeInstancesInput, converter: DataConverter) -> pb.PurgeInstancesRequest:
    return pb.PurgeInstancesRequest(purgeInstanceFilter=purge_filter_to_pb(op.filter), recursive=op.recursive)


def build_query(op: QueryInstancesInput, converter: DataConverter) -> pb.QueryInstancesRequest:
    return pb.QueryInstancesRequest(query=instance_query_to_pb(op.query))


def build_history(op: GetInstanceHistoryInput, converter: DataConverter) -> pb.StreamInstanceHistoryRequest:
    request = pb.StreamInstanceHistoryRequest(instanceId=op.instance_id)
    if op.execution_id:
        request.executionId.value = op.execution_id
    return request


# -- parsers -------------------------------------------------------------------------------


def metadata_from_pb(state: pb.OrchestrationState, converter: DataConverter) -> OrchestrationMetadata:
    """OrchestrationMetadata for a wire OrchestrationState."""
    return OrchestrationMetadata.from_state(instance_state_from_pb(state), converter)


def parse_start(response: pb.CreateInstanceResponse, op: StartOrchestrationInput, converter: DataConverter) -> str:
    # Some sidecars leave the id out when it is the one requested.
    return response.instanceId or op.instance_id


def parse_get(
    response: pb.GetInstanceResponse, op: GetInstanceInput, converter: DataConverter
) -> OrchestrationMetadata | None:
    if not response.exists:
        return None
    return metadata_from_pb(response.orchestrationState, converter)


def parse_wait(
    response: pb.GetInstanceResponse,
    op: WaitForInstanceStartInput | WaitForInstanceCompletionInput,
    converter: DataConverter,
) -> OrchestrationMetadata:
    if not response.exists:
        raise InstanceNotFoundError(op.instance_id)
    return metadata_from_pb(response.orchestrationState, converter)


def parse_nothing(response: Message, op: Operation[None], converter: DataConverter) -> None:
    return None


def parse_restart(response: pb.RestartInstanceResponse, op: RestartInstanceInput, converter: DataConverter) -> str:
    return response.instanceId or op.instance_id


def parse_purge(response: pb.PurgeInstancesResponse, op: Operation[PurgeResult], converter: DataConverter) -> PurgeResult:
    complete = response.isComplete.value if response.HasField("isComplete") else True
    return PurgeResult(deleted_instance_count=response.deletedInstanceCount, is_complete=complete)


def parse_query(response: pb.QueryInstancesResponse, op: QueryInstancesInput, converter: DataConverter) -> InstancesPage:
    token = optional_string(response, "continuationToken")
    return InstancesPage(
        instances=[metadata_from_pb(state, converter) for state in response.orchestrationState],
        # "0" and "" both mean "no more pages" on some sidecars.
        continuation_token=token if token and token != "0" else None,
    )


def parse_history(
    chunks: Sequence[pb.HistoryChunk], op: GetInstanceHistoryInput, converter: DataConverter
) -> list[pb.HistoryEvent]:
    return [event for chunk in chunks for event in chunk.events]


CODECS: dict[type[Operation[Any]], Codec] = {
    StartOrchestrationInput: Codec("StartInstance", build_start, parse_start),
    GetInstanceInput: Codec("GetInstance", build_get, parse_get),
    WaitForInstanceStartInput: Codec("WaitForInstanceStart", build_get, parse_wait),
    WaitForInstanceCompletionInput: Codec("WaitForInstanceCompletion", build_get, parse_wait),
    RaiseEventInput: Codec("RaiseEvent", build_raise_event, parse_nothing),
    TerminateInstanceInput: Codec("TerminateInstance", build_terminate, parse_nothing),
    SuspendInstanceInput: Codec("SuspendInstance", build_with_reason(pb.SuspendRequest), parse_nothing),
    ResumeInstanceInput: Codec("ResumeInstance", build_with_reason(pb.ResumeRequest), parse_nothing),
    RestartInstanceInput: Codec("RestartInstance", build_restart, parse_restart),
    RewindInstanceInput: Codec("RewindInstance", build_with_reason(pb.RewindInstanceRequest), parse_nothing),
    PurgeInstanceInput: Codec("PurgeInstances", build_purge_one, parse_purge),
    PurgeInstancesInput: Codec("PurgeInstances", build_purge_filter, parse_purge),
    QueryInstancesInput: Codec("QueryInstances", build_query, parse_query),
    GetInstanceHistoryInput: Codec("StreamInstanceHistory", build_history, parse_history, streaming=True),
}


def codec_for(operation: Operation[Any]) -> Codec:
    """The codec of an operation input; a type no codec knows is a programming error."""
    try:
        return CODECS[type(operation)]
    except KeyError:
        raise TypeError(f"no gRPC mapping for operation {type(operation).__name__}") from None
