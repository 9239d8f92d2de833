"""Instance rows behind their history, and how to bring them up to it (pure, no I/O).

A checkpoint stores its history batch first and its instance row second; a cut between the
two (a crash, a storage outage, a lost race) leaves the row behind. Nothing else would write
that row again: the messages the cut episode consumed come back as duplicates of the history.
So every fresh read of an instance checks, before it selects messages:

- same execution, row Pending although the history has started it -> Running;
- same execution, row unfinished although the history has finished -> how it ended;
- same execution, row finished although the history was rewound after it (it holds an
  executionRewound and no executionCompleted since: a rewind drops the old one) -> Running;
- the history names a newer execution than the row (a continue-as-new, or a start that ran
  over the row's execution): the row moves to that execution, keeping created time and
  Generation as a continue-as-new does. Its name, input and tags come from the execution's
  executionStarted: in the history once its first episode was stored, else from its start
  message (the continue-as-new checkpoint sent it before the history; until a batch brings
  it, the instance's messages wait, see ``awaits_continuation``).

"Newer" is decided without clocks where possible: a row that is Running or Suspended was
written after its own execution's history, so a history naming another execution is newer.
A Pending row is also what a start writes over an older history; there the start message
must be younger than the row (as ``work_filter`` decides superseded starts).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..._proto import pb
from ...core.episode import is_suspended
from ...core.model import FailureDetails, InstanceState, TaskMessage
from ...core.status import OrchestrationStatus
from .instance_start import pending_state
from .json_values import timestamp_to_datetime
from .work_filter import start_execution_id

#: Row statuses that were written after their own execution's history.
_RAN = frozenset({OrchestrationStatus.RUNNING, OrchestrationStatus.SUSPENDED})


@dataclass(frozen=True, slots=True)
class Repair:
    """The row to write instead, and why (for the log)."""

    state: InstanceState
    reason: str


def row_behind_history(state: InstanceState | None, history_execution: str | None, history: list[pb.HistoryEvent]) -> bool:
    """True when the row names the history's execution but says less than it: Pending
    although started, unfinished although finished, or finished although rewound since."""
    if state is None or history_execution != state.execution_id:
        return False
    if state.status is OrchestrationStatus.PENDING and any(e.HasField("executionStarted") for e in history):
        return True
    if state.status.is_terminal:
        return _rewound_since_finished(history)
    return any(e.HasField("executionCompleted") for e in history)


def _rewound_since_finished(history: list[pb.HistoryEvent]) -> bool:
    for event in reversed(history):
        if event.HasField("executionCompleted"):
            return False
        if event.HasField("executionRewound"):
            return True
    return False


def state_from_history(state: InstanceState, history: list[pb.HistoryEvent], now: datetime) -> InstanceState:
    """The row ``state`` brought up to what ``history`` records (Running or Suspended, or
    how it ended)."""
    completed = next((e.executionCompleted for e in reversed(history) if e.HasField("executionCompleted")), None)
    if completed is None:
        status = OrchestrationStatus.SUSPENDED if is_suspended(history) else OrchestrationStatus.RUNNING
        return state.evolve(status=status, output=None, failure=None, completed_at=None, last_updated_at=now)
    failure = FailureDetails.from_pb(completed.failureDetails) if completed.HasField("failureDetails") else None
    return state.evolve(
        status=OrchestrationStatus(int(completed.orchestrationStatus)),
        output=completed.result.value if completed.HasField("result") else None,
        failure=failure,
        completed_at=now,
        last_updated_at=now,
    )


def repaired_row(
    state: InstanceState | None,
    history_execution: str | None,
    history: list[pb.HistoryEvent],
    starts: Sequence[TaskMessage],
    now: datetime,
) -> Repair | None:
    """The row to write when ``state`` is behind the history (see the module docstring);
    ``starts`` are the executionStarted messages of the batch in hand. None: nothing to do."""
    if state is None or history_execution is None:
        return None
    if history_execution == state.execution_id:
        if not row_behind_history(state, history_execution, history):
            return None
        return Repair(state_from_history(state, history, now), f"{state.status.durable_name} behind its history")
    started = next((e for e in history if e.HasField("executionStarted")), None)
    if started is not None:
        if state.status not in _RAN:
            return None  # a start's Pending row over an older history, or a finished row
        moved = _moved_to(state, TaskMessage(state.instance_id, history_execution, started), now)
        return Repair(state_from_history(moved, history, now), f"execution {history_execution} ran on in the history")
    start = next((s for s in starts if start_execution_id(s) == history_execution), None)
    if start is None or state.status.is_terminal or timestamp_to_datetime(start.event.timestamp) <= state.created_at:
        return None
    return Repair(_moved_to(state, start, now), f"execution {history_execution} continued it in the history")


def awaits_continuation(state: InstanceState | None, history_execution: str | None, history: list[pb.HistoryEvent]) -> bool:
    """True when the history names a new execution that has not run yet (a continue-as-new
    cut before its row write) and the row cannot be moved to it without its start message."""
    return (
        state is not None
        and state.status in _RAN
        and history_execution is not None
        and history_execution != state.execution_id
        and not any(e.HasField("executionStarted") for e in history)
    )


def _moved_to(state: InstanceState, start: TaskMessage, now: datetime) -> InstanceState:
    """The row of the execution ``start`` begins, as its checkpoint would have written it."""
    return pending_state(start, now).evolve(
        status=OrchestrationStatus.RUNNING, created_at=state.created_at, generation=state.generation
    )
