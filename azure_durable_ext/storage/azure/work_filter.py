"""Which received control messages an orchestration episode may see.

Decided per instance from its row, its stored history and the batch:

- ExecutionStarted for execution X (a start enqueues X before it writes the row):
  * no instance row: run it (a sub-orchestration start, a start whose row write is in
    flight, or one whose process died before writing the row) with a fresh history;
  * the row names X: run it, unless the history already holds X's start (a duplicate);
  * the row names another execution Y created at or after X was sent: drop X (a later
    start of the same id won);
  * the row names Y created before X was sent and Y has finished: run X as a new
    execution (a start over a finished instance, in flight or orphaned by a crash);
  * the row names Y created before X was sent and Y has not finished: defer X (hide it
    with the abandon backoff). The start that sent X is probably still deciding (it deletes
    X if the dedupe policy refuses it, or replaces the row); once X has been deferred
    ``ORPHAN_DEFERRALS`` times it is an orphan of a crashed start and runs.
  * X was refused (dedupe) after a poller had received it: drop it.
  Only the first runnable start of a batch runs; other starts are dropped as duplicates.
- Other messages: dropped when they name an execution other than the one that will run,
  and results (task, sub-orchestration, timer) are dropped as duplicates when every
  scheduling of their id (retries reuse the id) already has a result in the history or
  earlier in the batch (redelivery after a crash between the history write and the
  message delete).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from ..._proto import pb
from ...core.model import InstanceState, TaskMessage
from .json_values import timestamp_to_datetime
from .message_queue import ReceivedMessage

_RESULT_KINDS = {
    "taskCompleted": ("task", "taskScheduledId"),
    "taskFailed": ("task", "taskScheduledId"),
    "subOrchestrationInstanceCompleted": ("sub", "taskScheduledId"),
    "subOrchestrationInstanceFailed": ("sub", "taskScheduledId"),
    "timerFired": ("timer", "timerId"),
}
_SCHEDULE_KINDS = {"taskScheduled": "task", "subOrchestrationInstanceCreated": "sub", "timerCreated": "timer"}


@dataclass(slots=True)
class Selection:
    runnable: list[ReceivedMessage] = field(default_factory=list)
    dropped: list[tuple[ReceivedMessage, str]] = field(default_factory=list)
    deferred: list[tuple[ReceivedMessage, str]] = field(default_factory=list)
    new_execution: bool = False
    execution_id: str | None = None


def _result_key(event: pb.HistoryEvent) -> tuple[str, int] | None:
    kind = event.WhichOneof("eventType") or ""
    spec = _RESULT_KINDS.get(kind)
    if spec is None:
        return None
    group, attr = spec
    return group, int(getattr(getattr(event, kind), attr))


#: How often a start newer than an unfinished instance is deferred before it runs anyway.
ORPHAN_DEFERRALS = 4
RUN, DROP, DEFER = "run", "drop", "defer"


def _schedule_key(event: pb.HistoryEvent) -> tuple[str, int] | None:
    group = _SCHEDULE_KINDS.get(event.WhichOneof("eventType") or "")
    return None if group is None else (group, event.eventId)


def start_execution_id(task: TaskMessage) -> str:
    return task.execution_id or task.event.executionStarted.orchestrationInstance.executionId.value


def _start_verdict(
    message: ReceivedMessage,
    state: InstanceState | None,
    history_execution: str | None,
    history: list[pb.HistoryEvent],
    refused: Collection[str],
) -> tuple[str, str]:
    task = message.task_message
    execution = start_execution_id(task)
    if execution in refused:
        return DROP, "its start was refused (the instance already existed)"
    if state is None:
        return RUN, ""
    if state.execution_id == execution:
        started = history_execution == execution and any(e.HasField("executionStarted") for e in history)
        return (DROP, "duplicate start: the history already holds it") if started else (RUN, "")
    if timestamp_to_datetime(task.event.timestamp) <= state.created_at:
        return DROP, f"superseded by the later start of execution {state.execution_id}"
    if state.status.is_terminal or message.dequeue_count > ORPHAN_DEFERRALS:
        return RUN, ""
    return DEFER, f"execution {state.execution_id} is {state.status}; the start that sent this may still replace it"


def select_messages(
    messages: list[ReceivedMessage],
    state: InstanceState | None,
    history_execution: str | None,
    history: list[pb.HistoryEvent],
    refused: Collection[str] = frozenset(),
) -> Selection:
    """Split a batch into messages to run, to drop and to defer (with the reasons)."""
    sel = Selection()
    start: ReceivedMessage | None = None
    for m in messages:
        if m.task_message.event.HasField("executionStarted"):
            verdict, why = _start_verdict(m, state, history_execution, history, refused)
            if verdict == RUN and start is None:
                start = m
            elif verdict == DEFER:
                sel.deferred.append((m, why))
            else:
                sel.dropped.append((m, why or "a second start in one batch"))
    if start is not None:
        sel.execution_id = start.task_message.execution_id
        sel.new_execution = history_execution != sel.execution_id
        sel.runnable.append(start)
    else:
        sel.execution_id = state.execution_id if state is not None else None
    results: Counter[tuple[str, int]] = Counter()
    scheduled: Counter[tuple[str, int]] = Counter()
    if not sel.new_execution:
        results.update(k for k in map(_result_key, history) if k is not None)
        scheduled.update(k for k in map(_schedule_key, history) if k is not None)
    for m in messages:
        task = m.task_message
        if task.event.HasField("executionStarted"):
            continue
        if task.execution_id and sel.execution_id and task.execution_id != sel.execution_id:
            sel.dropped.append((m, f"addressed to execution {task.execution_id}, not {sel.execution_id}"))
            continue
        key = _result_key(task.event)
        if key is not None:
            # Retries re-schedule under the same id: a result is a duplicate only when every
            # scheduling of that id already has one.
            if results[key] and results[key] >= scheduled[key]:
                sel.dropped.append((m, f"duplicate {key[0]} result for id {key[1]}"))
                continue
            results[key] += 1
        sel.runnable.append(m)
    return sel
