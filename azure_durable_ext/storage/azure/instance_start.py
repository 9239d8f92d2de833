"""The steps of starting an instance that follow the queue send: the Pending row, and taking
the start message back when the start is refused or fails.

A row write that fails without an answer from the service (a transport error after the SDK's
retries, a timeout) may still have been applied. Deleting the start message then could leave
a Pending row that nothing will ever run, and a dedupe policy that refuses every later start
of the id; so after such a failure the row is read back first (``settle_failed_start``)."""
from __future__ import annotations

import logging
from datetime import datetime

from ...core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError
from ...core.model import InstanceState, TaskMessage
from ...core.status import OrchestrationStatus
from ...protocol.convert import from_timestamp, optional_string
from .message_queue import MessageQueue, SentMessage
from .operations import brief_error
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


async def settle_failed_start(
    tracking: TrackingStore, queue: MessageQueue, sent: SentMessage, state: InstanceState, error: Exception
) -> bool:
    """After ``write_pending_row`` failed with ``error`` (not a refusal): True when the row
    names this start's execution after all (the start happened: the caller reports success
    and the message stays). Otherwise the message is taken back and False returned; but when
    the row cannot be read either, the message stays too (False): it runs if the row is ours
    or was never written, and is dropped as superseded if a later start writes its own row."""
    try:
        current, _ = await tracking.fetch_instance(state.instance_id, include_payloads=False)
    except Exception as reread_error:
        log.warning(
            "instance %r: the start's row write failed (%s) and the row could not be read back (%s); "
            "leaving start message %s on %s, as the row may be written",
            state.instance_id, brief_error(error), brief_error(reread_error), sent.message_id, queue.name,
        )
        return False
    if current is not None and current.execution_id == state.execution_id:
        log.warning(
            "instance %r: the start's row write failed (%s) but the row names execution %s: started",
            state.instance_id, brief_error(error), state.execution_id,
        )
        return True
    await take_back(tracking, queue, sent, state)
    return False


async def take_back(tracking: TrackingStore, queue: MessageQueue, sent: SentMessage, state: InstanceState) -> None:
    """Delete a start message after a failed start. A poller that holds it already gets a
    note not to run it, as for a refused start; if storage fails here too, the orphan rule in
    ``work_filter`` decides later."""
    try:
        if not await queue.delete(sent):
            await tracking.record_refused_start(state.instance_id, state.execution_id)
    except Exception:
        log.exception("could not take back start message %s on %s", sent.message_id, queue.name)
