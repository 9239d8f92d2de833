"""Rows behind their history and their repair (pure; no storage)."""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import completed_event, now, orchestrator_started, start_message, task_completed  # noqa: E402

from azure_durable_ext._proto import pb  # noqa: E402
from azure_durable_ext.core.model import FailureDetails, InstanceState  # noqa: E402
from azure_durable_ext.core.status import OrchestrationStatus  # noqa: E402
from azure_durable_ext.storage.azure.row_repair import (  # noqa: E402
    awaits_continuation,
    repaired_row,
    row_behind_history,
    state_from_history,
)


def _row(execution_id: str, status: OrchestrationStatus, created_offset: float) -> InstanceState:
    t = now() + timedelta(seconds=created_offset)
    return InstanceState(
        instance_id="i", name="Hello", version=None, execution_id=execution_id, status=status, created_at=t,
        last_updated_at=t, generation=2,
    )


def _rewound() -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=-1)
    event.executionRewound.reason.value = "fixed"
    return event


def _failed() -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=-1)
    event.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
    event.executionCompleted.failureDetails.errorType = "E"
    return event


def test_a_row_behind_its_history_is_repaired_from_it() -> None:
    message = start_message("i")
    row = _row(message.execution_id or "", OrchestrationStatus.PENDING, -5)
    assert not row_behind_history(row, None, [])
    history = [orchestrator_started(), message.event]
    assert row_behind_history(row, message.execution_id, history)
    assert state_from_history(row, history, now()).status is OrchestrationStatus.RUNNING
    done = state_from_history(row, [*history, completed_event('"r"')], now())
    assert done.status is OrchestrationStatus.COMPLETED and done.output == '"r"'
    failed_event = pb.HistoryEvent(eventId=-1)
    failed_event.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
    failed_event.executionCompleted.failureDetails.errorType = "E"
    failed = state_from_history(row, [*history, failed_event], now())
    assert failed.status is OrchestrationStatus.FAILED and failed.failure is not None and failed.failure.error_type == "E"


def test_an_unfinished_row_behind_a_finished_history_is_repaired_from_it() -> None:
    # The last checkpoint stored executionCompleted, its row write failed: the row still says
    # Running, and the redelivered last result is a duplicate of the history.
    message = start_message("i")
    execution = message.execution_id or ""
    running = _row(execution, OrchestrationStatus.RUNNING, -5)
    history = [orchestrator_started(), message.event, task_completed(1)]
    assert not row_behind_history(running, execution, history)  # nothing to tell from an unfinished history
    finished = [*history, completed_event('"r"')]
    assert row_behind_history(running, execution, finished)
    assert row_behind_history(_row(execution, OrchestrationStatus.SUSPENDED, -5), execution, finished)
    assert not row_behind_history(_row(execution, OrchestrationStatus.COMPLETED, -5), execution, finished)
    assert not row_behind_history(running, "another execution", finished)
    repaired = state_from_history(running, finished, now())
    assert repaired.status is OrchestrationStatus.COMPLETED and repaired.output == '"r"'
    assert repaired.execution_id == execution and repaired.created_at == running.created_at



def test_a_finished_row_behind_a_rewound_history_runs_again() -> None:
    message = start_message("i")
    execution = message.execution_id or ""
    failed = _row(execution, OrchestrationStatus.FAILED, -5).evolve(failure=FailureDetails(error_type="E", message="boom"), completed_at=now())
    ran = [orchestrator_started(), message.event, task_completed(1)]
    assert not row_behind_history(failed, execution, [*ran, _failed()]), "a plain failure is not behind"
    rewound = [*ran, orchestrator_started(), _rewound()]
    assert row_behind_history(failed, execution, rewound)
    assert not row_behind_history(failed, execution, [*rewound, _failed()]), "failed again after the rewind"
    repair = repaired_row(failed, execution, rewound, [], now())
    assert repair is not None and repair.state.status is OrchestrationStatus.RUNNING
    assert repair.state.failure is None and repair.state.completed_at is None and repair.state.generation == 2


def test_a_row_behind_a_continue_as_new_moves_to_the_new_execution_with_its_start() -> None:
    old = start_message("i", input='"old"')
    running = _row(old.execution_id or "", OrchestrationStatus.RUNNING, -5)
    new = start_message("i", input='"new"', version="2.0")
    new_execution = new.execution_id or ""
    # The continue-as-new checkpoint stored the new execution's (empty) history, not the row.
    assert awaits_continuation(running, new_execution, [])
    assert repaired_row(running, new_execution, [], [], now()) is None, "nothing to build the row from"
    repair = repaired_row(running, new_execution, [], [new], now())
    assert repair is not None
    moved = repair.state
    assert moved.execution_id == new_execution and moved.status is OrchestrationStatus.RUNNING
    assert moved.input == '"new"' and moved.version == "2.0"
    assert moved.generation == running.generation and moved.created_at == running.created_at
    assert not awaits_continuation(moved, new_execution, [])
    # Its first episode stored too: the row comes from the history alone, finished if it ended.
    ran = [orchestrator_started(), new.event, completed_event('"done"')]
    assert not awaits_continuation(running, new_execution, ran)
    repair = repaired_row(running, new_execution, ran, [], now())
    assert repair is not None and repair.state.status is OrchestrationStatus.COMPLETED
    assert repair.state.execution_id == new_execution and repair.state.input == '"new"' and repair.state.generation == 2


def test_a_pending_row_over_an_older_history_is_not_moved_back() -> None:
    # A start wrote its Pending row over an instance whose history names an older execution.
    older = start_message("i")
    older_history = [orchestrator_started(), older.event]
    pending = _row(start_message("i").execution_id or "", OrchestrationStatus.PENDING, 5)
    assert repaired_row(pending, older.execution_id, older_history, [], now()) is None
    assert repaired_row(pending, older.execution_id, [], [older], now()) is None, "the start is older than the row"
    assert not awaits_continuation(pending, older.execution_id, [])
    # ... but a Pending row whose first episode continued as new (the start younger than the row) moves on.
    cut = _row(start_message("i").execution_id or "", OrchestrationStatus.PENDING, -5)
    repair = repaired_row(cut, older.execution_id, [], [older], now())
    assert repair is not None and repair.state.execution_id == older.execution_id
    finished = _row(start_message("i").execution_id or "", OrchestrationStatus.FAILED, -5)
    assert repaired_row(finished, older.execution_id, older_history, [], now()) is None
    assert repaired_row(finished, older.execution_id, [], [older], now()) is None
