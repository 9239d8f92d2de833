"""Instances table rows <-> InstanceState (DurableTask.AzureStorage's columns).

RowKey is "", PartitionKey the escaped instance id. CustomStatus and Tags hold the string
"null" when unset, as the .NET provider writes them. Two columns are our additions:
FailureDetails (JSON) and ParentInstanceId.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ...core.errors import SerializationError
from ...core.model import FailureDetails, InstanceState
from ...core.status import OrchestrationStatus
from .names import escape_partition_key, unescape_partition_key

INSTANCE_ROW_KEY = ""
PAYLOAD_COLUMNS = ("Input", "Output", "CustomStatus")


def _failure_to_dict(f: FailureDetails) -> dict[str, Any]:
    return {
        "ErrorType": f.error_type,
        "ErrorMessage": f.message,
        "StackTrace": f.stack_trace,
        "InnerFailure": _failure_to_dict(f.inner) if f.inner else None,
        "IsNonRetriable": f.is_non_retriable,
    }


def _failure_from_dict(d: dict[str, Any]) -> FailureDetails:
    return FailureDetails(
        error_type=d.get("ErrorType") or "",
        message=d.get("ErrorMessage") or "",
        stack_trace=d.get("StackTrace"),
        inner=_failure_from_dict(d["InnerFailure"]) if d.get("InnerFailure") else None,
        is_non_retriable=bool(d.get("IsNonRetriable", False)),
    )


def state_to_row(state: InstanceState, task_hub: str) -> dict[str, Any]:
    """The full Instances row of ``state`` (written with replace semantics)."""
    row: dict[str, Any] = {
        "PartitionKey": escape_partition_key(state.instance_id),
        "RowKey": INSTANCE_ROW_KEY,
        "Name": state.name,
        "RuntimeStatus": state.status.durable_name,
        "CreatedTime": state.created_at,
        "LastUpdatedTime": state.last_updated_at,
        "ExecutionId": state.execution_id,
        "Generation": state.generation,
        "CustomStatus": state.custom_status if state.custom_status is not None else "null",
        "Tags": json.dumps(state.tags) if state.tags else "null",
        "TaskHubName": task_hub,
    }
    optional = {
        "Version": state.version,
        "Input": state.input,
        "Output": state.output,
        "CompletedTime": state.completed_at,
        "ScheduledStartTime": state.scheduled_start_at,
        "ParentInstanceId": state.parent_instance_id,
        "FailureDetails": json.dumps(_failure_to_dict(state.failure)) if state.failure else None,
    }
    row.update({k: v for k, v in optional.items() if v is not None})
    return row


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # A plain datetime (the SDK returns a subclass that carries the raw table string).
        v = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=timezone.utc)
    raise SerializationError(f"expected a date-time column, got {value!r}")


def row_to_state(row: dict[str, Any]) -> InstanceState:
    """Inverse of :func:`state_to_row` (payloads stored as blobs already put back)."""
    try:
        status = OrchestrationStatus.from_durable_name(str(row.get("RuntimeStatus", "")))
    except ValueError as exc:
        raise SerializationError(f"instance row {row.get('PartitionKey')!r}: {exc}") from exc
    custom = row.get("CustomStatus")
    tags = row.get("Tags")
    failure = row.get("FailureDetails")
    created = _dt(row.get("CreatedTime")) or datetime.fromtimestamp(0, timezone.utc)
    return InstanceState(
        instance_id=unescape_partition_key(str(row["PartitionKey"])),
        name=str(row.get("Name") or ""),
        version=row.get("Version"),
        execution_id=str(row.get("ExecutionId") or ""),
        status=status,
        created_at=created,
        last_updated_at=_dt(row.get("LastUpdatedTime")) or created,
        input=row.get("Input"),
        output=row.get("Output"),
        custom_status=None if custom in (None, "null") else custom,
        failure=_failure_from_dict(json.loads(failure)) if failure else None,
        completed_at=_dt(row.get("CompletedTime")),
        scheduled_start_at=_dt(row.get("ScheduledStartTime")),
        generation=int(row.get("Generation") or 0),
        tags=json.loads(tags) if tags and tags != "null" else {},
        parent_instance_id=row.get("ParentInstanceId"),
    )
