"""Small converters between protobuf values and DurableTask.Core's JSON shapes.

Shared by the event codec (queue messages) and the history-row codec (table columns).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from google.protobuf import timestamp_pb2

from ..._proto import pb
from ...core.errors import SerializationError

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$"
)


def timestamp_to_json(ts: timestamp_pb2.Timestamp) -> str:
    """ISO-8601 UTC with seven fractional digits, the precision of a .NET DateTime."""
    # isoformat of a whole-second time is "YYYY-MM-DDTHH:MM:SS+00:00" (and cheaper than strftime)
    base = datetime.fromtimestamp(ts.seconds, tz=timezone.utc).isoformat()[:19]
    return f"{base}.{ts.nanos // 100:07d}Z"


def timestamp_from_json(text: str, where: str) -> timestamp_pb2.Timestamp:
    """Parse what :func:`timestamp_to_json` (or .NET) wrote."""
    m = _ISO.match(text) if isinstance(text, str) else None
    if not m:
        raise SerializationError(f"{where}: expected an ISO-8601 timestamp, got {text!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        seconds = int(dt.timestamp()) - offset
    else:
        seconds = int(dt.timestamp())
    nanos = int((frac or "0").ljust(9, "0")[:9])
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def datetime_to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(timezone.utc).replace(tzinfo=None))
    return ts


def timestamp_to_datetime(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=timezone.utc)


def string_value(msg: Any, field: str) -> str | None:
    """A google.protobuf.StringValue field as str, or None when unset."""
    return getattr(msg, field).value if msg.HasField(field) else None


def set_string_value(msg: Any, field: str, value: Any) -> None:
    if value is not None:
        getattr(msg, field).value = str(value)


def optional_timestamp(msg: Any, field: str) -> str | None:
    return timestamp_to_json(getattr(msg, field)) if msg.HasField(field) else None


def set_optional_timestamp(msg: Any, field: str, value: Any, where: str) -> None:
    if value is not None:
        getattr(msg, field).CopyFrom(timestamp_from_json(value, where))


def failure_to_json(details: pb.TaskFailureDetails) -> dict[str, Any]:
    return {
        "ErrorType": details.errorType,
        "ErrorMessage": details.errorMessage,
        "StackTrace": string_value(details, "stackTrace"),
        "InnerFailure": failure_to_json(details.innerFailure) if details.HasField("innerFailure") else None,
        "IsNonRetriable": details.isNonRetriable,
    }


def failure_from_json(data: dict[str, Any], target: pb.TaskFailureDetails) -> None:
    target.errorType = data.get("ErrorType") or ""
    target.errorMessage = data.get("ErrorMessage") or ""
    set_string_value(target, "stackTrace", data.get("StackTrace"))
    if data.get("InnerFailure"):
        failure_from_json(data["InnerFailure"], target.innerFailure)
    target.isNonRetriable = bool(data.get("IsNonRetriable", False))


def instance_to_json(inst: pb.OrchestrationInstance) -> dict[str, Any]:
    return {"InstanceId": inst.instanceId, "ExecutionId": string_value(inst, "executionId")}


def instance_from_json(data: dict[str, Any], target: pb.OrchestrationInstance) -> None:
    target.instanceId = data.get("InstanceId") or ""
    set_string_value(target, "executionId", data.get("ExecutionId"))


def trace_to_json(trace: pb.TraceContext) -> dict[str, Any]:
    return {
        "TraceParent": trace.traceParent,
        "SpanId": trace.spanID,
        "TraceState": string_value(trace, "traceState"),
    }


def trace_from_json(data: dict[str, Any], target: pb.TraceContext) -> None:
    target.traceParent = data.get("TraceParent") or ""
    target.spanID = data.get("SpanId") or ""
    set_string_value(target, "traceState", data.get("TraceState"))


def parent_to_json(parent: pb.ParentInstanceInfo) -> dict[str, Any]:
    return {
        "Name": string_value(parent, "name"),
        "Version": string_value(parent, "version"),
        "OrchestrationInstance": instance_to_json(parent.orchestrationInstance),
        "TaskScheduleId": parent.taskScheduledId,
    }


def parent_from_json(data: dict[str, Any], target: pb.ParentInstanceInfo) -> None:
    set_string_value(target, "name", data.get("Name"))
    set_string_value(target, "version", data.get("Version"))
    instance_from_json(data.get("OrchestrationInstance") or {}, target.orchestrationInstance)
    target.taskScheduledId = int(data.get("TaskScheduleId") or 0)


def tags_to_json(tags: Any) -> dict[str, str] | None:
    return dict(tags) if len(tags) else None


def tags_from_json(data: Any, target: Any) -> None:
    if data:
        target.update({str(k): str(v) for k, v in data.items()})
