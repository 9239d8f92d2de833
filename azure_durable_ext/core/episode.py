"""One orchestration episode, translated into what storage must record (pure, no I/O).

An episode is one run of the orchestrator over ``OrchestratorRequest`` (the history so far in
``pastEvents``; ``newEvents`` beginning with ``orchestratorStarted``, whose timestamp is the
episode's "now"). The orchestrator answers with an ``OrchestratorResponse`` of actions. This
module turns (instance state, request, response) into an ``OrchestrationCheckpoint``:

History appended, in DurableTask.Core's order: the request's ``newEvents`` (starting with
orchestratorStarted), one confirmation per action (its ``eventId`` is the action id), the
``executionCompleted`` of a finished execution, then ``orchestratorCompleted``.

Actions and what they produce:

- scheduleTask -> ``taskScheduled`` + the same event as an activity message.
- createTimer -> ``timerCreated`` + a ``timerFired{fireAt, timerId}`` message to this
  execution, invisible until ``fireAt``.
- createSubOrchestration -> ``subOrchestrationInstanceCreated`` + an ``executionStarted``
  message to the child (new execution id; ``parentInstance`` names this execution and the
  action id as ``taskScheduledId``). An empty child id becomes ``"{parent}:{id:04x}"``.
- sendEvent -> ``eventSent`` + an ``eventRaised`` message to the target.
- terminateOrchestration -> an ``executionTerminated`` message to the target (no history).
- completeOrchestration Completed / Failed / Terminated -> ``executionCompleted``; when the
  instance has a parent, ``subOrchestrationInstanceCompleted`` (Completed) or
  ``subOrchestrationInstanceFailed`` (anything else, so a parent never waits forever on a
  terminated child) to the parent. A recursive terminate also terminates the children that
  have not reported back.
- completeOrchestration ContinuedAsNew -> a new execution: history replaced by nothing
  (``new_execution``), an ``executionStarted`` message (new execution id, new input, the
  ``newVersion`` when given) and the carryover events as messages to the new execution,
  exactly as a freshly created instance starts. Other actions of the ending execution are
  dropped except sendEvent / terminateOrchestration (their effect does not report back).
- rewindOrchestration -> history replaced by ``newHistory``; a ``genericEvent`` message to
  the instance wakes it so the replay schedules the failed work again.

An action this sidecar cannot carry out (entity messages, an unknown kind, a malformed one)
fails the orchestration with errorType ``InvalidOrchestratorAction`` instead of raising: a
worker that keeps answering the same way would otherwise loop forever.

New instance state: Running; Completed / Failed (with failure details) / Terminated when the
execution finished; Running of the new execution after continue-as-new; Suspended when the
last executionSuspended of the history is not followed by an executionResumed. Output,
custom status, last-updated and completed timestamps come from the episode.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import cast

from google.protobuf.timestamp_pb2 import Timestamp

from .._proto import pb
from .errors import InvalidArgumentError
from .instance_ids import random_guid_hex
from .model import FailureDetails, InstanceState, OrchestrationCheckpoint, TaskMessage
from .status import OrchestrationStatus

INVALID_ACTION_ERROR = "InvalidOrchestratorAction"
#: The error type of an execution stopped by maxOrchestrationActions (the extension throws this).
TOO_MANY_ACTIONS_ERROR = "System.InvalidOperationException"
#: History events that record an action the orchestrator took (what maxOrchestrationActions counts).
_ACTION_EVENTS = frozenset({"taskScheduled", "timerCreated", "subOrchestrationInstanceCreated", "eventSent"})
_COUNTED_ACTIONS = frozenset({"scheduleTask", "createTimer", "createSubOrchestration", "sendEvent"})
_FINISHING_STATUSES = {
    pb.ORCHESTRATION_STATUS_COMPLETED: OrchestrationStatus.COMPLETED,
    pb.ORCHESTRATION_STATUS_FAILED: OrchestrationStatus.FAILED,
    pb.ORCHESTRATION_STATUS_TERMINATED: OrchestrationStatus.TERMINATED,
    pb.ORCHESTRATION_STATUS_CANCELED: OrchestrationStatus.CANCELED,
}
_RESULT_KINDS = ("subOrchestrationInstanceCompleted", "subOrchestrationInstanceFailed")


def new_execution_id() -> str:
    """A new execution id: a random GUID in "N" format."""
    return random_guid_hex()


def default_sub_orchestration_id(parent_instance_id: str, action_id: int) -> str:
    """The id a sub-orchestration gets when its creator names none."""
    return f"{parent_instance_id}:{action_id:04x}"


def episode_time(request: pb.OrchestratorRequest) -> datetime:
    """The episode's "now": the timestamp of the orchestratorStarted opening ``newEvents``."""
    if not request.newEvents or request.newEvents[0].WhichOneof("eventType") != "orchestratorStarted":
        raise InvalidArgumentError(
            f"the episode of {request.instanceId!r} must begin with an orchestratorStarted event"
        )
    return request.newEvents[0].timestamp.ToDatetime(tzinfo=timezone.utc)


def find_execution_started(events: Iterable[pb.HistoryEvent]) -> pb.ExecutionStartedEvent | None:
    """The first executionStarted among ``events``, or None."""
    for event in events:
        if event.WhichOneof("eventType") == "executionStarted":
            return event.executionStarted
    return None


def is_suspended(events: Iterable[pb.HistoryEvent], *, initially: bool = False) -> bool:
    """Whether the last suspend among ``events`` is not followed by a resume (``initially``:
    whether the execution was suspended before these events)."""
    suspended = initially
    for event in events:
        kind = event.WhichOneof("eventType")
        if kind == "executionSuspended":
            suspended = True
        elif kind == "executionResumed":
            suspended = False
    return suspended


class _Chained(Sequence[pb.HistoryEvent]):
    """Past and new events read as one sequence, without copying either."""

    def __init__(self, first: Sequence[pb.HistoryEvent], second: Sequence[pb.HistoryEvent]) -> None:
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def __getitem__(self, index: int) -> pb.HistoryEvent:  # type: ignore[override]
        return self._first[index] if index < len(self._first) else self._second[index - len(self._first)]

    def __iter__(self) -> Iterator[pb.HistoryEvent]:
        yield from self._first
        yield from self._second


class _InvalidAction(Exception):
    """An action this sidecar cannot apply; the orchestration fails with this message."""


@dataclass(slots=True)
class _Completion:
    status: OrchestrationStatus
    output: str | None
    failure: FailureDetails | None


@dataclass(slots=True)
class _Episode:
    """Accumulates one episode's outputs while the actions are applied."""

    instance_id: str
    execution_id: str
    started: pb.ExecutionStartedEvent
    now: datetime
    all_events: Sequence[pb.HistoryEvent]
    new_events: Sequence[pb.HistoryEvent]
    make_execution_id: Callable[[], str]
    stamp: Timestamp
    events: list[pb.HistoryEvent] = field(default_factory=list)
    activity_messages: list[TaskMessage] = field(default_factory=list)
    orchestrator_messages: list[TaskMessage] = field(default_factory=list)
    completion: _Completion | None = None
    new_execution: bool = False
    next_state: InstanceState | None = None

    def event(self, event_id: int = -1) -> pb.HistoryEvent:
        """A new history event stamped with the episode's time."""
        event = pb.HistoryEvent(eventId=event_id)
        event.timestamp.CopyFrom(self.stamp)
        return event

    def to_self(self, event: pb.HistoryEvent, visible_at: datetime | None = None) -> None:
        self.orchestrator_messages.append(TaskMessage(self.instance_id, self.execution_id, event, visible_at))


# -- actions -------------------------------------------------------------------------------


def _copy_set_fields(target: object, source: object, *names: str) -> None:
    """Copy the message fields of ``source`` that are set, and its tags, onto ``target``."""
    for name in names:
        if source.HasField(name):  # type: ignore[attr-defined]
            getattr(target, name).CopyFrom(getattr(source, name))
    if source.tags:  # type: ignore[attr-defined]
        target.tags.update(source.tags)  # type: ignore[attr-defined]


def _schedule_task(ep: _Episode, action_id: int, action: pb.ScheduleTaskAction) -> None:
    if not action.name:
        raise _InvalidAction(f"scheduleTask action {action_id} has no activity name")
    event = ep.event(action_id)
    scheduled = event.taskScheduled
    scheduled.name = action.name
    _copy_set_fields(scheduled, action, "version", "input", "parentTraceContext")
    ep.events.append(event)
    ep.activity_messages.append(TaskMessage(ep.instance_id, ep.execution_id, event))


def _create_timer(ep: _Episode, action_id: int, action: pb.CreateTimerAction) -> None:
    if not action.HasField("fireAt"):
        raise _InvalidAction(f"createTimer action {action_id} has no fireAt time")
    created = ep.event(action_id)
    created.timerCreated.fireAt.CopyFrom(action.fireAt)
    ep.events.append(created)
    fired = ep.event()
    fired.timerFired.fireAt.CopyFrom(action.fireAt)
    fired.timerFired.timerId = action_id
    ep.to_self(fired, action.fireAt.ToDatetime(tzinfo=timezone.utc))


def _create_sub_orchestration(ep: _Episode, action_id: int, action: pb.CreateSubOrchestrationAction) -> None:
    if not action.name:
        raise _InvalidAction(f"createSubOrchestration action {action_id} has no orchestrator name")
    child_id = action.instanceId or default_sub_orchestration_id(ep.instance_id, action_id)
    created = ep.event(action_id)
    record = created.subOrchestrationInstanceCreated
    record.instanceId = child_id
    record.name = action.name
    _copy_set_fields(record, action, "version", "input", "parentTraceContext")
    ep.events.append(created)

    child_execution = ep.make_execution_id()
    start = ep.event()
    started = start.executionStarted
    started.name = action.name
    _copy_set_fields(started, action, "version", "input", "parentTraceContext")
    started.orchestrationInstance.instanceId = child_id
    started.orchestrationInstance.executionId.value = child_execution
    parent = started.parentInstance
    parent.taskScheduledId = action_id
    parent.name.value = ep.started.name
    if ep.started.HasField("version"):
        parent.version.CopyFrom(ep.started.version)
    parent.orchestrationInstance.instanceId = ep.instance_id
    parent.orchestrationInstance.executionId.value = ep.execution_id
    ep.orchestrator_messages.append(TaskMessage(child_id, child_execution, start))


def _send_event(ep: _Episode, action_id: int, action: pb.SendEventAction) -> None:
    target = action.instance.instanceId
    if not target or not action.name:
        raise _InvalidAction(f"sendEvent action {action_id} needs a target instance id and an event name")
    sent = ep.event(action_id)
    sent.eventSent.instanceId = target
    sent.eventSent.name = action.name
    if action.HasField("data"):
        sent.eventSent.input.CopyFrom(action.data)
    ep.events.append(sent)
    raised = ep.event()
    raised.eventRaised.name = action.name
    if action.HasField("data"):
        raised.eventRaised.input.CopyFrom(action.data)
    target_execution = action.instance.executionId.value if action.instance.HasField("executionId") else None
    ep.orchestrator_messages.append(TaskMessage(target, target_execution or None, raised))


def _terminate_other(ep: _Episode, action_id: int, action: pb.TerminateOrchestrationAction) -> None:
    if not action.instanceId:
        raise _InvalidAction(f"terminateOrchestration action {action_id} has no target instance id")
    ep.orchestrator_messages.append(_terminate_message(ep, action.instanceId, action.reason if action.HasField("reason") else None, action.recurse))


def _terminate_message(ep: _Episode, target: str, reason: object, recurse: bool) -> TaskMessage:
    event = ep.event()
    event.executionTerminated.recurse = recurse
    if reason is not None:
        event.executionTerminated.input.CopyFrom(reason)  # type: ignore[arg-type]
    return TaskMessage(target, None, event)


def _complete(ep: _Episode, action_id: int, action: pb.CompleteOrchestrationAction) -> None:
    if action.orchestrationStatus == pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW:
        _continue_as_new(ep, action)
        return
    status = _FINISHING_STATUSES.get(action.orchestrationStatus)
    if status is None:
        raise _InvalidAction(
            f"completeOrchestration action {action_id} has status "
            f"{pb.OrchestrationStatus.Name(action.orchestrationStatus)}, which does not end an execution"
        )
    output = action.result.value if action.HasField("result") else None
    failure = FailureDetails.from_pb(action.failureDetails) if action.HasField("failureDetails") else None
    if status is OrchestrationStatus.FAILED and failure is None:
        failure = FailureDetails(error_type="OrchestrationFailed", message=action.details.value or "the orchestration failed")
    _finish(ep, action_id, status, output, failure)


def _finish(
    ep: _Episode, event_id: int, status: OrchestrationStatus, output: str | None, failure: FailureDetails | None
) -> None:
    done = ep.event(event_id)
    completed = done.executionCompleted
    completed.orchestrationStatus = cast(pb.OrchestrationStatus, status.value)  # our values are the wire numbers
    if output is not None:
        completed.result.value = output
    if failure is not None:
        completed.failureDetails.CopyFrom(failure.to_pb())
    ep.events.append(done)
    ep.completion = _Completion(status, output, failure)
    _notify_parent(ep, status, output, failure)
    if status is OrchestrationStatus.TERMINATED and _recursive_terminate(ep.all_events):
        for child in _children_without_result(ep.all_events):
            ep.orchestrator_messages.append(_terminate_message(ep, child, None, True))


def _notify_parent(ep: _Episode, status: OrchestrationStatus, output: str | None, failure: FailureDetails | None) -> None:
    if not ep.started.HasField("parentInstance"):
        return
    parent = ep.started.parentInstance
    event = ep.event()
    if status is OrchestrationStatus.COMPLETED:
        event.subOrchestrationInstanceCompleted.taskScheduledId = parent.taskScheduledId
        if output is not None:
            event.subOrchestrationInstanceCompleted.result.value = output
    else:
        event.subOrchestrationInstanceFailed.taskScheduledId = parent.taskScheduledId
        reason = failure or FailureDetails(
            error_type=f"Orchestration{status.durable_name}",
            message=f"sub-orchestration {ep.instance_id!r} was {status.durable_name.lower()}"
            + (f": {output}" if output else ""),
        )
        event.subOrchestrationInstanceFailed.failureDetails.CopyFrom(reason.to_pb())
    execution = parent.orchestrationInstance.executionId.value if parent.orchestrationInstance.HasField("executionId") else None
    ep.orchestrator_messages.append(TaskMessage(parent.orchestrationInstance.instanceId, execution or None, event))


def _recursive_terminate(events: Sequence[pb.HistoryEvent]) -> bool:
    return any(e.WhichOneof("eventType") == "executionTerminated" and e.executionTerminated.recurse for e in events)


def _children_without_result(events: Sequence[pb.HistoryEvent]) -> list[str]:
    children: dict[int, str] = {}
    for event in events:
        kind = event.WhichOneof("eventType")
        if kind == "subOrchestrationInstanceCreated":
            children[event.eventId] = event.subOrchestrationInstanceCreated.instanceId
        elif kind in _RESULT_KINDS:
            children.pop(getattr(event, kind).taskScheduledId, None)
    return list(children.values())


def _continue_as_new(ep: _Episode, action: pb.CompleteOrchestrationAction) -> None:
    execution_id = ep.make_execution_id()
    start = ep.event()
    started = start.executionStarted
    started.CopyFrom(ep.started)
    started.ClearField("input")
    if action.HasField("result"):
        started.input.CopyFrom(action.result)
    if action.HasField("newVersion") and action.newVersion.value:
        started.version.CopyFrom(action.newVersion)
    started.orchestrationInstance.instanceId = ep.instance_id
    started.orchestrationInstance.executionId.value = execution_id
    started.ClearField("scheduledStartTimestamp")
    # The ending execution's other actions would report to an execution that no longer
    # exists; only effects that never report back survive.
    ep.events.clear()
    ep.activity_messages.clear()
    ep.orchestrator_messages[:] = [
        m for m in ep.orchestrator_messages if m.event.WhichOneof("eventType") in ("eventRaised", "executionTerminated")
        and m.instance_id != ep.instance_id
    ]
    ep.orchestrator_messages.append(TaskMessage(ep.instance_id, execution_id, start))
    for carried in action.carryoverEvents:
        event = pb.HistoryEvent()
        event.CopyFrom(carried)
        event.eventId = -1
        event.timestamp.CopyFrom(ep.stamp)
        ep.orchestrator_messages.append(TaskMessage(ep.instance_id, execution_id, event))
    ep.new_execution = True
    ep.completion = _Completion(OrchestrationStatus.CONTINUED_AS_NEW, None, None)
    ep.next_state = _state_of_execution(ep.instance_id, started, execution_id, ep.now)


def _rewind(ep: _Episode, action_id: int, action: pb.RewindOrchestrationAction) -> None:
    started = find_execution_started(action.newHistory)
    if started is None:
        raise _InvalidAction(f"rewindOrchestration action {action_id} has no executionStarted in its new history")
    ep.events[:] = list(action.newHistory)
    ep.activity_messages.clear()
    ep.orchestrator_messages.clear()
    execution_id = started.orchestrationInstance.executionId.value or ep.execution_id
    wake = ep.event()
    wake.genericEvent.data.value = "rewound"
    ep.orchestrator_messages.append(TaskMessage(ep.instance_id, execution_id, wake))
    ep.new_execution = True
    ep.completion = None
    ep.next_state = _state_of_execution(ep.instance_id, started, execution_id, ep.now)


_ACTIONS: dict[str, Callable[[_Episode, int, object], None]] = {
    "scheduleTask": _schedule_task,  # type: ignore[dict-item]
    "createTimer": _create_timer,  # type: ignore[dict-item]
    "createSubOrchestration": _create_sub_orchestration,  # type: ignore[dict-item]
    "sendEvent": _send_event,  # type: ignore[dict-item]
    "terminateOrchestration": _terminate_other,  # type: ignore[dict-item]
    "completeOrchestration": _complete,  # type: ignore[dict-item]
    "rewindOrchestration": _rewind,  # type: ignore[dict-item]
}


def _too_many_actions(
    events: Sequence[pb.HistoryEvent], actions: Sequence[pb.OrchestratorAction], max_actions: int | None
) -> str | None:
    """Durable Functions' maxOrchestrationActions: the message failing an execution whose
    actions so far plus this episode's would exceed ``max_actions``, else None."""
    if max_actions is None or len(events) + len(actions) <= max_actions:
        return None  # every action taken so far left an event: the sum bounds the count
    taken = sum(1 for e in events if e.WhichOneof("eventType") in _ACTION_EVENTS)
    taken += sum(1 for a in actions if a.WhichOneof("orchestratorActionType") in _COUNTED_ACTIONS)
    if taken <= max_actions:
        return None
    return (
        f"Maximum amount of orchestration actions ({max_actions}) has been reached. "
        "This value can be configured in host.json file as MaxOrchestrationActions."
    )


def _apply(ep: _Episode, actions: Iterable[pb.OrchestratorAction]) -> None:
    for action in actions:
        if ep.completion is not None and ep.completion.status is OrchestrationStatus.CONTINUED_AS_NEW:
            break
        kind = action.WhichOneof("orchestratorActionType")
        handler = _ACTIONS.get(kind or "")
        if handler is None:
            raise _InvalidAction(
                f"action {action.id} of kind {kind or '(none)'} is not supported by this sidecar"
                + (" (entities are not supported)" if kind == "sendEntityMessage" else "")
            )
        if ep.completion is not None and kind == "completeOrchestration":
            raise _InvalidAction(f"action {action.id} completes an execution that already completed")
        handler(ep, action.id, getattr(action, kind))


# -- state ---------------------------------------------------------------------------------


def _state_of_execution(
    instance_id: str, started: pb.ExecutionStartedEvent, execution_id: str, now: datetime
) -> InstanceState:
    parent = started.parentInstance.orchestrationInstance.instanceId if started.HasField("parentInstance") else None
    return InstanceState(
        instance_id=instance_id,
        name=started.name,
        version=started.version.value if started.HasField("version") else None,
        execution_id=execution_id,
        status=OrchestrationStatus.RUNNING,
        created_at=now,
        last_updated_at=now,
        input=started.input.value if started.HasField("input") else None,
        scheduled_start_at=(
            started.scheduledStartTimestamp.ToDatetime(tzinfo=timezone.utc)
            if started.HasField("scheduledStartTimestamp")
            else None
        ),
        tags=dict(started.tags),
        parent_instance_id=parent or None,
    )


def _suspended_after(ep: _Episode, previous: InstanceState | None) -> bool:
    # The row already says whether the execution was suspended before this episode, so only
    # the new events need reading (histories grow long; rows are ours and kept in step).
    if previous is None or previous.execution_id != ep.execution_id or previous.status not in (
        OrchestrationStatus.RUNNING,
        OrchestrationStatus.SUSPENDED,
    ):
        return is_suspended(ep.all_events)
    return is_suspended(ep.new_events, initially=previous.status is OrchestrationStatus.SUSPENDED)


def _next_state(
    ep: _Episode, previous: InstanceState | None, custom_status: str | None
) -> InstanceState:
    if ep.next_state is not None:  # continue-as-new or rewind: a fresh execution
        base = ep.next_state
        keep_from = previous
    elif previous is not None and previous.execution_id == ep.execution_id:
        base = previous
        keep_from = None
    else:
        base = _state_of_execution(ep.instance_id, ep.started, ep.execution_id, ep.now)
        keep_from = None
        if previous is not None:
            # A new execution over a finished instance (a sub-orchestration id reused).
            base = base.evolve(generation=previous.generation + 1)
    changes: dict[str, object] = {"last_updated_at": ep.now, "custom_status": custom_status}
    if keep_from is not None:
        changes.update(created_at=keep_from.created_at, generation=keep_from.generation)
    completion = ep.completion
    if completion is None or completion.status is OrchestrationStatus.CONTINUED_AS_NEW:
        suspended = ep.next_state is None and _suspended_after(ep, previous)
        changes.update(
            status=OrchestrationStatus.SUSPENDED if suspended else OrchestrationStatus.RUNNING,
            output=None,
            failure=None,
            completed_at=None,
        )
    else:
        changes.update(status=completion.status, output=completion.output, failure=completion.failure, completed_at=ep.now)
    return base.evolve(**changes)


# -- entry point ---------------------------------------------------------------------------


def checkpoint_episode(
    state: InstanceState | None,
    request: pb.OrchestratorRequest,
    response: pb.OrchestratorResponse,
    *,
    past_events: Sequence[pb.HistoryEvent] | None = None,
    replaced_history: bool = False,
    make_execution_id: Callable[[], str] = new_execution_id,
    max_actions: int | None = None,
) -> OrchestrationCheckpoint:
    """What storage must record for one episode.

    ``state`` is the instance row before the episode (None for an instance that has none
    yet, e.g. a sub-orchestration). ``replaced_history`` says the request's history is not
    the stored one (a new execution over a finished instance, a rewind's rewritten history):
    the checkpoint then replaces the stored history with the request's past events followed
    by this episode's events. Raises InvalidArgumentError only for a malformed *request* (no
    orchestratorStarted first, no executionStarted anywhere); a malformed *response* fails
    the orchestration instead, as does one taking the execution past ``max_actions``
    scheduling actions (host.json maxOrchestrationActions; its actions are not applied).
    ``past_events`` is the request's history when the request does not carry it itself (a
    request whose past events went to the worker encoded beside it).
    """
    past = request.pastEvents if past_events is None else past_events
    now = episode_time(request)
    all_events = _Chained(past, request.newEvents)
    started = find_execution_started(past) or find_execution_started(request.newEvents)
    if started is None:
        raise InvalidArgumentError(f"the history of {request.instanceId!r} has no executionStarted event")
    execution_id = (
        request.executionId.value
        if request.HasField("executionId") and request.executionId.value
        else started.orchestrationInstance.executionId.value
    )

    def attempt(actions: Iterable[pb.OrchestratorAction]) -> _Episode:
        ep = _Episode(
            request.instanceId,
            execution_id,
            started,
            now,
            all_events,
            request.newEvents,
            make_execution_id,
            request.newEvents[0].timestamp,
        )
        ep.events.extend(request.newEvents)
        _apply(ep, actions)
        return ep

    too_many = _too_many_actions(all_events, response.actions, max_actions)
    if too_many is not None:
        ep = attempt(())
        _finish(ep, -1, OrchestrationStatus.FAILED, None, FailureDetails(error_type=TOO_MANY_ACTIONS_ERROR, message=too_many))
    else:
        try:
            ep = attempt(response.actions)
        except _InvalidAction as exc:
            ep = attempt(())
            _finish(ep, -1, OrchestrationStatus.FAILED, None, FailureDetails(error_type=INVALID_ACTION_ERROR, message=str(exc)))
    custom_status = response.customStatus.value if response.HasField("customStatus") else None
    next_state = _next_state(ep, state, custom_status)
    if not ep.new_execution:
        ep.events.append(ep.event())
        ep.events[-1].orchestratorCompleted.SetInParent()
        if replaced_history:  # the stored history gives way to the request's (rewritten) one
            ep.events[:0] = list(past)
    return OrchestrationCheckpoint(
        state=next_state,
        new_events=ep.events,
        new_execution=ep.new_execution or replaced_history,
        activity_messages=ep.activity_messages,
        orchestrator_messages=ep.orchestrator_messages,
    )
