"""Builders for the conformance suite: start messages, events, checkpoints."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from azure_durable_ext._proto import pb
from azure_durable_ext.core.model import InstanceState, OrchestrationCheckpoint, TaskMessage
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus
from azure_durable_ext.storage.service import OrchestrationService, OrchestrationWorkItem

LOCK_TIMEOUT = 15.0


def now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(event: pb.HistoryEvent, when: datetime | None = None) -> pb.HistoryEvent:
    event.timestamp.FromDatetime((when or now()).astimezone(timezone.utc).replace(tzinfo=None))
    return event


def start_message(
    instance_id: str, name: str = "Hello", version: str | None = "1.2.0", input: str | None = None,
    *, delay: float | None = None,
) -> TaskMessage:
    execution_id = uuid.uuid4().hex
    event = _stamp(pb.HistoryEvent(eventId=-1))
    started = event.executionStarted
    started.name = name
    if version is not None:
        started.version.value = version
    if input is not None:
        started.input.value = input
    started.orchestrationInstance.instanceId = instance_id
    started.orchestrationInstance.executionId.value = execution_id
    visible_at = None
    if delay is not None:
        visible_at = now() + timedelta(seconds=delay)
        started.scheduledStartTimestamp.FromDatetime(visible_at.replace(tzinfo=None))
    return TaskMessage(instance_id, execution_id, event, visible_at)


def raised_event(instance_id: str, name: str = "Ping", data: str = '"x"') -> TaskMessage:
    event = _stamp(pb.HistoryEvent(eventId=-1))
    event.eventRaised.name = name
    event.eventRaised.input.value = data
    return TaskMessage(instance_id, None, event)


def orchestrator_started() -> pb.HistoryEvent:
    event = _stamp(pb.HistoryEvent(eventId=-1))
    event.orchestratorStarted.SetInParent()
    return event


def task_scheduled(task_id: int, name: str = "Act", input: str = "1") -> pb.HistoryEvent:
    event = _stamp(pb.HistoryEvent(eventId=task_id))
    event.taskScheduled.name = name
    event.taskScheduled.input.value = input
    return event


def task_completed(task_id: int, result: str = '"done"') -> pb.HistoryEvent:
    event = _stamp(pb.HistoryEvent(eventId=-1))
    event.taskCompleted.taskScheduledId = task_id
    event.taskCompleted.result.value = result
    return event


def completed_event(output: str = '"out"') -> pb.HistoryEvent:
    event = _stamp(pb.HistoryEvent(eventId=-1))
    event.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
    event.executionCompleted.result.value = output
    return event


def running_state(
    item: OrchestrationWorkItem, status: OrchestrationStatus = OrchestrationStatus.RUNNING, output: str | None = None
) -> InstanceState:
    """The state an episode of ``item`` would produce."""
    start = next((m for m in item.new_messages if m.event.HasField("executionStarted")), None)
    t = now()
    if item.state is not None and (start is None or item.state.execution_id == start.execution_id):
        return item.state.evolve(
            status=status, last_updated_at=t, output=output, completed_at=t if status.is_terminal else None
        )
    assert start is not None
    started = start.event.executionStarted
    return InstanceState(
        instance_id=item.instance_id,
        name=started.name,
        version=started.version.value if started.HasField("version") else None,
        execution_id=start.execution_id or "",
        status=status,
        created_at=t,
        last_updated_at=t,
        input=started.input.value if started.HasField("input") else None,
        output=output,
        completed_at=t if status.is_terminal else None,
    )


def episode(
    item: OrchestrationWorkItem,
    *,
    status: OrchestrationStatus = OrchestrationStatus.RUNNING,
    extra: list[pb.HistoryEvent] | None = None,
    activities: list[TaskMessage] | None = None,
    output: str | None = None,
    new_execution: bool = False,
) -> OrchestrationCheckpoint:
    events = [orchestrator_started(), *(m.event for m in item.new_messages), *(extra or [])]
    if status is OrchestrationStatus.COMPLETED:
        events.append(completed_event(output or '"out"'))
    return OrchestrationCheckpoint(
        state=running_state(item, status, output),
        new_events=events,
        new_execution=new_execution,
        activity_messages=activities or [],
    )


def kinds(events: list[pb.HistoryEvent]) -> list[str]:
    return [e.WhichOneof("eventType") or "" for e in events]


async def kept_session(provider: OrchestrationService, instance_id: str) -> OrchestrationWorkItem:
    """Start ``instance_id``, run its first episode (one activity scheduled) and keep the
    instance's extended session."""
    await provider.create_instance(start_message(instance_id), RUNNING_STATES)
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == instance_id
    session = await provider.complete_orchestration(item, episode(item, extra=[task_scheduled(0)]), keep_session=True)
    assert session is not None
    return session
