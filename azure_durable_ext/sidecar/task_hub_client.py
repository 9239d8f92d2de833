"""TaskHubClient: turns client operations into history-event messages (DurableTask.Core's role).

It knows no policy (instance-id rules, default versions, state checks: that is DurableClient);
it only builds the right event, wraps it in a TaskMessage and hands it to the service.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .._proto import pb
from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.episode import new_execution_id
from ..core.model import InstancePage, InstanceQuery, InstanceState, PurgeFilter, TaskMessage
from ..core.status import OrchestrationStatus
from ..protocol.convert import set_timestamp
from ..storage.service import OrchestrationService


class TaskHubClient:
    """Client operations of one task hub, expressed as messages to its OrchestrationService."""

    def __init__(self, service: OrchestrationService, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.service = service
        self.clock = clock

    def _event(self) -> pb.HistoryEvent:
        event = pb.HistoryEvent(eventId=-1)
        set_timestamp(event.timestamp, self.clock.now())
        return event

    async def create_orchestration_instance(
        self,
        name: str,
        version: str | None,
        instance_id: str,
        input: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        dedupe_statuses: frozenset[OrchestrationStatus] = frozenset(),
        scheduled_start: datetime | None = None,
        event_name: str | None = None,
        event_data: str | None = None,
        parent: pb.ParentInstanceInfo | None = None,
    ) -> tuple[str, str]:
        """Create the instance; returns (instance id, execution id).

        The ExecutionStarted message is delayed to ``scheduled_start`` when given. With
        ``event_name``, an EventRaised message follows, addressed to no particular execution
        so it reaches whichever execution is current.
        """
        execution_id = new_execution_id()
        event = self._event()
        started = event.executionStarted
        started.name = name
        if version is not None:
            started.version.value = version
        if input is not None:
            started.input.value = input
        started.orchestrationInstance.instanceId = instance_id
        started.orchestrationInstance.executionId.value = execution_id
        if scheduled_start is not None:
            set_timestamp(started.scheduledStartTimestamp, scheduled_start)
        if tags:
            started.tags.update(tags)
        if parent is not None:
            started.parentInstance.CopyFrom(parent)
        start = TaskMessage(instance_id, execution_id, event, scheduled_start)
        await self.service.create_instance(start, dedupe_statuses)
        if event_name is not None:
            await self.raise_event(instance_id, event_name, event_data)
        return instance_id, execution_id

    async def _send(self, instance_id: str, event: pb.HistoryEvent) -> None:
        # No execution id: the message goes to whichever execution is current.
        await self.service.send_messages([TaskMessage(instance_id, None, event)])

    async def raise_event(self, instance_id: str, name: str, data: str | None = None) -> None:
        event = self._event()
        event.eventRaised.name = name
        if data is not None:
            event.eventRaised.input.value = data
        await self._send(instance_id, event)

    async def terminate(self, instance_id: str, output: str | None = None, *, recurse: bool = False) -> None:
        event = self._event()
        event.executionTerminated.recurse = recurse
        if output is not None:
            event.executionTerminated.input.value = output
        await self._send(instance_id, event)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        await self._send(instance_id, self._with_reason("executionSuspended", reason))

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        await self._send(instance_id, self._with_reason("executionResumed", reason))

    def _with_reason(self, kind: str, reason: str | None) -> pb.HistoryEvent:
        event = self._event()
        body = getattr(event, kind)
        body.SetInParent()
        if reason is not None:
            body.input.value = reason
        return event

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """Ask the dispatcher to rewind a failed execution (it acts on executionRewound)."""
        event = self._event()
        rewound = event.executionRewound
        rewound.SetInParent()
        rewound.instanceId.value = instance_id
        if reason is not None:
            rewound.reason.value = reason
        await self._send(instance_id, event)

    async def get_state(self, instance_id: str, *, include_payloads: bool = True) -> InstanceState | None:
        return await self.service.get_instance(instance_id, include_payloads=include_payloads)

    async def query(self, query: InstanceQuery) -> InstancePage:
        return await self.service.query_instances(query)

    async def history(self, instance_id: str) -> list[pb.HistoryEvent]:
        return await self.service.get_history(instance_id)

    async def purge(self, instance_id: str) -> int:
        return await self.service.purge_instance(instance_id)

    async def purge_by_filter(self, purge: PurgeFilter) -> int:
        return await self.service.purge_instances(purge)
