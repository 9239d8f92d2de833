"""Helpers of the crash tests: run the dying child, run a fresh host, check a history ran once."""
from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import crash_app

from azure_durable_ext._proto import pb
from azure_durable_ext.core.options import AzureStorageOptions, DurableTaskOptions
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import parse_connection_string
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

CHILD = Path(__file__).resolve().parent / "crash_child.py"
Instance = tuple[str, str, Any]  # (instance id, orchestrator name, input)


def run_dying_child(azurite: AzuriteProcess, hub_name: str, point: str, call: int, instances: list[Instance]) -> None:
    """Run ``crash_child.py`` and check it died by SIGKILL (at the point), not otherwise."""
    done = subprocess.run(
        [sys.executable, str(CHILD), "--connection", azurite.connection_string, "--hub", hub_name,
         "--point", point, "--call", str(call), "--instances", json.dumps(instances)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, (
        f"child should die at {point} (call {call}), exit code {done.returncode}:\n{done.stderr[-3000:]}"
    )


def task_hub(azurite: AzuriteProcess, hub_name: str, **storage: Any) -> TaskHub:
    """A TaskHub on the Azure provider; short polling so recovered work is found quickly."""
    options = AzureStorageOptions(max_queue_polling_interval=0.5, partition_leases=crash_app.SHORT_LEASES, **storage)
    service = AzureStorageOrchestrationService(
        parse_connection_string(azurite.connection_string, "AzureWebJobsStorage"), hub_name=hub_name, options=options
    )
    return TaskHub.create(DurableTaskOptions(hub_name=hub_name, storage=options), service)


@contextlib.asynccontextmanager
async def running_host(hub: TaskHub, *, in_process: bool = True) -> AsyncIterator[str]:
    """A sidecar host over ``hub`` (orchestrations in process, or for GetWorkItems workers);
    yields its address."""
    host = build_sidecar_host(
        TaskHubRegistry([hub]), registry=crash_app.registry() if in_process else None, poll_timeout=0.2
    )
    await host.start()
    try:
        yield host.address
    finally:
        await host.stop(0)


async def wait_finished(hub: TaskHub, instance_id: str, timeout: float = 90.0) -> Any:
    state = await hub.service.wait_for_instance(instance_id, lambda s: s.status.is_terminal, timeout)
    if state is None:
        raise AssertionError(f"{instance_id} did not finish within {timeout} s\n{await describe_instance(hub, instance_id)}")
    return state


async def describe_instance(hub: TaskHub, instance_id: str) -> str:
    """What storage and this process know about ``instance_id`` (for a failure message):
    its row, its history, its visible queue messages, and the service's in-memory state."""
    service = hub.service
    assert isinstance(service, AzureStorageOrchestrationService)
    lines: list[str] = []

    async def section(title: str, read: Any) -> None:
        try:
            lines.append(f"{title}: {await read()}")
        except Exception as exc:  # a diagnostic must not hide the failure it describes
            lines.append(f"{title}: <{type(exc).__name__}: {exc}>")

    parts = service._hub
    partition = service.names.partition_of(instance_id)

    async def row() -> str:
        state, etag = await parts.tracking.fetch_instance(instance_id, include_payloads=False)
        if state is None:
            return "none"
        return f"{state.status.name} execution={state.execution_id} generation={state.generation} etag={etag}"

    async def history() -> str:
        snapshot = await parts.tracking.load_history(instance_id)
        events = [f"{e.eventId}:{e.WhichOneof('eventType')}" for e in snapshot.events]
        return (f"execution={snapshot.execution_id} sentinel={snapshot.sentinel_etag} "
                f"stale={snapshot.stale_keys} refused={sorted(snapshot.refused)} events={events}")

    async def visible(client: Any) -> str:
        props = await client.get_queue_properties()
        mine = []
        for m in await client.peek_messages(max_messages=32):
            content = m.content if isinstance(m.content, str) else bytes(m.content).decode("utf-8", "replace")
            if json.dumps(instance_id) in content:
                mine.append(f"{m.id} dequeued={m.dequeue_count} {content[:160]}")
        return f"~{props.approximate_message_count} messages in all; peeked for this instance: {mine}"

    await section("instance row", row)
    await section("history", history)
    await section(f"control queue {partition} (visible only)", lambda: visible(parts.resources.control_queues[partition]))
    await section("work-item queue (visible only)", lambda: visible(parts.resources.work_items))
    sessions = service._sessions
    poller = service._pollers.get(partition)
    manager = service.partition_manager
    lines.append(
        f"in memory: buffered={[m.message_id for m in sessions._pending.get(instance_id, {}).values()]} "
        f"ready={instance_id in sessions._queued} locked={sessions.is_locked(instance_id)} "
        f"work lock={instance_id in parts.work._locks} cached={instance_id in parts.work.cache._entries} "
        f"owned={sorted(service.owned_partitions)} "
        f"poller={'none' if poller is None else ('running' if poller._task and not poller._task.done() else poller._task)} "
        f"manager={'none' if manager is None else f'running={manager.running} owned={sorted(manager.owned)}'}"
    )
    return "\n".join(lines)


async def assert_ran_once(hub: TaskHub, instance_id: str, name: str, input_value: Any) -> list[pb.HistoryEvent]:
    """The instance completed with the right output, and its history shows one start, one
    completion, and every activity scheduled and applied exactly once."""
    state = await wait_finished(hub, instance_id)
    expected = crash_app.expected_output(name, input_value)
    assert state.status is OrchestrationStatus.COMPLETED, (instance_id, state.status, state.failure)
    assert json.loads(state.output) == expected
    history = await hub.service.get_history(instance_id)
    kinds = Counter(e.WhichOneof("eventType") for e in history)
    assert kinds["executionStarted"] == 1, (instance_id, kinds)
    assert kinds["executionCompleted"] == 1, (instance_id, kinds)
    scheduled = [e.eventId for e in history if e.HasField("taskScheduled")]
    applied = [e.taskCompleted.taskScheduledId for e in history if e.HasField("taskCompleted")]
    assert len(scheduled) == len(set(scheduled)), f"{instance_id}: a task id scheduled twice"
    assert sorted(applied) == sorted(scheduled), f"{instance_id}: results applied {applied} for {scheduled}"
    completed = next(e.executionCompleted for e in history if e.HasField("executionCompleted"))
    assert json.loads(completed.result.value) == expected
    started = next(e.executionStarted for e in history if e.HasField("executionStarted"))
    assert started.orchestrationInstance.executionId.value == state.execution_id
    return history
