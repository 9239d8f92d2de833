"""The steps of starting an instance that follow the queue send: the Pending row, and taking
the start message back when the start is refused or fails."""
from __future__ import annotations

import logging
from datetime import datetime

from ...core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError
from ...core.model import InstanceState, TaskMessage
from ...core.status import OrchestrationStatus
from ...protocol.convert import from_timestamp, optional_string
from .message_queue import MessageQueue, SentMessage
from .tracking_store import TrackingStore

log = logging.getLogger(__name__)
CREATE_ATTEMPTS = 4


def pending_state(start: TaskMessage, now: datetime) -> InstanceState:
    """The Pending row an ExecutionStarted message asks for (Generation 0 until a previous
    row says otherwise)."""
    started = start.event.executionStarted
    return InstanceState(
        instance_id=start.instance_id,
        name=started.name,
        version=optional_string(started, "version"),
        execution_id=start.execution_id or started.orchestrationInstance.executionId.value,
        status=OrchestrationStatus.PENDING,
        created_at=now,
        last_updated_at=now,
        input=optional_string(started, "input"),
        scheduled_start_at=(
            from_timestamp(started.scheduledStartTimestamp) if started.HasField("scheduledStartTimestamp") else None
        ),
        generation=0,
        tags=dict(started.tags),
        parent_instance_id=(
            started.parentInstance.orchestrationInstance.instanceId if started.HasField("parentInstance") else None
        ),
    )


async def write_pending_row(
    tracking: TrackingStore, state: InstanceState, dedupe_statuses: frozenset[OrchestrationStatus]
) -> str | None:
    """Insert the Pending row; only if one exists, read it for dedupe and Generation and
    replace it ETag-conditionally. Returns the ETag when the first insert succeeded (no row
    existed), else None. InstanceAlreadyExistsError when the dedupe policy refuses."""
    etag: str | None = None
    for attempt in range(CREATE_ATTEMPTS):
        try:
            new_etag = await tracking.write_instance(state, etag)
            return new_etag if attempt == 0 else None
        except ConcurrencyConflictError:
            previous, etag = await tracking.fetch_instance(state.instance_id, include_payloads=False)
        if previous is not None and previous.execution_id == state.execution_id:
            return None  # a poller already ran this very start and wrote its row
        if previous is not None and previous.status in dedupe_statuses:
            raise InstanceAlreadyExistsError(state.instance_id)
        state = state.evolve(generation=0 if previous is None else previous.generation + 1)
    raise ConcurrencyConflictError(
        f"instance {state.instance_id!r} kept changing while it was being started ({CREATE_ATTEMPTS} attempts)"
    )


async def take_back(queue: MessageQueue, sent: SentMessage) -> None:
    """Delete a start message after a failed start; if that fails too (storage gone), the
    orphan rule in ``work_filter`` decides later."""
    try:
        await queue.delete(sent)
    except Exception:
        log.exception("could not take back start message %s on %s", sent.message_id, queue.name)
