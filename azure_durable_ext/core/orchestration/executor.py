"""The replay executor: OrchestratorRequest in, OrchestratorResponse out, no I/O.

``execute_orchestrator`` is a pure function of (registered orchestrators, past events, new
events, versioning options). It serves every caller alike: the local dispatcher, a worker
connected through GetWorkItems, and the Functions host's orchestration trigger.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

from ..._proto import pb
from ..errors import DurableError, InvalidArgumentError, NonDeterminismError, OrchestratorNotRegisteredError
from ..model import FailureDetails
from ..status import OrchestrationStatus
from ..versions import VersioningOptions
from .context import OrchestrationContext
from .event_handlers import HANDLERS, UNSUSPENDABLE
from .failures import failure_from_exception
from .registry import Registry
from .state import ExecutionState
from .versioning import VersionVerdict, decide_version


@dataclass(frozen=True, slots=True)
class OrchestratorExecutionResult:
    """What one episode produced.

    ``abandon`` true means "do not apply anything; put the work item back" (versioning
    REJECT); ``response`` then has no actions and ``abandon_reason`` says why.
    """

    response: pb.OrchestratorResponse
    abandon: bool = False
    abandon_reason: str | None = None
    is_suspended: bool = False

    @property
    def actions(self) -> list[pb.OrchestratorAction]:
        return list(self.response.actions)

    @property
    def completion(self) -> pb.CompleteOrchestrationAction | None:
        for action in self.response.actions:
            if action.HasField("completeOrchestration"):
                return action.completeOrchestration
        return None

    @property
    def status(self) -> OrchestrationStatus:
        """Runtime status after this episode (Running/Suspended while not complete)."""
        completion = self.completion
        if completion is not None:
            return OrchestrationStatus(completion.orchestrationStatus)
        return OrchestrationStatus.SUSPENDED if self.is_suspended else OrchestrationStatus.RUNNING

    @property
    def failure(self) -> FailureDetails | None:
        completion = self.completion
        if completion is None or not completion.HasField("failureDetails"):
            return None
        return FailureDetails.from_pb(completion.failureDetails)

    @property
    def custom_status(self) -> str | None:
        return self.response.customStatus.value if self.response.HasField("customStatus") else None


def execute_orchestrator(
    registry: Registry, request: pb.OrchestratorRequest, *, versioning: VersioningOptions | None = None
) -> OrchestratorExecutionResult:
    """Replay ``request.pastEvents``, apply ``request.newEvents``, return the new actions.

    Raises InvalidArgumentError for a malformed request (no new events, no executionStarted).
    Everything the orchestration itself does wrong (exceptions, nondeterminism, unknown
    orchestrator, version mismatch under FAIL) becomes a Failed completion action instead.
    """
    if not request.newEvents:
        raise InvalidArgumentError(f"orchestrator request for '{request.instanceId}' has no new events")
    started = next((e.executionStarted for e in chain(request.pastEvents, request.newEvents)
                    if e.HasField("executionStarted")), None)
    if started is None:
        raise InvalidArgumentError(f"history of '{request.instanceId}' has no executionStarted event")
    version = started.version.value if started.HasField("version") else None

    state = ExecutionState(request.instanceId, versioning)
    state.context = OrchestrationContext(state)
    decision = decide_version(versioning, version)
    if decision.verdict is VersionVerdict.REJECT:
        assert decision.failure is not None
        return OrchestratorExecutionResult(
            pb.OrchestratorResponse(instanceId=request.instanceId), abandon=True, abandon_reason=decision.failure.message
        )
    if decision.verdict is VersionVerdict.FAIL:
        assert decision.failure is not None
        return _failed_only(state, request, decision.failure)
    try:
        state.orchestrator = registry.get_orchestrator(started.name, version)
    except OrchestratorNotRegisteredError as exc:
        return _failed_only(state, request, failure_from_exception(exc))

    try:
        _replay(state, request.pastEvents, replaying=True)
        _replay(state, request.newEvents, replaying=False)
    except NonDeterminismError as exc:
        return _failed_only(state, request, FailureDetails(error_type="NonDeterminismError", message=str(exc)))
    except DurableError as exc:  # unsupported history (entities, rewind of a completed run)
        return _failed_only(state, request, failure_from_exception(exc))
    state.finish_continue_as_new()
    return _result(state, request)


def _replay(state: ExecutionState, events: Iterable[pb.HistoryEvent], *, replaying: bool) -> None:
    state.is_replaying = replaying
    for event in events:
        _process(state, event)


def _process(state: ExecutionState, event: pb.HistoryEvent) -> None:
    kind = event.WhichOneof("eventType")
    if kind is None:
        raise InvalidArgumentError(f"history event {event.eventId} has no event type")
    if state.suspended and kind not in UNSUSPENDABLE:
        state.held_events.append(event)
        return
    handler = HANDLERS.get(kind)
    if handler is None:
        raise InvalidArgumentError(f"history event kind {kind!r} is not known to this executor")
    handler(state, event)
    state.resume()
    if not state.suspended and state.held_events:
        held, state.held_events = state.held_events, []
        for waiting in held:
            _process(state, waiting)


def _result(state: ExecutionState, request: pb.OrchestratorRequest) -> OrchestratorExecutionResult:
    response = pb.OrchestratorResponse(instanceId=request.instanceId, actions=list(state.actions.values()))
    if state.completion is not None:
        response.actions.append(state.completion)
    if state.custom_status_json is not None:
        response.customStatus.value = state.custom_status_json
    return OrchestratorExecutionResult(response, is_suspended=state.suspended and state.completion is None)


def _failed_only(
    state: ExecutionState, request: pb.OrchestratorRequest, failure: FailureDetails
) -> OrchestratorExecutionResult:
    """A response whose only action fails the orchestration (work the code asked for in a
    replay that cannot be trusted is dropped)."""
    state.completion = None
    state.actions.clear()
    state.fail(failure)
    return _result(state, request)
