"""TaskHubClient builds the messages DurableTask.Core would (no gRPC here)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from azure_durable_ext.core.clock import ManualClock
from azure_durable_ext.core.model import TaskMessage
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus
from azure_durable_ext.protocol.convert import from_timestamp
from azure_durable_ext.sidecar.task_hub_client import TaskHubClient, new_execution_id
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def test_execution_ids_are_version_4_guids_in_n_format() -> None:
    ids = {new_execution_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


async def _queued(service: InMemoryOrchestrationService) -> list[TaskMessage]:
    item = await service.lock_next_orchestration(1)
    assert item is not None
    return item.new_messages


async def test_create_builds_execution_started_and_sends_the_event_after() -> None:
    service = InMemoryOrchestrationService(clock=ManualClock(NOW))
    client = TaskHubClient(service, clock=ManualClock(NOW))
    instance_id, execution_id = await client.create_orchestration_instance(
        "HelloOrchestration", "1.2.0", "inst", '"input"', tags={"a": "b"},
        dedupe_statuses=RUNNING_STATES, event_name="Kick", event_data='"now"',
    )
    start, event = await _queued(service)
    assert (start.instance_id, start.execution_id) == ("inst", execution_id)
    started = start.event.executionStarted
    assert start.event.eventId == -1 and from_timestamp(start.event.timestamp) == NOW
    assert (started.name, started.version.value, started.input.value) == ("HelloOrchestration", "1.2.0", '"input"')
    assert started.orchestrationInstance.instanceId == "inst"
    assert started.orchestrationInstance.executionId.value == execution_id
    assert dict(started.tags) == {"a": "b"} and not started.HasField("scheduledStartTimestamp")
    # The event follows the start, addressed to no particular execution.
    assert event.execution_id is None
    assert (event.event.eventRaised.name, event.event.eventRaised.input.value) == ("Kick", '"now"')
    state = await service.get_instance("inst")
    assert state is not None and state.status is OrchestrationStatus.PENDING


async def test_create_without_version_leaves_it_unset_and_schedules_the_start() -> None:
    clock = ManualClock(NOW)
    service = InMemoryOrchestrationService(clock=clock)
    client = TaskHubClient(service, clock=clock)
    later = NOW + timedelta(days=1)
    await client.create_orchestration_instance("Hello", None, "plain", scheduled_start=later)
    state = await service.get_instance("plain")
    assert state is not None and state.version is None and state.scheduled_start_at == later
    assert await service.lock_next_orchestration(0) is None
    await service.stop()


async def test_control_messages_carry_reasons() -> None:
    service = InMemoryOrchestrationService()
    client = TaskHubClient(service)
    await client.terminate("x", '"why"', recurse=True)
    await client.suspend("x", "pause")
    await client.resume("x")
    await client.rewind("x", "again")
    terminate, suspend, resume, rewind = await _queued(service)
    assert terminate.event.executionTerminated.recurse and terminate.event.executionTerminated.input.value == '"why"'
    assert suspend.event.executionSuspended.input.value == "pause"
    assert resume.event.HasField("executionResumed") and not resume.event.executionResumed.HasField("input")
    assert rewind.event.executionRewound.reason.value == "again"
    assert rewind.event.executionRewound.instanceId.value == "x"
