"""The activity dispatcher: locked TaskScheduled messages -> runner -> TaskCompleted/Failed.

Each locked activity goes to the first runner that can run its name (in-process registry,
then connected workers). Its lock is renewed every ``renew_interval`` seconds while it runs,
so a long activity is not handed out twice. The result goes back to the orchestration as a
taskCompleted / taskFailed message addressed to the execution that scheduled it. With no
runner the item is parked until one can take it; a runner's abandon puts the message back
to be offered again.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..._proto import pb
from ...core.errors import ConcurrencyConflictError
from ...core.model import TaskMessage
from ...protocol.convert import set_timestamp
from ...storage.service import ActivityWorkItem, OrchestrationService
from .runners import ActivityOutcome, ActivityRunner
from .work_loop import RoutingDispatcher, retry_delay

log = logging.getLogger(__name__)


def activity_request(item: ActivityWorkItem) -> pb.ActivityRequest:
    """The ActivityRequest a runner gets for a locked TaskScheduled message."""
    scheduled = item.scheduled
    request = pb.ActivityRequest(name=scheduled.name, taskId=item.task_id)
    if scheduled.HasField("version"):
        request.version.CopyFrom(scheduled.version)
    if scheduled.HasField("input"):
        request.input.CopyFrom(scheduled.input)
    if scheduled.HasField("parentTraceContext"):
        request.parentTraceContext.CopyFrom(scheduled.parentTraceContext)
    if scheduled.tags:
        request.tags.update(scheduled.tags)
    request.orchestrationInstance.instanceId = item.instance_id
    if item.message.execution_id:
        request.orchestrationInstance.executionId.value = item.message.execution_id
    return request


class ActivityDispatcher(RoutingDispatcher[ActivityWorkItem, ActivityRunner]):
    """Runs activities from one OrchestrationService."""

    kind = "activity"

    def __init__(
        self,
        service: OrchestrationService,
        runners: Sequence[ActivityRunner],
        **options: Any,
    ) -> None:
        """``options``: RoutingDispatcher's (clock, max_concurrent, poll_timeout, delays,
        renew_interval)."""
        super().__init__(runners, **options)
        self.service = service

    async def fetch(self, timeout: float) -> ActivityWorkItem | None:
        return await self.service.lock_next_activity(timeout)

    def describe(self, item: ActivityWorkItem) -> str:
        return f"activity {item.scheduled.name}#{item.task_id} of {item.instance_id!r}"

    async def handle(self, item: ActivityWorkItem) -> None:
        request = activity_request(item)
        version = request.version.value if request.HasField("version") else None
        runner = self.runner_for(request.name, version)
        if runner is None:
            self.park(item, request.name, version)
            return
        async with self.renewing(item):
            outcome = await runner.run(request)
        if outcome.abandon or outcome.response is None:
            delay = outcome.delay if outcome.delay is not None else retry_delay(self.abandon_delay, item.dequeue_count)
            log.debug("activity %s#%d put back: %s", request.name, item.task_id, outcome.reason)
            await self.put_back(item, delay)
            return
        await self.service.complete_activity(item, self._result_message(item, outcome))

    def _result_message(self, item: ActivityWorkItem, outcome: ActivityOutcome) -> TaskMessage:
        response = outcome.response
        assert response is not None
        event = pb.HistoryEvent(eventId=-1)
        set_timestamp(event.timestamp, self.clock.now())
        if response.HasField("failureDetails"):
            event.taskFailed.taskScheduledId = item.task_id
            event.taskFailed.failureDetails.CopyFrom(response.failureDetails)
        else:
            event.taskCompleted.taskScheduledId = item.task_id
            if response.HasField("result"):
                event.taskCompleted.result.CopyFrom(response.result)
        return TaskMessage(item.instance_id, item.message.execution_id, event)

    async def renew(self, item: ActivityWorkItem) -> None:
        await self.service.renew_activity(item)

    async def put_back(self, item: ActivityWorkItem, delay: float) -> None:
        try:
            await self.service.abandon_activity(item, delay=delay)
        except ConcurrencyConflictError as exc:
            log.info("could not put back activity %s#%d (lock already lost): %s", item.scheduled.name, item.task_id, exc)
