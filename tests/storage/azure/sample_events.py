"""One fully populated pb.HistoryEvent of every kind the Azure Storage codecs support."""
from __future__ import annotations

from datetime import datetime, timezone

from azure_durable_ext._proto import pb

T0 = datetime(2026, 11, 28, 14, 0, 0, 123456, tzinfo=timezone.utc)


def _event(event_id: int = 3) -> pb.HistoryEvent:
    e = pb.HistoryEvent(eventId=event_id)
    e.timestamp.FromDatetime(T0.replace(tzinfo=None))
    return e


def _failure(target: pb.TaskFailureDetails) -> None:
    target.errorType = "ValueError"
    target.errorMessage = "boom"
    target.stackTrace.value = "Traceback..."
    target.isNonRetriable = True
    target.innerFailure.errorType = "KeyError"
    target.innerFailure.errorMessage = "k"


def sample_events() -> dict[str, pb.HistoryEvent]:
    out: dict[str, pb.HistoryEvent] = {}

    e = _event(-1)
    s = e.executionStarted
    s.name, s.version.value, s.input.value = "Hello", "1.2.0", '{"a": 1}'
    s.orchestrationInstance.instanceId = "abc"
    s.orchestrationInstance.executionId.value = "e1"
    s.parentInstance.taskScheduledId = 4
    s.parentInstance.name.value = "Parent"
    s.parentInstance.version.value = "2.0"
    s.parentInstance.orchestrationInstance.instanceId = "p"
    s.parentInstance.orchestrationInstance.executionId.value = "pe"
    s.scheduledStartTimestamp.FromDatetime(T0.replace(tzinfo=None))
    s.parentTraceContext.traceParent = "00-abc-def-01"
    s.parentTraceContext.spanID = "def"
    s.parentTraceContext.traceState.value = "x=y"
    s.orchestrationSpanID.value = "span"
    s.tags["k"] = "v"
    out["executionStarted"] = e

    e = _event()
    e.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
    e.executionCompleted.result.value = '"r"'
    _failure(e.executionCompleted.failureDetails)
    out["executionCompleted"] = e

    e = _event()
    e.executionTerminated.input.value = '"why"'
    e.executionTerminated.recurse = True
    out["executionTerminated"] = e

    e = _event(5)
    e.taskScheduled.name, e.taskScheduled.version.value, e.taskScheduled.input.value = "Act", "1", "[1]"
    e.taskScheduled.tags["t"] = "u"
    out["taskScheduled"] = e

    e = _event()
    e.taskCompleted.taskScheduledId, e.taskCompleted.result.value = 5, '"ok"'
    out["taskCompleted"] = e

    e = _event()
    e.taskFailed.taskScheduledId = 5
    _failure(e.taskFailed.failureDetails)
    out["taskFailed"] = e

    e = _event(6)
    c = e.subOrchestrationInstanceCreated
    c.instanceId, c.name, c.version.value, c.input.value = "abc:0006", "Child", "3", "null"
    out["subOrchestrationInstanceCreated"] = e

    e = _event()
    e.subOrchestrationInstanceCompleted.taskScheduledId = 6
    e.subOrchestrationInstanceCompleted.result.value = "1"
    out["subOrchestrationInstanceCompleted"] = e

    e = _event()
    e.subOrchestrationInstanceFailed.taskScheduledId = 6
    _failure(e.subOrchestrationInstanceFailed.failureDetails)
    out["subOrchestrationInstanceFailed"] = e

    e = _event(7)
    e.timerCreated.fireAt.FromDatetime(T0.replace(tzinfo=None))
    out["timerCreated"] = e

    e = _event()
    e.timerFired.fireAt.FromDatetime(T0.replace(tzinfo=None))
    e.timerFired.timerId = 7
    out["timerFired"] = e

    e = _event()
    e.orchestratorStarted.SetInParent()
    out["orchestratorStarted"] = e

    e = _event()
    e.orchestratorCompleted.SetInParent()
    out["orchestratorCompleted"] = e

    e = _event(8)
    e.eventSent.instanceId, e.eventSent.name, e.eventSent.input.value = "other", "Ping", "2"
    out["eventSent"] = e

    e = _event()
    e.eventRaised.name, e.eventRaised.input.value = "Approval", "true"
    out["eventRaised"] = e

    e = _event()
    e.continueAsNew.input.value = '{"n": 2}'
    out["continueAsNew"] = e

    e = _event()
    e.genericEvent.data.value = "data"
    out["genericEvent"] = e

    e = _event()
    st = e.historyState.orchestrationState
    st.instanceId, st.name, st.version.value = "abc", "Hello", "1"
    st.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
    st.createdTimestamp.FromDatetime(T0.replace(tzinfo=None))
    st.lastUpdatedTimestamp.FromDatetime(T0.replace(tzinfo=None))
    st.completedTimestamp.FromDatetime(T0.replace(tzinfo=None))
    st.input.value, st.output.value, st.customStatus.value = "1", "2", '"s"'
    st.executionId.value = "e1"
    st.parentInstanceId.value = "p"
    _failure(st.failureDetails)
    st.tags["a"] = "b"
    out["historyState"] = e

    e = _event()
    e.executionSuspended.input.value = "maintenance"
    out["executionSuspended"] = e

    e = _event()
    e.executionResumed.input.value = "done"
    out["executionResumed"] = e

    e = _event()
    r = e.executionRewound
    r.reason.value, r.parentExecutionId.value, r.instanceId.value = "retry", "pe", "abc"
    r.name.value, r.version.value, r.input.value = "Hello", "1", "0"
    r.parentInstance.taskScheduledId = 2
    r.parentInstance.orchestrationInstance.instanceId = "p"
    r.tags["x"] = "y"
    out["executionRewound"] = e
    return out
