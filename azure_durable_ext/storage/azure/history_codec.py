"""History table rows <-> pb.HistoryEvent, in DurableTask.AzureStorage's row layout.

Row: PartitionKey = escaped instance id, RowKey = event ordinal as 16 upper-case hex digits,
columns ExecutionId, EventId, EventType (name), _Timestamp, IsPlayed and the event's own
fields (nested objects as JSON strings). One extra row, RowKey "sentinel", records the
checkpoint and its ETag guards the next one.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..._proto import pb
from ...core.errors import SerializationError
from .event_codec import COMMON_FIELDS, event_from_json, event_to_json, event_type_name, kind_by_type_name
from .json_values import datetime_to_timestamp, timestamp_to_datetime, timestamp_to_json
from .large_messages import BLOB_SUFFIX as _BLOB_SUFFIX
from .names import escape_partition_key

SENTINEL_ROW_KEY = "sentinel"
COMPLETE_ROW_COUNT = "CompleteRowCount"
_NESTED = frozenset({"OrchestrationInstance", "ParentInstance", "Tags", "FailureDetails", "ParentTraceContext", "State"})
_KEYS = ("PartitionKey", "RowKey", "ExecutionId", "EventType", "EventId", "_Timestamp", "IsPlayed")


def row_key(ordinal: int) -> str:
    return f"{ordinal:016X}"


def event_to_row(instance_id: str, execution_id: str, ordinal: int, event: pb.HistoryEvent) -> dict[str, Any]:
    """The history row of ``event`` (large values still inline; see :func:`externalize_large`)."""
    data = event_to_json(event)
    row: dict[str, Any] = {
        "PartitionKey": escape_partition_key(instance_id),
        "RowKey": row_key(ordinal),
        "ExecutionId": execution_id,
        "EventType": event_type_name(event),
        "EventId": event.eventId,
        "_Timestamp": timestamp_to_datetime(event.timestamp),
        "IsPlayed": False,
    }
    for name, value in data.items():
        if name in COMMON_FIELDS or value is None:
            continue
        row[name] = json.dumps(value, separators=(",", ":")) if name in _NESTED else value
    return row


def row_to_event(row: dict[str, Any]) -> pb.HistoryEvent:
    """Inverse of :func:`event_to_row` (blob-stored values already put back by the caller)."""
    type_name = row.get("EventType")
    if not isinstance(type_name, str):
        raise SerializationError(f"history row {row.get('RowKey')!r} has no EventType")
    kind_by_type_name(type_name)
    data: dict[str, Any] = {"EventType": type_name, "EventId": int(row.get("EventId", -1))}
    stamp = row.get("_Timestamp")
    if isinstance(stamp, datetime):
        data["Timestamp"] = timestamp_to_json(datetime_to_timestamp(stamp))
    for name, value in row.items():
        if name in _KEYS or name.endswith(_BLOB_SUFFIX):
            continue
        data[name] = json.loads(value) if name in _NESTED and isinstance(value, str) else value
    return event_from_json(data)


def sentinel_row(
    instance_id: str, execution_id: str, now: datetime, *, complete: bool = True, row_count: int
) -> dict[str, Any]:
    """The sentinel; ``CompleteRowCount`` (our addition) is how many event rows the last
    complete checkpoint left, so rows of a checkpoint that died between batches are ignored."""
    return {
        "PartitionKey": escape_partition_key(instance_id),
        "RowKey": SENTINEL_ROW_KEY,
        "ExecutionId": execution_id,
        "IsCheckpointComplete": complete,
        "CheckpointCompletedTimestamp": now,
        COMPLETE_ROW_COUNT: row_count,
    }
