"""Dispatchers: run orchestrations and activities of a task hub (in process, or on workers
connected through GetWorkItems, or any other runner).

``create_dispatchers(hub, registry=..., versioning=...)`` builds everything one hub needs;
the result is a host component (async start/stop). ``WorkerRpcs`` (sidecar/worker_rpcs.py)
serves the worker half of the protocol over the hubs' ``HubDispatchers``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...core.orchestration import Registry
from ...core.versions import VersioningOptions
from ..hub import TaskHub
from .activity_dispatcher import ActivityDispatcher
from .in_process import InProcessActivityRunner, InProcessOrchestrationRunner
from .orchestration_dispatcher import EventBurstCoalescing, ExtendedSessions, OrchestrationDispatcher
from .runners import ActivityOutcome, ActivityRunner, OrchestrationRunner, RunnerOutcome
from ...storage.memory import InMemoryOrchestrationService
from .work_item_streams import HEALTH_PING_INTERVAL, WorkerActivityRunner, WorkerOrchestrationRunner, WorkItemStreams

__all__ = [
    "ActivityDispatcher",
    "ActivityOutcome",
    "ActivityRunner",
    "EventBurstCoalescing",
    "HubDispatchers",
    "OrchestrationDispatcher",
    "OrchestrationRunner",
    "RunnerOutcome",
    "WorkItemStreams",
    "create_dispatchers",
]


@dataclass(eq=False)
class HubDispatchers:
    """The dispatchers of one task hub and its connected-worker streams (a host component)."""

    hub: TaskHub
    streams: WorkItemStreams
    orchestrations: OrchestrationDispatcher
    activities: ActivityDispatcher
    _closers: list[InProcessActivityRunner] = field(default_factory=list)

    async def start(self) -> None:
        await self.orchestrations.start()
        await self.activities.start()

    def runners_changed(self) -> None:
        """A runner may take work it could not before (a worker connected, an app loaded):
        parked work is looked at again now rather than at the next periodic check."""
        self.orchestrations.runners_changed()
        self.activities.runners_changed()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop fetching, end worker streams (their in-flight work comes back), finish or
        put back in-flight items."""
        self.streams.close_all()
        await self.orchestrations.stop(grace)
        await self.activities.stop(grace)
        for runner in self._closers:
            runner.close()


def create_dispatchers(
    hub: TaskHub,
    *,
    registry: Registry | None = None,
    versioning: VersioningOptions | None = None,
    extra_orchestration_runners: Sequence[OrchestrationRunner] = (),
    extra_activity_runners: Sequence[ActivityRunner] = (),
    poll_timeout: float = 1.0,
    health_ping_interval: float = HEALTH_PING_INTERVAL,
) -> HubDispatchers:
    """Dispatchers for ``hub``: the in-process ``registry`` (when given, with ``versioning``,
    default: the hub's host.json versioning) first, then ``extra_*_runners``, then workers
    connected through GetWorkItems. Concurrency limits are the hub's
    maxConcurrentOrchestratorFunctions / maxConcurrentActivityFunctions."""
    options = hub.options
    streams = WorkItemStreams(health_ping_interval=health_ping_interval)
    orchestration_runners: list[OrchestrationRunner] = []
    activity_runners: list[ActivityRunner] = []
    closers: list[InProcessActivityRunner] = []
    if registry is not None:
        orchestration_runners.append(InProcessOrchestrationRunner(registry, versioning or options.versioning))
        activity = InProcessActivityRunner(registry, max_threads=options.max_concurrent_activity_functions)
        activity_runners.append(activity)
        closers.append(activity)
    orchestration_runners.extend(extra_orchestration_runners)
    activity_runners.extend(extra_activity_runners)
    orchestration_runners.append(WorkerOrchestrationRunner(streams))
    activity_runners.append(WorkerActivityRunner(streams))
    orchestrations = OrchestrationDispatcher(
        hub.service,
        orchestration_runners,
        clock=hub.clock,
        max_concurrent=options.max_concurrent_orchestrator_functions,
        poll_timeout=poll_timeout,
        # Holding a lock and putting work back are free in memory only; on Azure the control
        # queue's batched receives gather bursts by themselves.
        event_bursts=(
            EventBurstCoalescing(hub.service.waiting_messages)
            if isinstance(hub.service, InMemoryOrchestrationService)
            else None
        ),
        extended_sessions=(
            ExtendedSessions.for_concurrency(
                options.max_concurrent_orchestrator_functions, float(options.extended_session_idle_timeout_in_seconds)
            )
            if options.extended_sessions_enabled
            else None
        ),
        max_actions=options.max_orchestration_actions,
    )
    activities = ActivityDispatcher(
        hub.service,
        activity_runners,
        clock=hub.clock,
        max_concurrent=options.max_concurrent_activity_functions,
        poll_timeout=poll_timeout,
    )
    dispatchers = HubDispatchers(hub, streams, orchestrations, activities, closers)
    streams.on_connect.append(dispatchers.runners_changed)
    return dispatchers
