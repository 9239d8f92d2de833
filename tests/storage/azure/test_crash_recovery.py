"""Crash recovery against a real Azurite, with real process kills.

A child process (``crash_child.py``) runs the provider and SIGKILLs itself at one exact
point of a start or a checkpoint; a fresh host then processes the hub. Whatever the point,
every instance completes exactly once: one ExecutionStarted, one ExecutionCompleted, each
activity result applied once, the right output.

Orphaned start (killed between the start's queue send and its row insert): the product
promises the instance does not vanish: the orphan start message runs as the instance
(``work_filter``: a start with no instance row runs). A client that saw the start fail may
retry it with the same instance id: the retry's start wins and the orphan is dropped as
superseded, so the instance runs once, with the retry's input.

A storage error between two writes of a checkpoint (the host living on, as in an outage)
must leave no instance behind either: the last checkpoint's row write failing after its
history was stored is repaired from the history.
"""
from __future__ import annotations

import json
import uuid

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.queue.aio import QueueClient
from crash_support import assert_ran_once, run_dying_child, running_host, task_hub

from azure_durable_ext.core.model import InstanceState
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.tracking_store import TrackingStore

pytestmark = pytest.mark.timeout(240)


def _hub_name() -> str:
    return f"Crash{uuid.uuid4().hex[:12]}"


async def _queued_messages(azurite: AzuriteProcess, queue_name: str) -> int:
    async with QueueClient.from_connection_string(azurite.connection_string, queue_name) as queue:
        return int((await queue.get_queue_properties()).approximate_message_count)


# -- (a) killed between the start's enqueue and its row write ------------------------------
async def test_an_orphaned_start_message_runs_the_instance_once(azurite: AzuriteProcess) -> None:
    hub_name, instance_id = _hub_name(), "orphan-start"
    run_dying_child(azurite, hub_name, "start-before-row", 1, [[instance_id, "hello_sequence", "first"]])
    hub = task_hub(azurite, hub_name)
    try:
        # What the kill left: the start message queued, no instance row.
        assert await hub.service.get_instance(instance_id) is None
        queue = hub.service.names.control_queue(hub.service.names.partition_of(instance_id))
        assert await _queued_messages(azurite, queue) == 1
        async with running_host(hub):
            history = await assert_ran_once(hub, instance_id, "hello_sequence", "first")
        started = next(e.executionStarted for e in history if e.HasField("executionStarted"))
        assert json.loads(started.input.value) == "first"
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


async def test_a_start_retried_after_the_crash_runs_once_with_the_retry(azurite: AzuriteProcess) -> None:
    hub_name, instance_id = _hub_name(), "retried-start"
    run_dying_child(azurite, hub_name, "start-before-row", 1, [[instance_id, "hello_sequence", "first"]])
    hub = task_hub(azurite, hub_name)
    try:
        # The client saw its call fail and starts the same id again (before any host ran).
        await hub.durable.start_new("hello_sequence", instance_id, input=json.dumps("retry"))
        async with running_host(hub):
            history = await assert_ran_once(hub, instance_id, "hello_sequence", "retry")
        started = next(e.executionStarted for e in history if e.HasField("executionStarted"))
        assert json.loads(started.input.value) == "retry"
        state = await hub.service.get_instance(instance_id)
        assert state is not None and json.loads(state.input) == "retry"
        # The orphan was consumed (dropped as superseded), not left to run later.
        queue = hub.service.names.control_queue(hub.service.names.partition_of(instance_id))
        assert await _queued_messages(azurite, queue) == 0
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


# -- (b) killed mid-checkpoint ----------------------------------------------------------------
SEQUENCES = [[f"seq-{n}", "hello_sequence", None] for n in range(3)]
CHECKPOINT_CASES = {
    # The 3rd checkpoint dies after sending its outbound messages (activity work items).
    "after outbound sends, before the history batch": ("before-history", 3, SEQUENCES),
    # 150 activities in one episode: its history spans two table batches; the second dies.
    "between two history batches of one episode": ("between-history-batches", 2, [["fan-150", "fan_out", 150]]),
    "after the history, before the instance row": ("before-row", 2, SEQUENCES),
    # One instance's 4th (last) checkpoint: its history says Completed, its row still Running.
    "after the last history batch, before the instance row": ("before-row", 4, [["seq-last", "hello_sequence", None]]),
    "after the instance row, before the message deletes": ("before-delete", 2, SEQUENCES),
    # The activity ran and its result went out; its work item comes back and runs again.
    "after an activity's result is sent, before its work item is deleted": ("activity-before-delete", 2, SEQUENCES),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
async def test_a_host_killed_mid_checkpoint_leaves_work_a_new_host_finishes_once(
    azurite: AzuriteProcess, case: str
) -> None:
    point, call, instances = CHECKPOINT_CASES[case]
    hub_name = _hub_name()
    run_dying_child(azurite, hub_name, point, call, instances)
    hub = task_hub(azurite, hub_name)
    try:
        async with running_host(hub):
            for instance_id, name, value in instances:
                await assert_ran_once(hub, instance_id, name, value)
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


# -- (c) a storage error mid-checkpoint, the host living on -------------------------------------
async def test_a_row_write_failing_after_the_last_history_batch_is_repaired_by_the_same_host(
    azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Azurite-restart failure, made deterministic: the last checkpoint stores the history
    (executionCompleted), then storage fails on the row write. The episode's messages come
    back as duplicates of the history; the row must still end Completed."""
    failed: list[OrchestrationStatus] = []
    write_instance = TrackingStore.write_instance

    async def failing_once(self: TrackingStore, state: InstanceState, etag: str | None) -> str | None:
        if state.status.is_terminal and not failed:
            failed.append(state.status)
            raise ServiceRequestError("injected: storage unreachable on the row write")
        return await write_instance(self, state, etag)

    monkeypatch.setattr(TrackingStore, "write_instance", failing_once)
    hub = task_hub(azurite, _hub_name(), control_queue_visibility_timeout=2.0)
    try:
        async with running_host(hub):
            await hub.durable.start_new("hello_sequence", "row-lost")
            await assert_ran_once(hub, "row-lost", "hello_sequence", None)
        assert failed == [OrchestrationStatus.COMPLETED]  # the fault did hit the last checkpoint
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()
