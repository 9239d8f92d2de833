"""Checkpoints cut between their history batch and their row write, for the checkpoints that
move the row to another execution or out of a finished state: continue-as-new and rewind.

The next fresh read must repair the row at once (``row_repair``): a continue-as-new row moves
to the new execution keeping its Generation, and its start runs without being deferred as a
possible orphan; a rewound instance's row leaves Failed, so the results of the work the
rewind scheduled again are applied instead of dropped.
"""
from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import crash_app
import pytest
from azure.core.exceptions import ServiceRequestError
from azurite_fixture import make_azure_service
from crash_support import assert_ran_once, describe_instance, run_dying_child, running_host, task_hub, wait_finished

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import (  # noqa: E402
    LOCK_TIMEOUT,
    episode,
    kinds,
    now,
    orchestrator_started,
    start_message,
    task_completed,
    task_scheduled,
)

from azure_durable_ext._proto import pb  # noqa: E402
from azure_durable_ext.core.model import InstanceState, TaskMessage  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus  # noqa: E402
from azure_durable_ext.sidecar.hub import TaskHub  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess  # noqa: E402
from azure_durable_ext.storage.azure.tracking_store import TrackingStore  # noqa: E402

pytestmark = pytest.mark.timeout(240)


def _hub_name() -> str:
    return f"Cut{uuid.uuid4().hex[:12]}"


def _records(caplog: pytest.LogCaptureFixture, text: str, instance_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and repr(instance_id) in r.getMessage()]


def _fail_one_row_write(
    monkeypatch: pytest.MonkeyPatch, hits: Callable[[InstanceState, InstanceState | None], bool]
) -> list[InstanceState]:
    """Make the first row write for which ``hits(new row, last row written)`` holds fail as if
    storage were unreachable (its history batch is stored already); returns the failed rows."""
    failed: list[InstanceState] = []
    written: dict[str, InstanceState] = {}
    write_instance = TrackingStore.write_instance

    async def failing_once(self: TrackingStore, state: InstanceState, etag: str | None) -> str | None:
        if not failed and hits(state, written.get(state.instance_id)):
            failed.append(state)
            raise ServiceRequestError("injected: storage unreachable on the row write")
        new_etag = await write_instance(self, state, etag)
        written[state.instance_id] = state
        return new_etag

    monkeypatch.setattr(TrackingStore, "write_instance", failing_once)
    return failed


# -- continue-as-new -----------------------------------------------------------------------------
async def test_a_host_killed_after_a_continue_as_new_history_resumes_the_new_execution_at_once(
    azurite: AzuriteProcess, caplog: pytest.LogCaptureFixture
) -> None:
    hub_name, instance_id = _hub_name(), "can-killed"
    # The 2nd checkpoint of execution 0 continues as new: the host dies after its history.
    run_dying_child(azurite, hub_name, "before-row", 2, [[instance_id, "count_on", 0]])
    hub = task_hub(azurite, hub_name)
    try:
        row = await hub.service.get_instance(instance_id)
        snapshot = await hub.service._hub.tracking.load_history(instance_id)
        assert row is not None and row.status is OrchestrationStatus.RUNNING
        assert snapshot.execution_id != row.execution_id and snapshot.events == [], "the kill left the cut"
        caplog.set_level(logging.INFO)
        async with running_host(hub):
            await assert_ran_once(hub, instance_id, "count_on", 0)
        state = await hub.service.get_instance(instance_id)
        assert state is not None and state.generation == 0, "continue-as-new keeps the Generation"
        assert _records(caplog, "row was behind its history", instance_id)
        assert not _records(caplog, "deferring start message", instance_id), "the new execution's start is no orphan"
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


async def test_a_continue_as_new_row_write_failing_is_repaired_by_the_same_host(
    azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failed = _fail_one_row_write(
        monkeypatch, lambda new, last: last is not None and new.execution_id != last.execution_id
    )
    caplog.set_level(logging.INFO)
    hub = task_hub(azurite, _hub_name(), control_queue_visibility_timeout=2.0)
    try:
        async with running_host(hub):
            await hub.durable.start_new("count_on", "can-lost", input=json.dumps(0))
            await assert_ran_once(hub, "can-lost", "count_on", 0)
        assert len(failed) == 1 and json.loads(failed[0].input or "null") == 1  # the first continue-as-new
        state = await hub.service.get_instance("can-lost")
        assert state is not None and state.generation == 0
        assert not _records(caplog, "deferring start message", "can-lost")
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


async def test_an_instance_whose_continue_as_new_start_is_not_in_hand_waits_for_it(azurite: AzuriteProcess) -> None:
    """Only the redelivered result of the old execution comes first: it must not run against
    the new execution's empty history; once the new start arrives, the row moves on."""
    service = make_azure_service(azurite, control_queue_visibility_timeout=1.0)
    await service.create_task_hub()
    try:
        old = start_message("can-wait", input="0")
        await service.create_instance(old, RUNNING_STATES)
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None
        await service.complete_orchestration(item, episode(item, extra=[task_scheduled(0)]))
        # The result's episode continues as new; its history is stored, the row is not.
        new = start_message("can-wait", input="1")
        tracking = service._hub.tracking
        snapshot = await tracking.load_history("can-wait")
        await tracking.append_history("can-wait", new.execution_id or "", [], snapshot, now(), replace=True)
        service._hub.work.cache.forget("can-wait")  # as in the next process: it knows nothing yet
        await service.send_messages([TaskMessage("can-wait", old.execution_id, task_completed(0))])
        assert await service.lock_next_orchestration(2.0) is None, "the old execution's result is held back"
        row = await service.get_instance("can-wait")
        assert row is not None and row.execution_id == old.execution_id
        await service.send_messages([new])  # the start the continue-as-new checkpoint had sent
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and [m.execution_id for m in item.new_messages] == [new.execution_id]
        assert item.state is not None and item.state.execution_id == new.execution_id and item.past_events == []
        assert item.state.input == "1" and item.state.generation == 0
        await service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
        assert await service.lock_next_orchestration(3.0) is None, "the old result was dropped, not run"
        assert kinds(await service.get_history("can-wait"))[:2] == ["orchestratorStarted", "executionStarted"]
    finally:
        try:
            await service.delete_task_hub()
        finally:
            await service.stop()


# -- rewind --------------------------------------------------------------------------------------
async def test_a_rewind_whose_row_write_failed_leaves_failed_at_once(azurite: AzuriteProcess) -> None:
    """Provider level: the rewind's history (no executionCompleted, an executionRewound) is
    stored, its row write not; the next episode sees the instance Running."""
    service = make_azure_service(azurite)
    await service.create_task_hub()
    try:
        await service.create_instance(start_message("rewound"), RUNNING_STATES)
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None
        await service.complete_orchestration(item, episode(item, extra=[task_scheduled(0)]))
        failure = pb.HistoryEvent(eventId=-1)
        failure.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
        await service.send_messages([TaskMessage("rewound", item.state.execution_id if item.state else None, task_completed(0))])
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None
        await service.complete_orchestration(item, episode(item, status=OrchestrationStatus.FAILED, extra=[failure]))
        assert (await service.get_instance("rewound")).status is OrchestrationStatus.FAILED  # type: ignore[union-attr]
        # The rewind episode: its rewritten history is stored, then storage fails on the row.
        snapshot = await service._hub.tracking.load_history("rewound")
        rewound = pb.HistoryEvent(eventId=-1)
        rewound.executionRewound.reason.value = "mended"
        kept = [e for e in snapshot.events if not e.HasField("executionCompleted")]
        execution = snapshot.execution_id or ""
        await service._hub.tracking.append_history(
            "rewound", execution, [*kept, orchestrator_started(), rewound, task_scheduled(1)], snapshot, now(), replace=True
        )
        service._hub.work.cache.forget("rewound")
        await service.send_messages([TaskMessage("rewound", execution, task_completed(1))])
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and kinds([m.event for m in item.new_messages]) == ["taskCompleted"]
        assert item.state is not None and item.state.status is OrchestrationStatus.RUNNING, "the row left Failed"
        assert item.state.failure is None and item.state.completed_at is None
    finally:
        try:
            await service.delete_task_hub()
        finally:
            await service.stop()


async def test_a_rewind_row_write_failing_is_repaired_and_the_instance_completes(
    azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"mend-{uuid.uuid4().hex[:8]}"
    hub = task_hub(azurite, _hub_name(), control_queue_visibility_timeout=2.0)
    armed: list[bool] = []
    failed = _fail_one_row_write(
        monkeypatch, lambda new, last: bool(armed) and new.status is OrchestrationStatus.RUNNING
    )
    caplog.set_level(logging.INFO)
    try:
        async with running_host(hub):
            await hub.durable.start_new("mend_then_greet", key, input=json.dumps(key))
            state = await wait_finished(hub, key)
            assert state.status is OrchestrationStatus.FAILED
            crash_app.MENDED.add(key)
            armed.append(True)
            await hub.durable.rewind(key, "mended")
            state = await _wait_completed(hub, key)
        assert len(failed) == 1, "the fault hit the rewind's row write"
        assert json.loads(state.output) == crash_app.expected_output("mend_then_greet", key)
        history = await hub.service.get_history(key)
        assert "executionRewound" in kinds(history)
        assert not _records(caplog, "the instance is Failed", key), "no result of the rewound work was dropped"
    finally:
        crash_app.MENDED.discard(key)
        await hub.service.delete_task_hub()
        await hub.service.stop()


async def _wait_completed(hub: TaskHub, instance_id: str) -> InstanceState:
    state = await hub.service.wait_for_instance(instance_id, lambda s: s.status is OrchestrationStatus.COMPLETED, 90.0)
    if state is None:
        raise AssertionError(f"{instance_id} did not complete after the rewind\n{await describe_instance(hub, instance_id)}")
    return state
