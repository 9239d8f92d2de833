"""Which received control messages an orchestration episode may see.

Decided per instance from its row, its stored history and the batch:

- ExecutionStarted for execution X:
  * no instance row: run it (a sub-orchestration start, or a client start whose row write
    never happened) and start a fresh history;
  * the row names X: run it, unless the history already holds X's start (a duplicate);
  * the row names another execution Y that is still Pending: drop X (a later start of the
    same id replaced it);
  * the row names Y that ran already: X is newer than Y's row only when a start crashed
    between enqueueing and writing the row: run it (new execution); otherwise drop it.
  Only the first runnable start of a batch runs; other starts are dropped as duplicates.
- Other messages: dropped when they name an execution other than the one that will run,
  and results (task, sub-orchestration, timer) whose id already has a result in the
  history, or earlier in the batch, are dropped as duplicates (redelivery after a crash
  between the history write and the message delete).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..._proto import pb
from ...core.model import FailureDetails, InstanceState, TaskMessage
from ...core.status import OrchestrationStatus
from .json_values import timestamp_to_datetime
from .message_queue import ReceivedMessage

_RESULT_KINDS = {
    "taskCompleted": ("task", "taskScheduledId"),
    "taskFailed": ("task", "taskScheduledId"),
    "subOrchestrationInstanceCompleted": ("sub", "taskScheduledId"),
    "subOrchestrationInstanceFailed": ("sub", "taskScheduledId"),
    "timerFired": ("timer", "timerId"),
}


@dataclass(slots=True)
class Selection:
    runnable: list[ReceivedMessage] = field(default_factory=list)
    dropped: list[tuple[ReceivedMessage, str]] = field(default_factory=list)
    new_execution: bool = False
    execution_id: str | None = None


def _result_key(event: pb.HistoryEvent) -> tuple[str, int] | None:
    kind = event.WhichOneof("eventType") or ""
    spec = _RESULT_KINDS.get(kind)
    if spec is None:
        return None
    group, attr = spec
    return group, int(getattr(getattr(event, kind), attr))


def _start_verdict(
    message: TaskMessage, state: InstanceState | None, history_execution: str | None, history: list[pb.HistoryEvent]
) -> tuple[bool, str]:
    execution = message.execution_id or message.event.executionStarted.orchestrationInstance.executionId.value
    if state is None:
        return True, ""
    if state.execution_id == execution:
        started = history_execution == execution and any(e.HasField("executionStarted") for e in history)
        return (False, "duplicate start: the history already holds it") if started else (True, "")
    if state.status is OrchestrationStatus.PENDING:
        return False, f"superseded by the start of execution {state.execution_id}"
    sent_at = timestamp_to_datetime(message.event.timestamp)
    if sent_at > state.created_at:
        return True, ""
    return False, f"older than the current execution {state.execution_id}"


def select_messages(
    messages: list[ReceivedMessage],
    state: InstanceState | None,
    history_execution: str | None,
    history: list[pb.HistoryEvent],
) -> Selection:
    """Split a batch into messages to run and messages to drop (with the reason)."""
    sel = Selection()
    start: ReceivedMessage | None = None
    for m in messages:
        if m.task_message.event.HasField("executionStarted"):
            ok, why = _start_verdict(m.task_message, state, history_execution, history)
            if ok and start is None:
                start = m
            else:
                sel.dropped.append((m, why or "a second start in one batch"))
    if start is not None:
        sel.execution_id = start.task_message.execution_id
        sel.new_execution = history_execution != sel.execution_id
        sel.runnable.append(start)
    else:
        sel.execution_id = state.execution_id if state is not None else None
    seen: set[tuple[str, int]] = set()
    if not sel.new_execution:
        seen = {k for k in map(_result_key, history) if k is not None}
    for m in messages:
        task = m.task_message
        if task.event.HasField("executionStarted"):
            continue
        if task.execution_id and sel.execution_id and task.execution_id != sel.execution_id:
            sel.dropped.append((m, f"addressed to execution {task.execution_id}, not {sel.execution_id}"))
            continue
        key = _result_key(task.event)
        if key is not None:
            if key in seen:
                sel.dropped.append((m, f"duplicate {key[0]} result for id {key[1]}"))
                continue
            seen.add(key)
        sel.runnable.append(m)
    return sel


def row_behind_history(state: InstanceState | None, history_execution: str | None, history: list[pb.HistoryEvent]) -> bool:
    """True when a checkpoint stored the history but not the row (crash or lost race between
    the two writes): the row still says Pending for an execution the history has started."""
    return (
        state is not None
        and state.status is OrchestrationStatus.PENDING
        and history_execution == state.execution_id
        and any(e.HasField("executionStarted") for e in history)
    )


def state_from_history(state: InstanceState, history: list[pb.HistoryEvent], now: datetime) -> InstanceState:
    """The row ``state`` brought up to what ``history`` records (Running, or how it ended)."""
    completed = next((e.executionCompleted for e in reversed(history) if e.HasField("executionCompleted")), None)
    if completed is None:
        return state.evolve(status=OrchestrationStatus.RUNNING, last_updated_at=now)
    failure = FailureDetails.from_pb(completed.failureDetails) if completed.HasField("failureDetails") else None
    return state.evolve(
        status=OrchestrationStatus(int(completed.orchestrationStatus)),
        output=completed.result.value if completed.HasField("result") else None,
        failure=failure,
        completed_at=now,
        last_updated_at=now,
    )
