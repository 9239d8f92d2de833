"""One handler per history event kind, looked up by the HistoryEvent ``eventType`` oneof name.

Every kind of the protocol has an entry (a test pins that), so a new kind is a visible
decision rather than a silent fall-through.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timezone

from ..._proto import pb
from ..errors import InvalidStateError
from ..model import FailureDetails
from .state import ExecutionState

EventHandler = Callable[[ExecutionState, pb.HistoryEvent], None]


def _optional(value: object, field: str) -> str | None:
    return getattr(value, field).value if value.HasField(field) else None  # type: ignore[attr-defined]


def _orchestrator_started(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.current_utc_datetime = event.timestamp.ToDatetime(tzinfo=timezone.utc)


def _execution_started(state: ExecutionState, event: pb.HistoryEvent) -> None:
    started = event.executionStarted
    state.name = started.name
    state.version = _optional(started, "version") or None
    state.input_json = _optional(started, "input")
    if started.HasField("parentInstance") and started.parentInstance.HasField("orchestrationInstance"):
        state.parent_instance_id = started.parentInstance.orchestrationInstance.instanceId
    state.start()


def _execution_terminated(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.terminate(_optional(event.executionTerminated, "input"))


def _task_scheduled(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.confirm(event, "scheduleTask", event.taskScheduled.name)


def _task_completed(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.resolve(event.taskCompleted.taskScheduledId, _optional(event.taskCompleted, "result"))


def _task_failed(state: ExecutionState, event: pb.HistoryEvent) -> None:
    failed = event.taskFailed
    state.reject(failed.taskScheduledId, FailureDetails.from_pb(failed.failureDetails))


def _sub_orchestration_created(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.confirm(event, "createSubOrchestration", event.subOrchestrationInstanceCreated.name)


def _sub_orchestration_completed(state: ExecutionState, event: pb.HistoryEvent) -> None:
    done = event.subOrchestrationInstanceCompleted
    state.resolve(done.taskScheduledId, _optional(done, "result"))


def _sub_orchestration_failed(state: ExecutionState, event: pb.HistoryEvent) -> None:
    failed = event.subOrchestrationInstanceFailed
    state.reject(failed.taskScheduledId, FailureDetails.from_pb(failed.failureDetails))


def _timer_created(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.confirm(event, "createTimer", None)


def _timer_fired(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.resolve(event.timerFired.timerId, None)


def _event_sent(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.confirm(event, "sendEvent", event.eventSent.name)


def _event_raised(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.receive_event(event)


def _execution_suspended(state: ExecutionState, event: pb.HistoryEvent) -> None:
    state.suspended = True


def _execution_resumed(state: ExecutionState, event: pb.HistoryEvent) -> None:
    # The executor replays the events held while suspended once this returns.
    state.suspended = False


def _execution_rewound(state: ExecutionState, event: pb.HistoryEvent) -> None:
    # Without a completion in history a rewind event only wakes the orchestration up so the
    # replay re-issues the work whose failures the backend removed.
    if state.completion is not None:
        raise InvalidStateError("rewinding a completed orchestration is not supported by this executor")


def _record_only(state: ExecutionState, event: pb.HistoryEvent) -> None:
    """Events that record what already happened and need no replay work."""


def _entity_event(state: ExecutionState, event: pb.HistoryEvent) -> None:
    raise InvalidStateError(
        f"history event {event.WhichOneof('eventType')} belongs to durable entities, which this "
        "executor does not support"
    )


HANDLERS: dict[str, EventHandler] = {
    "executionStarted": _execution_started,
    "executionCompleted": _record_only,
    "executionTerminated": _execution_terminated,
    "taskScheduled": _task_scheduled,
    "taskCompleted": _task_completed,
    "taskFailed": _task_failed,
    "subOrchestrationInstanceCreated": _sub_orchestration_created,
    "subOrchestrationInstanceCompleted": _sub_orchestration_completed,
    "subOrchestrationInstanceFailed": _sub_orchestration_failed,
    "timerCreated": _timer_created,
    "timerFired": _timer_fired,
    "orchestratorStarted": _orchestrator_started,
    "orchestratorCompleted": _record_only,
    "eventSent": _event_sent,
    "eventRaised": _event_raised,
    "genericEvent": _record_only,
    "historyState": _record_only,
    "continueAsNew": _record_only,
    "executionSuspended": _execution_suspended,
    "executionResumed": _execution_resumed,
    "entityOperationSignaled": _entity_event,
    "entityOperationCalled": _entity_event,
    "entityOperationCompleted": _entity_event,
    "entityOperationFailed": _entity_event,
    "entityLockRequested": _entity_event,
    "entityLockGranted": _entity_event,
    "entityUnlockSent": _entity_event,
    "executionRewound": _execution_rewound,
}

#: Kinds that still apply while an execution is suspended; everything else waits for resume.
UNSUSPENDABLE = frozenset({"executionResumed", "executionTerminated"})
