"""pb.HistoryEvent <-> DurableTask.Core history-event JSON (queue messages, history rows).

Each event kind is one entry of ``_KINDS``: the protobuf oneof name, DurableTask.Core's
``EventType`` number and class name, and the two field converters. Property names are
DurableTask.Core's; fields the protobuf has and .NET lacks keep their own names so nothing is
lost on a round trip.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..._proto import pb
from ...core.errors import SerializationError
from .json_values import (
    failure_from_json,
    failure_to_json,
    instance_from_json,
    instance_to_json,
    optional_timestamp,
    parent_from_json,
    parent_to_json,
    set_optional_timestamp,
    set_string_value,
    string_value,
    tags_from_json,
    tags_to_json,
    timestamp_from_json,
    timestamp_to_json,
    trace_from_json,
    trace_to_json,
)

Fields = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventKind:
    oneof: str
    event_type: int
    class_name: str
    to_fields: Callable[[Any], Fields]
    from_fields: Callable[[Fields, Any], None]

    @property
    def type_name(self) -> str:
        """The EventType enum member name, as history rows store it."""
        return self.class_name.removesuffix("Event") if self.class_name != "GenericEvent" else "GenericEvent"


def _none(_ev: Any) -> Fields:
    return {}


def _ignore(_d: Fields, _ev: Any) -> None:
    return None


def _sv(*pairs: tuple[str, str]) -> tuple[Callable[[Any], Fields], Callable[[Fields, Any], None]]:
    """Converters for events made only of StringValue fields (json name, proto field)."""

    def to_fields(ev: Any) -> Fields:
        return {name: string_value(ev, field) for name, field in pairs}

    def from_fields(d: Fields, ev: Any) -> None:
        for name, field in pairs:
            set_string_value(ev, field, d.get(name))

    return to_fields, from_fields


def _started_to(ev: pb.ExecutionStartedEvent) -> Fields:
    return {
        "OrchestrationInstance": instance_to_json(ev.orchestrationInstance),
        "ParentInstance": parent_to_json(ev.parentInstance) if ev.HasField("parentInstance") else None,
        "Name": ev.name,
        "Version": string_value(ev, "version"),
        "Input": string_value(ev, "input"),
        "Tags": tags_to_json(ev.tags),
        "ParentTraceContext": trace_to_json(ev.parentTraceContext) if ev.HasField("parentTraceContext") else None,
        "ScheduledStartTime": optional_timestamp(ev, "scheduledStartTimestamp"),
        "OrchestrationSpanId": string_value(ev, "orchestrationSpanID"),
    }


def _started_from(d: Fields, ev: pb.ExecutionStartedEvent) -> None:
    instance_from_json(d.get("OrchestrationInstance") or {}, ev.orchestrationInstance)
    if d.get("ParentInstance"):
        parent_from_json(d["ParentInstance"], ev.parentInstance)
    ev.name = d.get("Name") or ""
    set_string_value(ev, "version", d.get("Version"))
    set_string_value(ev, "input", d.get("Input"))
    tags_from_json(d.get("Tags"), ev.tags)
    if d.get("ParentTraceContext"):
        trace_from_json(d["ParentTraceContext"], ev.parentTraceContext)
    set_optional_timestamp(ev, "scheduledStartTimestamp", d.get("ScheduledStartTime"), "ScheduledStartTime")
    set_string_value(ev, "orchestrationSpanID", d.get("OrchestrationSpanId"))


def _completed_to(ev: pb.ExecutionCompletedEvent) -> Fields:
    return {
        "OrchestrationStatus": int(ev.orchestrationStatus),
        "Result": string_value(ev, "result"),
        "FailureDetails": failure_to_json(ev.failureDetails) if ev.HasField("failureDetails") else None,
    }


def _completed_from(d: Fields, ev: pb.ExecutionCompletedEvent) -> None:
    ev.orchestrationStatus = int(d.get("OrchestrationStatus") or 0)  # type: ignore[assignment]
    set_string_value(ev, "result", d.get("Result"))
    if d.get("FailureDetails"):
        failure_from_json(d["FailureDetails"], ev.failureDetails)


def _terminated_to(ev: pb.ExecutionTerminatedEvent) -> Fields:
    return {"Input": string_value(ev, "input"), "Recurse": ev.recurse}


def _terminated_from(d: Fields, ev: pb.ExecutionTerminatedEvent) -> None:
    set_string_value(ev, "input", d.get("Input"))
    ev.recurse = bool(d.get("Recurse", False))


def _scheduled_to(ev: Any) -> Fields:
    """Name, version, input, tags and trace: TaskScheduled and SubOrchestrationInstanceCreated."""
    return {
        "Name": ev.name,
        "Version": string_value(ev, "version"),
        "Input": string_value(ev, "input"),
        "Tags": tags_to_json(ev.tags),
        "ParentTraceContext": trace_to_json(ev.parentTraceContext) if ev.HasField("parentTraceContext") else None,
    }


def _scheduled_from(d: Fields, ev: Any) -> None:
    ev.name = d.get("Name") or ""
    set_string_value(ev, "version", d.get("Version"))
    set_string_value(ev, "input", d.get("Input"))
    tags_from_json(d.get("Tags"), ev.tags)
    if d.get("ParentTraceContext"):
        trace_from_json(d["ParentTraceContext"], ev.parentTraceContext)


def _result_to(ev: Any) -> Fields:
    return {"TaskScheduledId": ev.taskScheduledId, "Result": string_value(ev, "result")}


def _result_from(d: Fields, ev: Any) -> None:
    ev.taskScheduledId = int(d.get("TaskScheduledId") or 0)
    set_string_value(ev, "result", d.get("Result"))


def _failed_to(ev: Any) -> Fields:
    has = ev.HasField("failureDetails")
    return {
        "TaskScheduledId": ev.taskScheduledId,
        "Reason": ev.failureDetails.errorMessage if has else None,
        "Details": string_value(ev.failureDetails, "stackTrace") if has else None,
        "FailureDetails": failure_to_json(ev.failureDetails) if has else None,
    }


def _failed_from(d: Fields, ev: Any) -> None:
    ev.taskScheduledId = int(d.get("TaskScheduledId") or 0)
    if d.get("FailureDetails"):
        failure_from_json(d["FailureDetails"], ev.failureDetails)
    elif d.get("Reason") is not None:
        # A .NET writer without FailureDetails: keep its reason and details.
        ev.failureDetails.errorType = "Exception"
        ev.failureDetails.errorMessage = d["Reason"]
        set_string_value(ev.failureDetails, "stackTrace", d.get("Details"))


def _sub_created_to(ev: pb.SubOrchestrationInstanceCreatedEvent) -> Fields:
    return {"InstanceId": ev.instanceId, **_scheduled_to(ev)}


def _sub_created_from(d: Fields, ev: pb.SubOrchestrationInstanceCreatedEvent) -> None:
    ev.instanceId = d.get("InstanceId") or ""
    _scheduled_from(d, ev)


def _timer_created_to(ev: pb.TimerCreatedEvent) -> Fields:
    return {"FireAt": timestamp_to_json(ev.fireAt)}


def _timer_created_from(d: Fields, ev: pb.TimerCreatedEvent) -> None:
    ev.fireAt.CopyFrom(timestamp_from_json(d.get("FireAt"), "FireAt"))  # type: ignore[arg-type]


def _timer_fired_to(ev: pb.TimerFiredEvent) -> Fields:
    return {"FireAt": timestamp_to_json(ev.fireAt), "TimerId": ev.timerId}


def _timer_fired_from(d: Fields, ev: pb.TimerFiredEvent) -> None:
    ev.fireAt.CopyFrom(timestamp_from_json(d.get("FireAt"), "FireAt"))  # type: ignore[arg-type]
    ev.timerId = int(d.get("TimerId") or 0)


def _sent_to(ev: pb.EventSentEvent) -> Fields:
    return {"InstanceId": ev.instanceId, "Name": ev.name, "Input": string_value(ev, "input")}


def _sent_from(d: Fields, ev: pb.EventSentEvent) -> None:
    ev.instanceId = d.get("InstanceId") or ""
    ev.name = d.get("Name") or ""
    set_string_value(ev, "input", d.get("Input"))


def _raised_to(ev: pb.EventRaisedEvent) -> Fields:
    return {"Name": ev.name, "Input": string_value(ev, "input")}


def _raised_from(d: Fields, ev: pb.EventRaisedEvent) -> None:
    ev.name = d.get("Name") or ""
    set_string_value(ev, "input", d.get("Input"))


def _state_to(ev: pb.HistoryStateEvent) -> Fields:
    s = ev.orchestrationState
    return {
        "State": {
            "OrchestrationInstance": {"InstanceId": s.instanceId, "ExecutionId": string_value(s, "executionId")},
            "Name": s.name,
            "Version": string_value(s, "version"),
            "OrchestrationStatus": int(s.orchestrationStatus),
            "ScheduledStartTime": optional_timestamp(s, "scheduledStartTimestamp"),
            "CreatedTime": optional_timestamp(s, "createdTimestamp"),
            "LastUpdatedTime": optional_timestamp(s, "lastUpdatedTimestamp"),
            "CompletedTime": optional_timestamp(s, "completedTimestamp"),
            "Input": string_value(s, "input"),
            "Output": string_value(s, "output"),
            "Status": string_value(s, "customStatus"),
            "FailureDetails": failure_to_json(s.failureDetails) if s.HasField("failureDetails") else None,
            "ParentInstanceId": string_value(s, "parentInstanceId"),
            "Tags": tags_to_json(s.tags),
        }
    }


def _state_from(d: Fields, ev: pb.HistoryStateEvent) -> None:
    src = d.get("State") or {}
    s = ev.orchestrationState
    inst = src.get("OrchestrationInstance") or {}
    s.instanceId = inst.get("InstanceId") or ""
    set_string_value(s, "executionId", inst.get("ExecutionId"))
    s.name = src.get("Name") or ""
    set_string_value(s, "version", src.get("Version"))
    s.orchestrationStatus = int(src.get("OrchestrationStatus") or 0)  # type: ignore[assignment]
    for json_name, field in (
        ("ScheduledStartTime", "scheduledStartTimestamp"),
        ("CreatedTime", "createdTimestamp"),
        ("LastUpdatedTime", "lastUpdatedTimestamp"),
        ("CompletedTime", "completedTimestamp"),
    ):
        set_optional_timestamp(s, field, src.get(json_name), json_name)
    set_string_value(s, "input", src.get("Input"))
    set_string_value(s, "output", src.get("Output"))
    set_string_value(s, "customStatus", src.get("Status"))
    if src.get("FailureDetails"):
        failure_from_json(src["FailureDetails"], s.failureDetails)
    set_string_value(s, "parentInstanceId", src.get("ParentInstanceId"))
    tags_from_json(src.get("Tags"), s.tags)


_REWOUND = (
    ("Reason", "reason"),
    ("ParentExecutionId", "parentExecutionId"),
    ("InstanceId", "instanceId"),
    ("Name", "name"),
    ("Version", "version"),
    ("Input", "input"),
)
_rewound_sv_to, _rewound_sv_from = _sv(*_REWOUND)


def _rewound_to(ev: pb.ExecutionRewoundEvent) -> Fields:
    fields = _rewound_sv_to(ev)
    fields["ParentInstance"] = parent_to_json(ev.parentInstance) if ev.HasField("parentInstance") else None
    fields["ParentTraceContext"] = trace_to_json(ev.parentTraceContext) if ev.HasField("parentTraceContext") else None
    fields["Tags"] = tags_to_json(ev.tags)
    return fields


def _rewound_from(d: Fields, ev: pb.ExecutionRewoundEvent) -> None:
    _rewound_sv_from(d, ev)
    if d.get("ParentInstance"):
        parent_from_json(d["ParentInstance"], ev.parentInstance)
    if d.get("ParentTraceContext"):
        trace_from_json(d["ParentTraceContext"], ev.parentTraceContext)
    tags_from_json(d.get("Tags"), ev.tags)


_KINDS: tuple[EventKind, ...] = (
    EventKind("executionStarted", 0, "ExecutionStartedEvent", _started_to, _started_from),
    EventKind("executionCompleted", 1, "ExecutionCompletedEvent", _completed_to, _completed_from),
    EventKind("executionTerminated", 3, "ExecutionTerminatedEvent", _terminated_to, _terminated_from),
    EventKind("taskScheduled", 4, "TaskScheduledEvent", _scheduled_to, _scheduled_from),
    EventKind("taskCompleted", 5, "TaskCompletedEvent", _result_to, _result_from),
    EventKind("taskFailed", 6, "TaskFailedEvent", _failed_to, _failed_from),
    EventKind("subOrchestrationInstanceCreated", 7, "SubOrchestrationInstanceCreatedEvent", _sub_created_to, _sub_created_from),
    EventKind("subOrchestrationInstanceCompleted", 8, "SubOrchestrationInstanceCompletedEvent", _result_to, _result_from),
    EventKind("subOrchestrationInstanceFailed", 9, "SubOrchestrationInstanceFailedEvent", _failed_to, _failed_from),
    EventKind("timerCreated", 10, "TimerCreatedEvent", _timer_created_to, _timer_created_from),
    EventKind("timerFired", 11, "TimerFiredEvent", _timer_fired_to, _timer_fired_from),
    EventKind("orchestratorStarted", 12, "OrchestratorStartedEvent", _none, _ignore),
    EventKind("orchestratorCompleted", 13, "OrchestratorCompletedEvent", _none, _ignore),
    EventKind("eventSent", 14, "EventSentEvent", _sent_to, _sent_from),
    EventKind("eventRaised", 15, "EventRaisedEvent", _raised_to, _raised_from),
    EventKind("continueAsNew", 16, "ContinueAsNewEvent", *_sv(("Result", "input"))),
    EventKind("genericEvent", 17, "GenericEvent", *_sv(("Data", "data"))),
    EventKind("historyState", 18, "HistoryStateEvent", _state_to, _state_from),
    EventKind("executionSuspended", 19, "ExecutionSuspendedEvent", *_sv(("Reason", "input"))),
    EventKind("executionResumed", 20, "ExecutionResumedEvent", *_sv(("Reason", "input"))),
    EventKind("executionRewound", 21, "ExecutionRewoundEvent", _rewound_to, _rewound_from),
)
_BY_ONEOF = {k.oneof: k for k in _KINDS}
_BY_TYPE = {k.event_type: k for k in _KINDS}
_BY_TYPE_NAME = {k.type_name: k for k in _KINDS}
_TYPE_PREFIX = "DurableTask.Core.History."

#: Columns every event carries; the rest are the kind's own fields.
COMMON_FIELDS = ("$type", "EventType", "EventId", "IsPlayed", "Timestamp")


def kind_of(event: pb.HistoryEvent) -> EventKind:
    """The kind of ``event``; SerializationError for kinds DurableTask.Core has no class for."""
    oneof = event.WhichOneof("eventType")
    kind = _BY_ONEOF.get(oneof or "")
    if kind is None:
        raise SerializationError(f"history event kind {oneof!r} cannot be stored in Azure Storage")
    return kind


def kind_by_type_name(name: str) -> EventKind:
    try:
        return _BY_TYPE_NAME[name]
    except KeyError:
        raise SerializationError(f"unknown history EventType {name!r}") from None


def event_type_name(event: pb.HistoryEvent) -> str:
    """DurableTask.Core's EventType name of ``event`` ("TaskScheduled", ...)."""
    return kind_of(event).type_name


def event_to_json(event: pb.HistoryEvent) -> dict[str, Any]:
    """DurableTask.Core JSON of ``event`` with "$type" first and EventType as an integer."""
    kind = kind_of(event)
    data: dict[str, Any] = {
        "$type": _TYPE_PREFIX + kind.class_name,
        "EventType": kind.event_type,
        "EventId": event.eventId,
        "IsPlayed": False,
        "Timestamp": timestamp_to_json(event.timestamp),
    }
    data.update(kind.to_fields(getattr(event, kind.oneof)))
    return data


def event_from_json(data: dict[str, Any]) -> pb.HistoryEvent:
    """Inverse of :func:`event_to_json`; accepts EventType as number or name."""
    if not isinstance(data, dict):
        raise SerializationError(f"a history event must be a JSON object, got {type(data).__name__}")
    raw_type = data.get("EventType")
    if isinstance(raw_type, int):
        kind = _BY_TYPE.get(raw_type)
        if kind is None:
            raise SerializationError(f"unknown history EventType {raw_type}")
    else:
        kind = kind_by_type_name(str(raw_type))
    event = pb.HistoryEvent(eventId=int(data.get("EventId", -1)))
    if data.get("Timestamp"):
        event.timestamp.CopyFrom(timestamp_from_json(data["Timestamp"], "Timestamp"))
    target = getattr(event, kind.oneof)
    target.SetInParent()
    kind.from_fields(data, target)
    return event
