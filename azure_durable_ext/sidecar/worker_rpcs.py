"""The worker RPCs of TaskHubSidecarService: GetWorkItems and the Complete*/Abandon* calls.

Pass an instance to ``LocalGrpcListener(extra_servicers=[...])`` (or SidecarHost). The task
hub is chosen per call from the ``Durable-TaskHub`` / ``Durable-ConnectionName`` headers,
as for the client RPCs. Completions and abandons with a stale or unknown completion token
are ignored (logged, answered OK: the worker has nothing to retry). A completion whose
instance id does not match its token's work item is ignored the same way. Entity work is not
supported: CompleteEntityTask and AbandonTaskEntityWorkItem are not defined here, so gRPC
answers UNIMPLEMENTED.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

import grpc

from .._proto import pb
from ..core.errors import NotFoundError
from .client_rpcs import abort_for, hub_for, unary_rpc
from .dispatch import HubDispatchers
from .hub import TaskHub, TaskHubRegistry

log = logging.getLogger(__name__)


class WorkerRpcs:
    """Servicer for the worker half of the protocol, over each hub's dispatchers."""

    def __init__(self, hubs: TaskHubRegistry, dispatchers: Mapping[str, HubDispatchers]) -> None:
        self.hubs = hubs
        self._by_hub = {name.lower(): d for name, d in dispatchers.items()}

    def _dispatchers(self, context: grpc.aio.ServicerContext) -> HubDispatchers:
        hub: TaskHub = hub_for(self.hubs, context)
        found = self._by_hub.get(hub.name.lower())
        if found is None:
            raise NotFoundError(f"task hub {hub.name!r} runs no dispatchers on this host")
        return found

    async def GetWorkItems(
        self, request: pb.GetWorkItemsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WorkItem | bytes]:
        try:
            streams = self._dispatchers(context).streams
        except Exception as exc:  # noqa: BLE001 - becomes the call's status
            await abort_for(context, exc, "GetWorkItems")
            return
        conn = streams.connect(request)
        async for item in streams.stream(conn):
            yield item

    @unary_rpc
    async def CompleteOrchestratorTask(
        self, request: pb.OrchestratorResponse, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        if request.isPartial:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "chunked orchestrator responses (isPartial) are not supported by this sidecar",
            )
        self._dispatchers(context).streams.complete("orchestration", request.completionToken, request)
        return pb.CompleteTaskResponse()

    @unary_rpc
    async def CompleteActivityTask(
        self, request: pb.ActivityResponse, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        self._dispatchers(context).streams.complete("activity", request.completionToken, request)
        return pb.CompleteTaskResponse()

    @unary_rpc
    async def AbandonTaskOrchestratorWorkItem(
        self, request: pb.AbandonOrchestrationTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbandonOrchestrationTaskResponse:
        self._dispatchers(context).streams.abandon("orchestration", request.completionToken)
        return pb.AbandonOrchestrationTaskResponse()

    @unary_rpc
    async def AbandonTaskActivityWorkItem(
        self, request: pb.AbandonActivityTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbandonActivityTaskResponse:
        self._dispatchers(context).streams.abandon("activity", request.completionToken)
        return pb.AbandonActivityTaskResponse()
