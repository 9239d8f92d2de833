"""The rules deciding which received control messages an episode sees (pure; no storage)."""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import now, orchestrator_started, raised_event, start_message, task_completed  # noqa: E402

from azure_durable_ext._proto import pb  # noqa: E402
from azure_durable_ext.core.model import InstanceState, TaskMessage  # noqa: E402
from azure_durable_ext.core.status import OrchestrationStatus  # noqa: E402
from azure_durable_ext.storage.azure.message_codec import MessageData  # noqa: E402
from azure_durable_ext.storage.azure.message_queue import ReceivedMessage  # noqa: E402
from azure_durable_ext.storage.azure.work_filter import ORPHAN_DEFERRALS, select_messages  # noqa: E402


def _received(message: TaskMessage, dequeue_count: int = 1, message_id: str = "m") -> ReceivedMessage:
    data = MessageData(message=message)
    return ReceivedMessage(None, message_id, "receipt", dequeue_count, "{}", data)  # type: ignore[arg-type]


def _row(execution_id: str, status: OrchestrationStatus, created_offset: float) -> InstanceState:
    t = now() + timedelta(seconds=created_offset)
    return InstanceState(
        instance_id="i", name="Hello", version=None, execution_id=execution_id, status=status, created_at=t, last_updated_at=t
    )


def test_a_start_without_a_row_runs_as_a_new_execution() -> None:
    start = _received(start_message("i"))
    sel = select_messages([start], None, None, [])
    assert sel.runnable == [start] and sel.new_execution and not sel.dropped and not sel.deferred


def test_a_start_older_than_the_row_is_dropped() -> None:
    start = _received(start_message("i"))
    sel = select_messages([start], _row("other", OrchestrationStatus.PENDING, +5), None, [])
    assert sel.runnable == [] and "superseded" in sel.dropped[0][1]


def test_a_newer_start_over_an_unfinished_instance_is_deferred_then_runs() -> None:
    row = _row("other", OrchestrationStatus.RUNNING, -5)
    message = start_message("i")
    sel = select_messages([_received(message)], row, "other", [])
    assert sel.runnable == [] and sel.dropped == [] and len(sel.deferred) == 1
    late = _received(message, dequeue_count=ORPHAN_DEFERRALS + 1)
    sel = select_messages([late], row, "other", [])
    assert sel.runnable == [late] and sel.new_execution


def test_a_newer_start_over_a_finished_instance_runs() -> None:
    start = _received(start_message("i"))
    sel = select_messages([start], _row("other", OrchestrationStatus.COMPLETED, -5), "other", [])
    assert sel.runnable == [start] and sel.new_execution


def test_a_start_already_in_the_history_is_a_duplicate() -> None:
    message = start_message("i")
    row = _row(message.execution_id or "", OrchestrationStatus.RUNNING, -5)
    sel = select_messages([_received(message)], row, message.execution_id, [orchestrator_started(), message.event])
    assert sel.runnable == [] and "duplicate start" in sel.dropped[0][1]


def test_results_already_in_the_history_or_the_batch_are_dropped() -> None:
    row = _row("e", OrchestrationStatus.RUNNING, -5)
    history = [orchestrator_started(), start_message("i").event, task_completed(1)]
    again = _received(TaskMessage("i", "e", task_completed(1)), message_id="a")
    fresh = _received(TaskMessage("i", "e", task_completed(2)), message_id="b")
    twin = _received(TaskMessage("i", "e", task_completed(2)), message_id="c")
    stale = _received(TaskMessage("i", "old", task_completed(3)), message_id="d")
    event = _received(raised_event("i"), message_id="f")
    sel = select_messages([again, fresh, twin, stale, event], row, "e", history)
    assert sel.runnable == [fresh, event]
    assert [m.message_id for m, _ in sel.dropped] == ["a", "c", "d"]


def test_a_retried_task_accepts_one_result_per_scheduling() -> None:
    from helpers import task_scheduled

    row = _row("e", OrchestrationStatus.RUNNING, -5)
    failed = pb.HistoryEvent(eventId=-1)
    failed.taskFailed.taskScheduledId = 1
    history = [orchestrator_started(), start_message("i").event, task_scheduled(1), failed, task_scheduled(1)]
    retry_result = _received(TaskMessage("i", "e", task_completed(1)), message_id="r1")
    redelivered = _received(TaskMessage("i", "e", task_completed(1)), message_id="r2")
    sel = select_messages([retry_result, redelivered], row, "e", history)
    assert sel.runnable == [retry_result] and [m.message_id for m, _ in sel.dropped] == ["r2"]


def test_a_refused_start_is_dropped_even_when_it_looks_like_an_orphan() -> None:
    message = start_message("i")
    row = _row("winner", OrchestrationStatus.RUNNING, -5)
    late = _received(message, dequeue_count=ORPHAN_DEFERRALS + 1)
    sel = select_messages([late], row, "winner", [], refused={message.execution_id or ""})
    assert sel.runnable == [] and "refused" in sel.dropped[0][1]
