"""Queue message bodies: DurableTask.AzureStorage's ``MessageData`` JSON around a TaskMessage.

The body is UTF-8 JSON (not base64) with "$type" first, as the .NET provider writes it. A
message too large for a queue travels as a wrapper whose ``CompressedBlobName`` names a
gzip blob holding the full JSON (see ``large_messages``).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...core.errors import SerializationError
from ...core.model import TaskMessage
from .event_codec import event_from_json, event_to_json, event_type_name
from .json_values import datetime_to_timestamp, timestamp_from_json, timestamp_to_datetime, timestamp_to_json

MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData"
ABANDON_COUNT = "AbandonCount"
LOCAL_DELIVERIES = "LocalDeliveries"


@dataclass(slots=True, kw_only=True)
class MessageData:
    """One queue message: the TaskMessage plus DurableTask.AzureStorage's bookkeeping."""

    message: TaskMessage | None
    activity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    compressed_blob_name: str | None = None
    sequence_number: int = 0
    episode: int = 0
    sender_instance_id: str = ""
    sender_execution_id: str | None = None
    #: Our addition: how often a dispatcher put this message back on purpose (no matching
    #: worker, versioning REJECT...). Those redeliveries are not failures (see ``poison``).
    abandon_count: int = 0
    #: Our addition: deliveries the queue did not count, because the message was sent
    #: already locked to its taker in this process (``MessageQueue.send_locked``). A
    #: receive adds them to the queue's dequeue count.
    local_deliveries: int = 0

    @property
    def event_type_name(self) -> str:
        if self.message is None:
            raise SerializationError("a wrapper message has no event until its blob is read")
        return event_type_name(self.message.event)


def task_message_to_json(message: TaskMessage, sequence_number: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Event": event_to_json(message.event),
        "SequenceNumber": sequence_number,
        "OrchestrationInstance": {"InstanceId": message.instance_id, "ExecutionId": message.execution_id},
    }
    if message.visible_at is not None:
        # Our addition: when a message is due, for messages hidden beyond the queue's 7-day cap.
        data["VisibleAt"] = timestamp_to_json(datetime_to_timestamp(message.visible_at))
    return data


def task_message_from_json(data: dict[str, Any]) -> TaskMessage:
    if not isinstance(data, dict) or "Event" not in data:
        raise SerializationError("a TaskMessage must be a JSON object with an Event")
    inst = data.get("OrchestrationInstance") or {}
    visible_at: datetime | None = None
    if data.get("VisibleAt"):
        visible_at = timestamp_to_datetime(timestamp_from_json(data["VisibleAt"], "VisibleAt"))
    return TaskMessage(
        instance_id=inst.get("InstanceId") or "",
        execution_id=inst.get("ExecutionId"),
        event=event_from_json(data["Event"]),
        visible_at=visible_at,
    )


def message_data_to_dict(md: MessageData) -> dict[str, Any]:
    data = {
        "$type": MESSAGE_DATA_TYPE,
        "ActivityId": md.activity_id,
        "TaskMessage": None if md.message is None else task_message_to_json(md.message, md.sequence_number),
        "CompressedBlobName": md.compressed_blob_name,
        "SequenceNumber": md.sequence_number,
        "Episode": md.episode,
        "Sender": {"InstanceId": md.sender_instance_id, "ExecutionId": md.sender_execution_id},
    }
    if md.abandon_count:
        data[ABANDON_COUNT] = md.abandon_count
    if md.local_deliveries:
        data[LOCAL_DELIVERIES] = md.local_deliveries
    return data


def encode_message(md: MessageData) -> str:
    """The queue body of ``md`` (compact JSON)."""
    return json.dumps(message_data_to_dict(md), separators=(",", ":"), ensure_ascii=False)


def with_abandon_count(body: str, count: int) -> str:
    """``body`` (a MessageData or its large-message wrapper) with AbandonCount set."""
    return _with_count(body, ABANDON_COUNT, count)


def with_local_deliveries(body: str, count: int) -> str:
    """``body`` (a MessageData or its large-message wrapper) with LocalDeliveries set."""
    return _with_count(body, LOCAL_DELIVERIES, count)


def _with_count(body: str, key: str, count: int) -> str:
    data = json.loads(body)
    if count:
        data[key] = count
    else:
        data.pop(key, None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_message(body: str | bytes) -> MessageData:
    """Parse a queue body; SerializationError when it is not a MessageData."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise SerializationError(f"queue message is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("$type") != MESSAGE_DATA_TYPE:
        raise SerializationError(f"queue message is not a {MESSAGE_DATA_TYPE}")
    sender = data.get("Sender") or {}
    task = data.get("TaskMessage")
    return MessageData(
        message=None if task is None else task_message_from_json(task),
        activity_id=str(data.get("ActivityId") or ""),
        compressed_blob_name=data.get("CompressedBlobName"),
        sequence_number=int(data.get("SequenceNumber") or 0),
        episode=int(data.get("Episode") or 0),
        sender_instance_id=sender.get("InstanceId") or "",
        sender_execution_id=sender.get("ExecutionId"),
        abandon_count=int(data.get(ABANDON_COUNT) or 0),
        local_deliveries=int(data.get(LOCAL_DELIVERIES) or 0),
    )
