"""Which of a locked batch's messages an episode sees, and the OrchestratorRequest it runs on.

Pure decisions (no I/O), applied to every orchestration work item before anything runs:

- A message naming an execution other than the current one is stale (a timer or a result
  of an execution that continued as new, was restarted or replaced): dropped.
- Messages to a finished instance (Completed, Failed, Terminated, Canceled) are dropped,
  except executionStarted (a new execution: create, restart, a sub-orchestration id used
  again) and executionRewound of a Failed instance.
- executionStarted starts an instance that has no started execution (a fresh row, or no row
  at all for a sub-orchestration). A second start of a running execution is dropped; when it
  came from a parent orchestration, the parent's task fails ("already running") so the
  parent does not wait forever.
- A result (taskCompleted/Failed, timerFired, sub-orchestration result) for a task that
  awaits none (every schedule of that id already has its result) is a duplicate (queues
  deliver at least once): dropped. Retries reuse the action id, hence counting.
- executionRewound of a Failed instance rewrites its history: the failed task results, the
  taskScheduled of failed activities, failed sub-orchestration results and the failed
  executionCompleted are removed, so replay schedules the failed activities again; each
  failed sub-orchestration is sent an executionRewound too. The episode then continues.
- Messages before the instance's executionStarted (events raised at a scheduled instance)
  are deferred; a terminate of an instance that never started terminates it directly.
- Messages to an instance that has no row and no start are held back (``UNKNOWN``); the
  dispatcher discards them after a few deliveries, as DurableTask.AzureStorage discards
  messages to an instance that does not exist.
- Messages ahead of an accepted start in the batch (queues do not keep order; an event held
  back until the start arrived) follow the start.

The request's ``newEvents`` begin with orchestratorStarted stamped ``now``.
"""
from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..._proto import pb
from ...core.episode import find_execution_started
from ...core.model import FailureDetails, InstanceState, OrchestrationCheckpoint, TaskMessage
from ...core.status import OrchestrationStatus
from ...protocol.convert import set_timestamp
from ...storage.service import OrchestrationWorkItem

_RESULT_KEYS = {
    "taskCompleted": lambda e: ("task", e.taskCompleted.taskScheduledId),
    "taskFailed": lambda e: ("task", e.taskFailed.taskScheduledId),
    "subOrchestrationInstanceCompleted": lambda e: ("task", e.subOrchestrationInstanceCompleted.taskScheduledId),
    "subOrchestrationInstanceFailed": lambda e: ("task", e.subOrchestrationInstanceFailed.taskScheduledId),
    "timerFired": lambda e: ("timer", e.timerFired.timerId),
}
_SCHEDULE_KEYS = {
    "taskScheduled": lambda e: ("task", e.eventId),
    "subOrchestrationInstanceCreated": lambda e: ("task", e.eventId),
    "timerCreated": lambda e: ("timer", e.eventId),
}


class PlanKind(enum.Enum):
    RUN = "run"  # run the orchestrator on ``request``
    CHECKPOINT = "checkpoint"  # store ``checkpoint`` without running anything
    DISCARD = "discard"  # nothing to do: remove the messages, change nothing
    DEFER = "defer"  # messages arrived before the start: put them back for later
    UNKNOWN = "unknown"  # messages to an instance that does not exist


@dataclass(slots=True)
class EpisodePlan:
    kind: PlanKind
    request: pb.OrchestratorRequest | None = None
    #: The history ``request`` runs on, as event objects.
    past_events: Sequence[pb.HistoryEvent] = ()
    #: ``past_events`` encoded as ``pastEvents`` entries when the provider kept them so;
    #: ``request`` then leaves them out (see ``full_request``).
    past_events_wire: bytes | None = None
    replaced_history: bool = False
    checkpoint: OrchestrationCheckpoint | None = None
    extra_messages: list[TaskMessage] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (event kind, reason)
    name: str = ""  # the orchestrator (from executionStarted) of a RUN plan
    version: str | None = None

    def full_request(self) -> pb.OrchestratorRequest:
        """``request`` with its past events in it, for runners that need the message whole
        (one parse of ``past_events_wire``, done at most once)."""
        assert self.request is not None
        if self.past_events_wire is not None:
            self.request.MergeFromString(self.past_events_wire)
            self.past_events_wire = None
        return self.request


def _stamped(now: datetime) -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=-1)
    set_timestamp(event.timestamp, now)
    return event


def _start_execution_id(message: TaskMessage) -> str:
    return message.execution_id or message.event.executionStarted.orchestrationInstance.executionId.value


def _awaiting_results(events: Sequence[pb.HistoryEvent], wanted: set[tuple[str, int]]) -> Counter[tuple[str, int]]:
    """How many results each ``wanted`` (kind, id) still expects (schedules minus results;
    retries reuse an action id), read from the end of the history.

    A result always follows its schedule, and an id is scheduled again only after its
    previous schedule was answered (a retry), so every schedule before the latest one of a
    key has its result: what the key still expects is 1 minus the results after its latest
    schedule. The scan stops once every wanted key's latest schedule is found, so an
    episode in a long history costs the stretch since its actions were scheduled, not the
    whole history (a sequence of N activities would otherwise cost N^2 overall).
    """
    after: Counter[tuple[str, int]] = Counter()
    awaiting: Counter[tuple[str, int]] = Counter()
    if not wanted:
        return awaiting
    missing = set(wanted)
    for event in reversed(events):
        kind = event.WhichOneof("eventType") or ""
        schedule = _SCHEDULE_KEYS.get(kind)
        if schedule is not None:
            key = schedule(event)
            if key in missing:
                missing.discard(key)
                awaiting[key] = 1 - after[key]
                if not missing:
                    break
            continue
        result = _RESULT_KEYS.get(kind)
        if result is not None:
            after[result(event)] += 1
    for key in missing:  # never scheduled: only the (stray) results count
        awaiting[key] = -after[key]
    return awaiting


def rewind_history(
    events: Sequence[pb.HistoryEvent], now: datetime, reason: pb.ExecutionRewoundEvent
) -> tuple[list[pb.HistoryEvent], list[TaskMessage]]:
    """The history with the failure taken out, and executionRewound messages for failed
    sub-orchestrations (see the module docstring)."""
    failed_tasks = {e.taskFailed.taskScheduledId for e in events if e.HasField("taskFailed")}
    failed_children = {
        e.subOrchestrationInstanceFailed.taskScheduledId for e in events if e.HasField("subOrchestrationInstanceFailed")
    }
    started = find_execution_started(events)
    kept: list[pb.HistoryEvent] = []
    messages: list[TaskMessage] = []
    for event in events:
        kind = event.WhichOneof("eventType")
        if kind in ("taskFailed", "subOrchestrationInstanceFailed", "executionCompleted"):
            continue
        if kind == "taskScheduled" and event.eventId in failed_tasks:
            continue
        if kind == "subOrchestrationInstanceCreated" and event.eventId in failed_children:
            child = _stamped(now)
            child.executionRewound.CopyFrom(reason)
            child.executionRewound.instanceId.value = event.subOrchestrationInstanceCreated.instanceId
            if started is not None:
                child.executionRewound.parentExecutionId.value = started.orchestrationInstance.executionId.value
            messages.append(TaskMessage(event.subOrchestrationInstanceCreated.instanceId, None, child))
        kept.append(event)
    return kept, messages


def _already_running(message: TaskMessage, now: datetime) -> TaskMessage | None:
    started = message.event.executionStarted
    if not started.HasField("parentInstance"):
        return None
    parent = started.parentInstance
    reply = _stamped(now)
    reply.subOrchestrationInstanceFailed.taskScheduledId = parent.taskScheduledId
    reply.subOrchestrationInstanceFailed.failureDetails.CopyFrom(
        FailureDetails(
            error_type="OrchestrationAlreadyExists",
            message=f"an orchestration with instance id {message.instance_id!r} is already running",
        ).to_pb()
    )
    execution = parent.orchestrationInstance.executionId.value or None
    return TaskMessage(parent.orchestrationInstance.instanceId, execution, reply)


def _accepts_start(
    state: InstanceState | None, started: pb.ExecutionStartedEvent | None, finished: bool, start_execution: str
) -> bool:
    if state is None:
        return started is None
    if finished:  # a new execution over a finished instance; never the one that finished
        return state.execution_id != start_execution
    return started is None and state.execution_id in ("", start_execution)


def plan_episode(item: OrchestrationWorkItem, now: datetime) -> EpisodePlan:
    """Decide what the locked batch ``item`` becomes (see the module docstring)."""
    state = item.state
    history: list[pb.HistoryEvent] = list(item.past_events)
    history_is_items = True  # until a new execution or a rewind replaces it
    started = find_execution_started(history)
    finished = state is not None and state.status.is_terminal
    execution = state.execution_id if state is not None else (
        started.orchestrationInstance.executionId.value if started is not None else ""
    )
    plan = EpisodePlan(PlanKind.RUN)
    kept: list[pb.HistoryEvent] = []
    wanted = {
        _RESULT_KEYS[kind](m.event)
        for m in item.new_messages
        if (kind := m.event.WhichOneof("eventType") or "") in _RESULT_KEYS
    }
    awaiting = _awaiting_results(history, wanted)

    for message in item.new_messages:
        event = message.event
        kind = event.WhichOneof("eventType") or "(none)"
        if kind == "executionStarted":
            start_execution = _start_execution_id(message)
            if _accepts_start(state, started, finished, start_execution):
                plan.replaced_history = bool(history)
                history, started, finished, execution = [], event.executionStarted, False, start_execution
                history_is_items = False
                awaiting = Counter()
                # What came ahead of the start in this batch (queues do not keep order; an
                # event held back until the start arrived) was sent to this instance before
                # it ran: it follows the start.
                kept = [event, *kept]
                continue
            if finished:
                plan.dropped.append((kind, f"execution {start_execution} already ran"))
                continue
            plan.dropped.append((kind, "the instance is already running"))
            if start_execution != execution:
                reply = _already_running(message, now)
                if reply is not None:
                    plan.extra_messages.append(reply)
            continue
        if kind == "executionRewound":
            if state is not None and state.status is OrchestrationStatus.FAILED and finished and started is not None:
                history, children = rewind_history(history, now, event.executionRewound)
                history_is_items = False
                plan.extra_messages.extend(children)
                plan.replaced_history = True
                finished = False
                awaiting = _awaiting_results(history, wanted)
                kept.append(event)
            else:
                plan.dropped.append((kind, "only a Failed instance can be rewound"))
            continue
        if message.execution_id and execution and message.execution_id != execution:
            plan.dropped.append((kind, f"stale execution {message.execution_id}"))
            continue
        if finished:
            plan.dropped.append((kind, f"the instance is {state.status.durable_name}"))  # type: ignore[union-attr]
            continue
        key_of = _RESULT_KEYS.get(kind)
        if key_of is not None:
            key = key_of(event)
            if awaiting[key] <= 0:
                plan.dropped.append((kind, f"no {key[0]} {key[1]} awaits a result (duplicate)"))
                continue
            awaiting[key] -= 1
        kept.append(event)

    if started is None:
        return _before_start(plan, state, kept, now)
    if not kept:
        plan.kind = PlanKind.DISCARD
        return plan
    opening = _stamped(now)
    opening.orchestratorStarted.SetInParent()
    request = pb.OrchestratorRequest(instanceId=item.instance_id)
    if item.past_events_wire is not None and history_is_items:
        # Kept encoded: a worker stream sends these bytes as they are, other runners parse
        # them once (full_request); copying the events in would cost ~1.3 us each.
        plan.past_events_wire = item.past_events_wire
    else:
        # extend() copies a list of events about twice as fast as the constructor does.
        request.pastEvents.extend(history)
    plan.past_events = history
    request.newEvents.append(opening)
    request.newEvents.extend(kept)
    if execution:
        request.executionId.value = execution
    plan.request = request
    plan.name = started.name
    plan.version = started.version.value if started.HasField("version") else None
    return plan


def _before_start(
    plan: EpisodePlan, state: InstanceState | None, kept: list[pb.HistoryEvent], now: datetime
) -> EpisodePlan:
    if state is None:
        plan.kind = PlanKind.UNKNOWN if kept else PlanKind.DISCARD
        return plan
    terminate = next((e for e in kept if e.HasField("executionTerminated")), None)
    if terminate is not None and not state.status.is_terminal:
        reason = terminate.executionTerminated.input.value if terminate.executionTerminated.HasField("input") else None
        plan.kind = PlanKind.CHECKPOINT
        plan.checkpoint = OrchestrationCheckpoint(
            state=state.evolve(
                status=OrchestrationStatus.TERMINATED, output=reason, last_updated_at=now, completed_at=now
            )
        )
        return plan
    plan.kind = PlanKind.DEFER if kept else PlanKind.DISCARD
    return plan
