"""DurableTask.Core JSON of every history-event kind, the MessageData envelope and history rows."""
from __future__ import annotations

import json

import pytest
from sample_events import sample_events

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import SerializationError
from azure_durable_ext.core.model import TaskMessage
from azure_durable_ext.storage.azure.event_codec import event_from_json, event_to_json, event_type_name
from azure_durable_ext.storage.azure.history_codec import event_to_row, row_key, row_to_event
from azure_durable_ext.storage.azure.message_codec import MessageData, decode_message, encode_message

SAMPLES = sample_events()
# DurableTask.Core's EventType numbers (History/EventType.cs).
EXPECTED_TYPES = {
    "executionStarted": (0, "ExecutionStarted"),
    "executionCompleted": (1, "ExecutionCompleted"),
    "executionTerminated": (3, "ExecutionTerminated"),
    "taskScheduled": (4, "TaskScheduled"),
    "taskCompleted": (5, "TaskCompleted"),
    "taskFailed": (6, "TaskFailed"),
    "subOrchestrationInstanceCreated": (7, "SubOrchestrationInstanceCreated"),
    "subOrchestrationInstanceCompleted": (8, "SubOrchestrationInstanceCompleted"),
    "subOrchestrationInstanceFailed": (9, "SubOrchestrationInstanceFailed"),
    "timerCreated": (10, "TimerCreated"),
    "timerFired": (11, "TimerFired"),
    "orchestratorStarted": (12, "OrchestratorStarted"),
    "orchestratorCompleted": (13, "OrchestratorCompleted"),
    "eventSent": (14, "EventSent"),
    "eventRaised": (15, "EventRaised"),
    "continueAsNew": (16, "ContinueAsNew"),
    "genericEvent": (17, "GenericEvent"),
    "historyState": (18, "HistoryState"),
    "executionSuspended": (19, "ExecutionSuspended"),
    "executionResumed": (20, "ExecutionResumed"),
    "executionRewound": (21, "ExecutionRewound"),
}


def test_samples_cover_every_kind() -> None:
    assert set(SAMPLES) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_json_round_trip(kind: str) -> None:
    event = SAMPLES[kind]
    data = event_to_json(event)
    number, name = EXPECTED_TYPES[kind]
    assert list(data)[0] == "$type"
    assert data["EventType"] == number
    assert event_type_name(event) == name
    assert data["$type"].startswith("DurableTask.Core.History.")
    assert event_from_json(json.loads(json.dumps(data))) == event


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_history_row_round_trip(kind: str) -> None:
    event = SAMPLES[kind]
    row = event_to_row("abc", "e1", 10, event)
    assert row["RowKey"] == "000000000000000A"
    assert row["EventType"] == EXPECTED_TYPES[kind][1]
    assert row["ExecutionId"] == "e1" and row["IsPlayed"] is False
    assert all(not isinstance(v, (dict, list)) for v in row.values()), "nested values become JSON strings"
    assert row_to_event(row) == event


def test_started_event_fields_use_durabletask_core_names() -> None:
    data = event_to_json(SAMPLES["executionStarted"])
    assert data["Name"] == "Hello" and data["Version"] == "1.2.0"
    assert data["OrchestrationInstance"] == {"InstanceId": "abc", "ExecutionId": "e1"}
    assert data["ParentInstance"]["TaskScheduleId"] == 4
    assert data["ScheduledStartTime"] == "2026-11-28T14:00:00.1234560Z"
    assert data["Tags"] == {"k": "v"}


def test_task_failed_carries_reason_and_details() -> None:
    data = event_to_json(SAMPLES["taskFailed"])
    assert data["TaskScheduledId"] == 5 and data["Reason"] == "boom" and data["Details"] == "Traceback..."
    assert data["FailureDetails"]["ErrorType"] == "ValueError"


def test_message_data_envelope() -> None:
    message = TaskMessage("abc", "e1", SAMPLES["executionStarted"])
    md = MessageData(message=message, sequence_number=2, episode=1, sender_instance_id="p", sender_execution_id="pe")
    body = encode_message(md)
    data = json.loads(body)
    assert list(data) == [
        "$type", "ActivityId", "TaskMessage", "CompressedBlobName", "SequenceNumber", "Episode", "Sender",
    ]
    assert data["$type"] == "DurableTask.AzureStorage.MessageData"
    assert data["TaskMessage"]["Event"]["EventType"] == 0
    assert data["TaskMessage"]["OrchestrationInstance"] == {"InstanceId": "abc", "ExecutionId": "e1"}
    assert data["Sender"] == {"InstanceId": "p", "ExecutionId": "pe"}
    back = decode_message(body)
    assert back.message == message and back.activity_id == md.activity_id and back.episode == 1


def test_row_key_is_sixteen_upper_hex_digits() -> None:
    assert row_key(255) == "00000000000000FF"


def test_entity_events_are_refused_with_the_kind_named() -> None:
    event = pb.HistoryEvent(eventId=1)
    event.entityLockGranted.criticalSectionId = "x"
    with pytest.raises(SerializationError, match="entityLockGranted"):
        event_to_json(event)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"$type": "Other"}',
        '{"$type": "DurableTask.AzureStorage.MessageData", "TaskMessage": {"Event": {"EventType": 99}}}',
    ],
)
def test_bad_queue_bodies_raise_serialization_error(body: str) -> None:
    with pytest.raises(SerializationError):
        decode_message(body)


def test_abandon_count_is_recorded_in_the_body_and_read_back() -> None:
    from azure_durable_ext.storage.azure.message_codec import with_abandon_count

    body = encode_message(MessageData(message=TaskMessage("abc", "e1", SAMPLES["eventRaised"])))
    assert "AbandonCount" not in json.loads(body), "absent until a deliberate put-back"
    marked = with_abandon_count(body, 3)
    assert next(iter(json.loads(marked))) == "$type"
    assert decode_message(marked).abandon_count == 3


def test_local_deliveries_are_recorded_in_the_body_and_read_back() -> None:
    from azure_durable_ext.storage.azure.message_codec import with_local_deliveries

    body = encode_message(MessageData(message=TaskMessage("abc", "e1", SAMPLES["eventRaised"])))
    assert "LocalDeliveries" not in json.loads(body), "absent unless sent locked"
    marked = encode_message(MessageData(message=TaskMessage("abc", "e1", SAMPLES["eventRaised"]), local_deliveries=1))
    assert decode_message(marked).local_deliveries == 1
    cleared = with_local_deliveries(marked, 0)
    assert "LocalDeliveries" not in json.loads(cleared) and decode_message(cleared).local_deliveries == 0
