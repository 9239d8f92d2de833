"""Histories built in code for executor tests (the role of ContextBuilder in
azure-functions-durable's tests), plus a tiny "backend" that confirms actions the way the
sidecar writes them to history, so multi-episode runs are easy to script."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from azure_durable_ext._proto import pb
from azure_durable_ext.core.model import FailureDetails
from azure_durable_ext.core.orchestration import OrchestratorExecutionResult, Registry, execute_orchestrator
from azure_durable_ext.core.versions import VersioningOptions

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def _set(target: Any, value: str | None) -> None:
    if value is not None:
        target.value = value


def _event(when: datetime, event_id: int = -1, **kind: Any) -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=event_id, **kind)
    event.timestamp.FromDatetime(when)
    return event


class History:
    """One orchestration instance's history: ``past`` (committed) and ``new`` (this episode)."""

    def __init__(
        self,
        name: str,
        input_json: str | None = None,
        *,
        version: str | None = None,
        instance_id: str = "inst-1",
        parent_instance_id: str | None = None,
        start: datetime = T0,
    ) -> None:
        self.instance_id = instance_id
        self.now = start
        self.past: list[pb.HistoryEvent] = []
        self.new: list[pb.HistoryEvent] = [_event(self.now, orchestratorStarted=pb.OrchestratorStartedEvent())]
        started = pb.ExecutionStartedEvent(
            name=name, orchestrationInstance=pb.OrchestrationInstance(instanceId=instance_id)
        )
        _set(started.version, version)
        _set(started.input, input_json)
        if parent_instance_id is not None:
            started.parentInstance.orchestrationInstance.instanceId = parent_instance_id
            started.parentInstance.taskScheduledId = 1
        self.new.append(_event(self.now, executionStarted=started))
        self.timers: dict[int, datetime] = {}

    # -- events arriving from outside ----------------------------------------------------------
    def add(self, event: pb.HistoryEvent) -> "History":
        self._open_episode()
        event.timestamp.FromDatetime(self.now)
        self.new.append(event)
        return self

    def complete_task(self, task_id: int, result_json: str | None) -> "History":
        done = pb.TaskCompletedEvent(taskScheduledId=task_id)
        _set(done.result, result_json)
        return self.add(_event(self.now, taskCompleted=done))

    def fail_task(self, task_id: int, error_type: str = "ValueError", message: str = "boom") -> "History":
        details = FailureDetails(error_type=error_type, message=message, stack_trace="Traceback ...").to_pb()
        return self.add(_event(self.now, taskFailed=pb.TaskFailedEvent(taskScheduledId=task_id, failureDetails=details)))

    def complete_sub(self, task_id: int, result_json: str | None) -> "History":
        done = pb.SubOrchestrationInstanceCompletedEvent(taskScheduledId=task_id)
        _set(done.result, result_json)
        return self.add(_event(self.now, subOrchestrationInstanceCompleted=done))

    def fail_sub(self, task_id: int, error_type: str = "ValueError", message: str = "child failed") -> "History":
        details = FailureDetails(error_type=error_type, message=message).to_pb()
        failed = pb.SubOrchestrationInstanceFailedEvent(taskScheduledId=task_id, failureDetails=details)
        return self.add(_event(self.now, subOrchestrationInstanceFailed=failed))

    def fire_timer(self, timer_id: int) -> "History":
        fire_at = self.timers[timer_id]
        self.now = max(self.now, fire_at)
        fired = pb.TimerFiredEvent(timerId=timer_id)
        fired.fireAt.FromDatetime(fire_at)
        return self.add(_event(self.now, timerFired=fired))

    def raise_event(self, name: str, data_json: str | None) -> "History":
        raised = pb.EventRaisedEvent(name=name)
        _set(raised.input, data_json)
        return self.add(_event(self.now, eventRaised=raised))

    def terminate(self, reason_json: str | None = None) -> "History":
        terminated = pb.ExecutionTerminatedEvent()
        _set(terminated.input, reason_json)
        return self.add(_event(self.now, executionTerminated=terminated))

    def suspend(self) -> "History":
        return self.add(_event(self.now, executionSuspended=pb.ExecutionSuspendedEvent()))

    def resume(self) -> "History":
        return self.add(_event(self.now, executionResumed=pb.ExecutionResumedEvent()))

    def advance(self, seconds: float) -> "History":
        self.now += timedelta(seconds=seconds)
        return self

    # -- running -------------------------------------------------------------------------------
    def _open_episode(self) -> None:
        """A new episode starts with orchestratorStarted, stamped when its first event arrives."""
        if not self.new:
            self.new.append(_event(self.now, orchestratorStarted=pb.OrchestratorStartedEvent()))

    def request(self) -> pb.OrchestratorRequest:
        self._open_episode()
        return pb.OrchestratorRequest(instanceId=self.instance_id, pastEvents=self.past, newEvents=self.new)

    def run(self, registry: Registry, versioning: VersioningOptions | None = None) -> OrchestratorExecutionResult:
        """Execute this episode, then commit it as the backend would (new events, then the
        confirmations of the actions) and open the next episode."""
        result = execute_orchestrator(registry, self.request(), versioning=versioning)
        if result.abandon:
            return result
        self.past.extend(self.new)
        for action in result.actions:
            self.past.append(self._confirmation(action))
        self.past.append(_event(self.now, orchestratorCompleted=pb.OrchestratorCompletedEvent()))
        self.now += timedelta(seconds=1)
        self.new = []
        return result

    def _confirmation(self, action: pb.OrchestratorAction) -> pb.HistoryEvent:
        kind = action.WhichOneof("orchestratorActionType")
        if kind == "scheduleTask":
            scheduled = pb.TaskScheduledEvent(name=action.scheduleTask.name)
            if action.scheduleTask.HasField("input"):
                scheduled.input.CopyFrom(action.scheduleTask.input)
            return _event(self.now, action.id, taskScheduled=scheduled)
        if kind == "createTimer":
            self.timers[action.id] = action.createTimer.fireAt.ToDatetime(tzinfo=timezone.utc)
            return _event(self.now, action.id, timerCreated=pb.TimerCreatedEvent(fireAt=action.createTimer.fireAt))
        if kind == "createSubOrchestration":
            sub = action.createSubOrchestration
            created = pb.SubOrchestrationInstanceCreatedEvent(
                instanceId=sub.instanceId, name=sub.name, version=sub.version, input=sub.input
            )
            return _event(self.now, action.id, subOrchestrationInstanceCreated=created)
        if kind == "sendEvent":
            sent = pb.EventSentEvent(
                instanceId=action.sendEvent.instance.instanceId, name=action.sendEvent.name, input=action.sendEvent.data
            )
            return _event(self.now, action.id, eventSent=sent)
        complete = action.completeOrchestration
        done = pb.ExecutionCompletedEvent(orchestrationStatus=complete.orchestrationStatus)
        if complete.HasField("result"):
            done.result.CopyFrom(complete.result)
        if complete.HasField("failureDetails"):
            done.failureDetails.CopyFrom(complete.failureDetails)
        return _event(self.now, executionCompleted=done)


def kinds(result: OrchestratorExecutionResult) -> list[tuple[int, str]]:
    """(id, action kind) of every action, for compact assertions."""
    return [(a.id, a.WhichOneof("orchestratorActionType") or "") for a in result.actions]
