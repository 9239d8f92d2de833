"""Conversions between sidecar protocol messages (``pb``) and the project's own types.

Wire types stay at the edges; every translation between them and ``core.model`` lives here so
servicers, clients and executors agree on one mapping (timestamps are always UTC-aware,
empty wrapper strings are kept distinct from absent ones).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import cast

from google.protobuf import timestamp_pb2, wrappers_pb2

from .._proto import pb
from ..core.errors import InvalidArgumentError
from ..core.model import FailureDetails, InstanceQuery, InstanceState, PurgeFilter
from ..core.status import OrchestrationStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# -- scalars -------------------------------------------------------------------------------


def to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime (naive values are taken as UTC)."""
    ts = timestamp_pb2.Timestamp()
    set_timestamp(ts, value)
    return ts


def set_timestamp(target: timestamp_pb2.Timestamp, value: datetime) -> None:
    """Write ``value`` into an existing Timestamp field (avoids a copy)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    target.seconds = seconds
    target.nanos = delta.microseconds * 1000


def from_timestamp(ts: timestamp_pb2.Timestamp) -> datetime:
    """The UTC-aware datetime of a Timestamp (microsecond precision)."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def optional_timestamp(message: object, field: str) -> datetime | None:
    """``message.field`` as a datetime when the field is set, else None."""
    if message.HasField(field):  # type: ignore[attr-defined]
        return from_timestamp(getattr(message, field))
    return None


def string_value(value: str | None) -> wrappers_pb2.StringValue | None:
    """A StringValue wrapper for ``value``, or None (unset field) when ``value`` is None."""
    return None if value is None else wrappers_pb2.StringValue(value=value)


def optional_string(message: object, field: str) -> str | None:
    """``message.field.value`` when the wrapper field is set, else None."""
    if message.HasField(field):  # type: ignore[attr-defined]
        value: str = getattr(message, field).value
        return value
    return None


# -- status ----------------------------------------------------------------------------------


def status_to_pb(status: OrchestrationStatus) -> pb.OrchestrationStatus:
    """The wire enum number of a status (our enum values are the wire numbers)."""
    return cast(pb.OrchestrationStatus, status.value)


def status_from_pb(value: int) -> OrchestrationStatus:
    """Parse a wire enum number; unknown numbers are refused."""
    try:
        return OrchestrationStatus(value)
    except ValueError:
        raise InvalidArgumentError(f"unknown orchestration status number {value}") from None


def statuses_from_pb(values: Iterable[int]) -> frozenset[OrchestrationStatus]:
    return frozenset(status_from_pb(v) for v in values)


# -- instance state ------------------------------------------------------------------------


def instance_state_to_pb(state: InstanceState, *, include_payloads: bool = True) -> pb.OrchestrationState:
    """The wire OrchestrationState of an instance; payloads (input, output, custom status)
    only when ``include_payloads``."""
    msg = pb.OrchestrationState(
        instanceId=state.instance_id,
        name=state.name,
        orchestrationStatus=status_to_pb(state.status),
    )
    if state.version is not None:
        msg.version.value = state.version
    if state.execution_id:
        msg.executionId.value = state.execution_id
    set_timestamp(msg.createdTimestamp, state.created_at)
    set_timestamp(msg.lastUpdatedTimestamp, state.last_updated_at)
    if state.completed_at is not None:
        set_timestamp(msg.completedTimestamp, state.completed_at)
    if state.scheduled_start_at is not None:
        set_timestamp(msg.scheduledStartTimestamp, state.scheduled_start_at)
    if state.parent_instance_id is not None:
        msg.parentInstanceId.value = state.parent_instance_id
    if state.failure is not None:
        msg.failureDetails.CopyFrom(state.failure.to_pb())
    if state.tags:
        msg.tags.update(state.tags)
    if include_payloads:
        if state.input is not None:
            msg.input.value = state.input
        if state.output is not None:
            msg.output.value = state.output
        if state.custom_status is not None:
            msg.customStatus.value = state.custom_status
    return msg


def instance_state_from_pb(msg: pb.OrchestrationState) -> InstanceState:
    """The project's InstanceState for a wire OrchestrationState (generation is not on the
    wire and comes back as 0)."""
    created = optional_timestamp(msg, "createdTimestamp") or _EPOCH
    return InstanceState(
        instance_id=msg.instanceId,
        name=msg.name,
        version=optional_string(msg, "version"),
        execution_id=optional_string(msg, "executionId") or "",
        status=status_from_pb(msg.orchestrationStatus),
        created_at=created,
        last_updated_at=optional_timestamp(msg, "lastUpdatedTimestamp") or created,
        input=optional_string(msg, "input"),
        output=optional_string(msg, "output"),
        custom_status=optional_string(msg, "customStatus"),
        failure=FailureDetails.from_pb(msg.failureDetails) if msg.HasField("failureDetails") else None,
        completed_at=optional_timestamp(msg, "completedTimestamp"),
        scheduled_start_at=optional_timestamp(msg, "scheduledStartTimestamp"),
        tags=dict(msg.tags),
        parent_instance_id=optional_string(msg, "parentInstanceId"),
    )


# -- queries ---------------------------------------------------------------------------------

#: Page size used when a query asks for 0 (no limit given).
DEFAULT_PAGE_SIZE = 100


def instance_query_from_pb(msg: pb.InstanceQuery) -> InstanceQuery:
    """An InstanceQuery from the wire; a negative page size is refused, 0 means the default."""
    if msg.maxInstanceCount < 0:
        raise InvalidArgumentError(f"maxInstanceCount must not be negative, got {msg.maxInstanceCount}")
    token = optional_string(msg, "continuationToken")
    return InstanceQuery(
        statuses=statuses_from_pb(msg.runtimeStatus),
        created_from=optional_timestamp(msg, "createdTimeFrom"),
        created_to=optional_timestamp(msg, "createdTimeTo"),
        instance_id_prefix=optional_string(msg, "instanceIdPrefix") or None,
        page_size=msg.maxInstanceCount or DEFAULT_PAGE_SIZE,
        # "0" is what some clients send to mean "no more pages".
        continuation_token=token if token and token != "0" else None,
        include_payloads=msg.fetchInputsAndOutputs,
    )


def instance_query_to_pb(query: InstanceQuery) -> pb.InstanceQuery:
    """The wire form of an InstanceQuery (the client side of QueryInstances)."""
    msg = pb.InstanceQuery(
        runtimeStatus=[status_to_pb(s) for s in query.statuses],
        maxInstanceCount=query.page_size,
        fetchInputsAndOutputs=query.include_payloads,
    )
    if query.created_from is not None:
        set_timestamp(msg.createdTimeFrom, query.created_from)
    if query.created_to is not None:
        set_timestamp(msg.createdTimeTo, query.created_to)
    if query.instance_id_prefix:
        msg.instanceIdPrefix.value = query.instance_id_prefix
    if query.continuation_token:
        msg.continuationToken.value = query.continuation_token
    return msg


def purge_filter_from_pb(msg: pb.PurgeInstanceFilter) -> PurgeFilter:
    return PurgeFilter(
        created_from=optional_timestamp(msg, "createdTimeFrom"),
        created_to=optional_timestamp(msg, "createdTimeTo"),
        statuses=statuses_from_pb(msg.runtimeStatus),
    )


def purge_filter_to_pb(purge: PurgeFilter) -> pb.PurgeInstanceFilter:
    msg = pb.PurgeInstanceFilter(runtimeStatus=[status_to_pb(s) for s in purge.statuses])
    if purge.created_from is not None:
        set_timestamp(msg.createdTimeFrom, purge.created_from)
    if purge.created_to is not None:
        set_timestamp(msg.createdTimeTo, purge.created_to)
    return msg
