"""The client RPCs of TaskHubSidecarService (LocalGrpcListener's client half).

Each RPC picks its task hub from the ``Durable-TaskHub`` / ``Durable-ConnectionName``
headers, converts the request with ``protocol.convert``, calls DurableClient, and converts
back. Errors: a DurableError aborts with its own gRPC status and message; anything else is
logged and answers INTERNAL. Entity RPCs are not defined here, so gRPC answers UNIMPLEMENTED.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from .._proto import pb
from ..core.errors import DurableError, InvalidArgumentError, NotFoundError, OperationTimeoutError
from ..core.model import InstanceQuery, InstanceState
from ..core.status import TERMINAL_STATES
from ..protocol.convert import (
    instance_query_from_pb,
    instance_state_to_pb,
    optional_string,
    optional_timestamp,
    purge_filter_from_pb,
    statuses_from_pb,
)
from .hub import TaskHub, TaskHubRegistry

log = logging.getLogger(__name__)

TASK_HUB_HEADER = "durable-taskhub"
CONNECTION_HEADER = "durable-connectionname"
#: Events per HistoryChunk of StreamInstanceHistory.
HISTORY_CHUNK_SIZE = 500

R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


async def abort_for(context: grpc.aio.ServicerContext, exc: BaseException, rpc: str) -> None:
    """Abort the call with the status an exception maps to (INTERNAL when unexpected)."""
    if isinstance(exc, DurableError):
        await context.abort(grpc.StatusCode[exc.grpc_status], str(exc))
    log.exception("%s failed unexpectedly", rpc)
    await context.abort(grpc.StatusCode.INTERNAL, f"{rpc} failed: {type(exc).__name__}: {exc}")


def unary_rpc(method: Handler[R]) -> Handler[R]:
    """Translate errors of a unary RPC into gRPC statuses (the only place that does so)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a gRPC status
            await abort_for(context, exc, method.__name__)
            raise  # abort raises; this keeps type checkers and readers honest

    return wrapper


def hub_for(hubs: TaskHubRegistry, context: grpc.aio.ServicerContext) -> TaskHub:
    """The task hub named by the call's headers (metadata keys arrive lower-case)."""
    name = connection = None
    for key, value in context.invocation_metadata() or ():
        if not isinstance(value, str):  # binary ("-bin") headers are none of ours
            continue
        if key == TASK_HUB_HEADER:
            name = value
        elif key == CONNECTION_HEADER:
            connection = value
    if name is None and connection is None:
        return hubs.default
    return hubs.get(name, connection)


def _state_response(state: InstanceState | None, include_payloads: bool) -> pb.GetInstanceResponse:
    if state is None:
        return pb.GetInstanceResponse(exists=False)
    return pb.GetInstanceResponse(
        exists=True, orchestrationState=instance_state_to_pb(state, include_payloads=include_payloads)
    )


class ClientRpcs:
    """Servicer for the client RPCs; register with ``protocol.sidecar_rpc.register_servicers``."""

    def __init__(self, hubs: TaskHubRegistry) -> None:
        self.hubs = hubs

    @unary_rpc
    async def Hello(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    @unary_rpc
    async def StartInstance(
        self, request: pb.CreateInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        replaceable = (
            statuses_from_pb(request.orchestrationIdReusePolicy.replaceableStatus)
            if request.HasField("orchestrationIdReusePolicy")
            else None
        )
        instance_id = await durable.start_new(
            request.name,
            request.instanceId,
            request.version.value if request.HasField("version") else None,
            request.input.value if request.HasField("input") else None,
            tags=request.tags or None,
            scheduled_start=optional_timestamp(request, "scheduledStartTimestamp"),
            replaceable_statuses=replaceable,
        )
        return pb.CreateInstanceResponse(instanceId=instance_id)

    @unary_rpc
    async def GetInstance(self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext) -> pb.GetInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        state = await durable.get_status(request.instanceId, include_payloads=request.getInputsAndOutputs)
        return _state_response(state, request.getInputsAndOutputs)

    @unary_rpc
    async def WaitForInstanceStart(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        return await self._wait(durable.wait_for_start, "start", request, context)

    @unary_rpc
    async def WaitForInstanceCompletion(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        return await self._wait(durable.wait_for_completion, "complete", request, context)

    @staticmethod
    async def _wait(
        wait: Callable[..., Awaitable[InstanceState | None]],
        what: str,
        request: pb.GetInstanceRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.GetInstanceResponse:
        """Wait until the call's deadline (forever without one); DEADLINE_EXCEEDED after."""
        state = await wait(request.instanceId, context.time_remaining(), include_payloads=request.getInputsAndOutputs)
        if state is None:
            raise OperationTimeoutError(f"timed out waiting for instance {request.instanceId!r} to {what}")
        return _state_response(state, request.getInputsAndOutputs)

    @unary_rpc
    async def RaiseEvent(self, request: pb.RaiseEventRequest, context: grpc.aio.ServicerContext) -> pb.RaiseEventResponse:
        durable = hub_for(self.hubs, context).durable
        await durable.raise_event(request.instanceId, request.name, optional_string(request, "input"))
        return pb.RaiseEventResponse()

    @unary_rpc
    async def TerminateInstance(self, request: pb.TerminateRequest, context: grpc.aio.ServicerContext) -> pb.TerminateResponse:
        durable = hub_for(self.hubs, context).durable
        await durable.terminate(request.instanceId, optional_string(request, "output"), recursive=request.recursive)
        return pb.TerminateResponse()

    @unary_rpc
    async def SuspendInstance(self, request: pb.SuspendRequest, context: grpc.aio.ServicerContext) -> pb.SuspendResponse:
        durable = hub_for(self.hubs, context).durable
        await durable.suspend(request.instanceId, optional_string(request, "reason"))
        return pb.SuspendResponse()

    @unary_rpc
    async def ResumeInstance(self, request: pb.ResumeRequest, context: grpc.aio.ServicerContext) -> pb.ResumeResponse:
        durable = hub_for(self.hubs, context).durable
        await durable.resume(request.instanceId, optional_string(request, "reason"))
        return pb.ResumeResponse()

    @unary_rpc
    async def RestartInstance(
        self, request: pb.RestartInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestartInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        new_id = await durable.restart(request.instanceId, new_instance_id=request.restartWithNewInstanceId)
        return pb.RestartInstanceResponse(instanceId=new_id)

    @unary_rpc
    async def RewindInstance(
        self, request: pb.RewindInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RewindInstanceResponse:
        durable = hub_for(self.hubs, context).durable
        await durable.rewind(request.instanceId, optional_string(request, "reason"))
        return pb.RewindInstanceResponse()

    @unary_rpc
    async def QueryInstances(
        self, request: pb.QueryInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryInstancesResponse:
        durable = hub_for(self.hubs, context).durable
        query = instance_query_from_pb(request.query)
        page = await durable.query(query)
        response = pb.QueryInstancesResponse(
            orchestrationState=[instance_state_to_pb(s, include_payloads=query.include_payloads) for s in page.instances]
        )
        if page.continuation_token:
            response.continuationToken.value = page.continuation_token
        return response

    @unary_rpc
    async def ListInstanceIds(
        self, request: pb.ListInstanceIdsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstanceIdsResponse:
        """Ids of terminal instances (optionally by status and completion time), by id order."""
        durable = hub_for(self.hubs, context).durable
        statuses = statuses_from_pb(request.runtimeStatus) or TERMINAL_STATES
        completed_from = optional_timestamp(request, "completedTimeFrom")
        completed_to = optional_timestamp(request, "completedTimeTo")
        page_size = request.pageSize or 100
        token = optional_string(request, "lastInstanceKey") or None
        ids: list[str] = []
        while True:
            page = await durable.query(
                InstanceQuery(
                    statuses=statuses,
                    page_size=page_size - len(ids),
                    continuation_token=token,
                    include_payloads=False,
                )
            )
            for state in page.instances:
                done = state.completed_at or state.last_updated_at
                if (completed_from and done < completed_from) or (completed_to and done > completed_to):
                    continue
                ids.append(state.instance_id)
            token = page.continuation_token
            if token is None or len(ids) >= page_size:
                break
        response = pb.ListInstanceIdsResponse(instanceIds=ids)
        if token is not None:
            # The query token is the last id looked at, which may be past the last id kept.
            response.lastInstanceKey.value = token
        return response

    @unary_rpc
    async def PurgeInstances(
        self, request: pb.PurgeInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.PurgeInstancesResponse:
        durable = hub_for(self.hubs, context).durable
        which = request.WhichOneof("request")
        if which == "instanceId":
            count = await durable.purge(request.instanceId, recursive=request.recursive)
        elif which == "purgeInstanceFilter":
            count = await durable.purge_by_filter(purge_filter_from_pb(request.purgeInstanceFilter))
        elif which == "instanceBatch":
            count = await durable.purge_many(request.instanceBatch.instanceIds, recursive=request.recursive)
        else:
            raise InvalidArgumentError("PurgeInstances needs an instanceId, a purgeInstanceFilter or an instanceBatch")
        response = pb.PurgeInstancesResponse(deletedInstanceCount=count)
        response.isComplete.value = True
        return response

    async def StreamInstanceHistory(
        self, request: pb.StreamInstanceHistoryRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.HistoryChunk]:
        """The current execution's history in chunks; NOT_FOUND for an unknown instance or
        an execution id that is not the current one."""
        try:
            durable = hub_for(self.hubs, context).durable
            state = await durable.get_status(request.instanceId, include_payloads=False)
            wanted = optional_string(request, "executionId")
            if state is None:
                raise NotFoundError(f"no orchestration instance with the ID {request.instanceId} was found")
            if wanted and wanted != state.execution_id:
                raise NotFoundError(
                    f"execution {wanted!r} of instance {request.instanceId!r} is not its current execution"
                )
            events = await durable.history(request.instanceId)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a gRPC status
            await abort_for(context, exc, "StreamInstanceHistory")
            raise
        for start in range(0, len(events), HISTORY_CHUNK_SIZE):
            yield pb.HistoryChunk(events=events[start : start + HISTORY_CHUNK_SIZE])

    @unary_rpc
    async def CreateTaskHub(
        self, request: pb.CreateTaskHubRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTaskHubResponse:
        await hub_for(self.hubs, context).service.create_task_hub(recreate=request.recreateIfExists)
        return pb.CreateTaskHubResponse()

    @unary_rpc
    async def DeleteTaskHub(
        self, request: pb.DeleteTaskHubRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTaskHubResponse:
        await hub_for(self.hubs, context).service.delete_task_hub()
        return pb.DeleteTaskHubResponse()
