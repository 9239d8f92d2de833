"""protocol.convert: pb <-> core types round trips and edge cases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.model import FailureDetails, InstanceQuery, InstanceState, PurgeFilter
from azure_durable_ext.core.status import OrchestrationStatus as S
from azure_durable_ext.protocol import convert

WHEN = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)


def test_timestamps_round_trip_to_the_microsecond() -> None:
    for value in (WHEN, datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=timezone.utc), datetime(1970, 1, 1, tzinfo=timezone.utc)):
        assert convert.from_timestamp(convert.to_timestamp(value)) == value
    naive = datetime(2026, 1, 1, 12, 0)
    assert convert.from_timestamp(convert.to_timestamp(naive)) == naive.replace(tzinfo=timezone.utc)
    other_zone = WHEN.astimezone(timezone(timedelta(hours=9)))
    assert convert.from_timestamp(convert.to_timestamp(other_zone)) == WHEN


def test_string_values_keep_empty_apart_from_absent() -> None:
    msg = pb.RaiseEventRequest(instanceId="i", name="n", input=convert.string_value(""))
    assert convert.optional_string(msg, "input") == ""
    assert convert.optional_string(pb.RaiseEventRequest(input=convert.string_value(None)), "input") is None


def test_status_numbers() -> None:
    assert convert.status_to_pb(S.SUSPENDED) == pb.ORCHESTRATION_STATUS_SUSPENDED
    assert convert.status_from_pb(pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW) is S.CONTINUED_AS_NEW
    with pytest.raises(InvalidArgumentError, match="99"):
        convert.status_from_pb(99)


def _state(**changes: object) -> InstanceState:
    base = InstanceState(
        instance_id="abc",
        name="Hello",
        version="1.2.0",
        execution_id="e" * 32,
        status=S.FAILED,
        created_at=WHEN,
        last_updated_at=WHEN + timedelta(seconds=1),
        input='"in"',
        output='"out"',
        custom_status='{"step": 2}',
        failure=FailureDetails(error_type="ValueError", message="bad", stack_trace="tb"),
        completed_at=WHEN + timedelta(seconds=2),
        scheduled_start_at=WHEN - timedelta(seconds=5),
        tags={"k": "v"},
        parent_instance_id="parent",
    )
    return base.evolve(**changes)


def test_instance_state_round_trip() -> None:
    state = _state()
    assert convert.instance_state_from_pb(convert.instance_state_to_pb(state)) == state
    bare = _state(version=None, input=None, output=None, custom_status=None, failure=None, completed_at=None,
                  scheduled_start_at=None, tags={}, parent_instance_id=None, status=S.PENDING)
    msg = convert.instance_state_to_pb(bare)
    assert not msg.HasField("version") and not msg.HasField("completedTimestamp")
    assert convert.instance_state_from_pb(msg) == bare


def test_instance_state_without_payloads() -> None:
    msg = convert.instance_state_to_pb(_state(), include_payloads=False)
    assert not msg.HasField("input") and not msg.HasField("output") and not msg.HasField("customStatus")
    assert msg.failureDetails.errorMessage == "bad" and msg.version.value == "1.2.0"


def test_instance_query_round_trip_and_defaults() -> None:
    query = InstanceQuery(
        statuses=frozenset({S.RUNNING, S.PENDING}),
        created_from=WHEN,
        created_to=WHEN + timedelta(days=1),
        instance_id_prefix="pre",
        page_size=7,
        continuation_token="tok",
        include_payloads=False,
    )
    assert convert.instance_query_from_pb(convert.instance_query_to_pb(query)) == query
    empty = convert.instance_query_from_pb(pb.InstanceQuery())
    assert empty.page_size == convert.DEFAULT_PAGE_SIZE and empty.continuation_token is None
    assert convert.instance_query_from_pb(pb.InstanceQuery(continuationToken=convert.string_value("0"))).continuation_token is None
    with pytest.raises(InvalidArgumentError, match="maxInstanceCount"):
        convert.instance_query_from_pb(pb.InstanceQuery(maxInstanceCount=-1))


def test_purge_filter_round_trip() -> None:
    purge = PurgeFilter(created_from=WHEN, statuses=frozenset({S.COMPLETED}))
    assert convert.purge_filter_from_pb(convert.purge_filter_to_pb(purge)) == purge
