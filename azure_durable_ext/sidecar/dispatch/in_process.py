"""Runners over the app's own Registry: the pure replay executor and the activity runner.

Orchestrator code is deterministic and quick by contract, so episodes run on the event loop.
Plain ``def`` activities may block (I/O, sleeps) and run on a thread pool; ``async def``
activities are awaited on the loop.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ..._proto import pb
from ...core.activity import ActivityContext, ActivityResult, execute_activity
from ...core.orchestration import Registry, execute_orchestrator
from ...core.versions import VersioningOptions
from .runners import ActivityOutcome, RunnerOutcome


class InProcessOrchestrationRunner:
    """Runs the orchestrators registered in ``registry`` (by name and version), honouring
    the worker's ``versioning`` options (REJECT -> abandon, FAIL -> a Failed completion)."""

    def __init__(self, registry: Registry, versioning: VersioningOptions | None = None) -> None:
        self.registry = registry
        self.versioning = versioning

    def can_run(self, name: str, version: str | None) -> bool:
        return self.registry.find_orchestrator(name, version) is not None

    async def run(self, request: pb.OrchestratorRequest) -> RunnerOutcome:
        result = execute_orchestrator(self.registry, request, versioning=self.versioning)
        if result.abandon:
            return RunnerOutcome.abandoned(result.abandon_reason or "rejected by the versioning options")
        return RunnerOutcome.completed(result.response)


class InProcessActivityRunner:
    """Runs the activities registered in ``registry``."""

    def __init__(self, registry: Registry, *, max_threads: int | None = None) -> None:
        self.registry = registry
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="activity")

    def can_run(self, name: str, version: str | None) -> bool:
        return self.registry.find_activity(name) is not None

    async def run(self, request: pb.ActivityRequest) -> ActivityOutcome:
        context = ActivityContext(
            instance_id=request.orchestrationInstance.instanceId,
            task_id=request.taskId,
            name=request.name,
            version=request.version.value if request.HasField("version") else None,
        )
        input_json = request.input.value if request.HasField("input") else None
        activity = self.registry.find_activity(request.name)
        if activity is not None and not activity.is_async:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(
                self._pool, execute_activity, self.registry, request.name, input_json, context
            )
        else:
            outcome = execute_activity(self.registry, request.name, input_json, context)
        if not isinstance(outcome, ActivityResult):
            outcome = await outcome
        return ActivityOutcome.completed(_response(request, outcome))

    def close(self) -> None:
        """Release the thread pool without waiting: a stuck activity must not hold up the
        host's stop (its work item was put back already)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _response(request: pb.ActivityRequest, result: ActivityResult) -> pb.ActivityResponse:
    response = pb.ActivityResponse(instanceId=request.orchestrationInstance.instanceId, taskId=request.taskId)
    if result.failure is not None:
        response.failureDetails.CopyFrom(result.failure.to_pb())
    elif result.output is not None:
        response.result.value = result.output
    return response
