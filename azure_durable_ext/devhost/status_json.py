"""Instance status as the Durable HTTP management API writes it (JSON)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from google.protobuf.json_format import MessageToDict

from .._proto import pb
from ..core.model import InstanceState

#: History event fields that carry payloads (left out unless showHistoryOutput).
_PAYLOAD_FIELDS = ("input", "result", "output")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as Durable writes timestamps."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def json_value(text: str | None) -> Any:
    """A stored JSON payload as a JSON value (text that is not JSON stays a string)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def instance_status(state: InstanceState, *, show_input: bool = True) -> dict[str, Any]:
    """name, instanceId, runtimeStatus, input, customStatus, output, createdTime,
    lastUpdatedTime, plus version (and failureDetails for Failed instances)."""
    output = json_value(state.output)
    if state.failure is not None and output is None:
        output = state.failure.message
    body: dict[str, Any] = {
        "name": state.name,
        "instanceId": state.instance_id,
        "runtimeStatus": state.status.durable_name,
        "input": json_value(state.input) if show_input else None,
        "customStatus": json_value(state.custom_status),
        "output": output,
        "createdTime": iso(state.created_at),
        "lastUpdatedTime": iso(state.last_updated_at),
        "version": state.version or "",
    }
    if state.failure is not None:
        body["failureDetails"] = {
            "errorType": state.failure.error_type,
            "errorMessage": state.failure.message,
            "stackTrace": state.failure.stack_trace,
        }
    return body


def history_event(event: pb.HistoryEvent, *, show_output: bool) -> dict[str, Any]:
    """One history event: EventType (PascalCase), EventId, Timestamp and the event's fields."""
    kind = event.WhichOneof("eventType") or "unknown"
    body: dict[str, Any] = {
        "EventType": kind[0].upper() + kind[1:],
        "EventId": event.eventId,
        "Timestamp": iso(event.timestamp.ToDatetime(tzinfo=timezone.utc)) if event.HasField("timestamp") else None,
    }
    fields = MessageToDict(getattr(event, kind)) if kind != "unknown" else {}
    for key, value in fields.items():
        if key in _PAYLOAD_FIELDS:
            if show_output:
                body[key[0].upper() + key[1:]] = json_value(value if isinstance(value, str) else json.dumps(value))
            continue
        body[key[0].upper() + key[1:]] = value
    return body
