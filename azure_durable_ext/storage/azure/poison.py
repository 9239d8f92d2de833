"""Poison messages: recorded in ``{Hub}Poison``, removed from their queue, instance failed.

DurableTask.AzureStorage retries such messages forever. Here a message that cannot be read,
or was delivered more than ``poisonMessageDequeueCount`` times without being completed
(its worker or process died, its checkpoint kept failing), is moved to the poison table
(PartitionKey = escaped instance id, RowKey = queue message id; columns Queue, DequeueCount,
Reason, Body) and its instance is failed with error type "PoisonMessage". Deliberate
put-backs (``abandon_*``: no matching worker yet, versioning REJECT) are recorded in the
message (``AbandonCount``) and do not count: such work waits as long as it has to. A
delivery by local hand-off, which the queue does not count, is recorded in the message too
(``LocalDeliveries``) and does count (``MessageQueue.receive`` adds it to DequeueCount).
"""
from __future__ import annotations

import logging
from datetime import datetime

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableClient

from ..._proto import pb
from ...core.clock import Clock
from ...core.errors import ConcurrencyConflictError
from ...core.model import FailureDetails
from ...core.status import OrchestrationStatus
from .json_values import datetime_to_timestamp
from .large_messages import MessageManager, externalize_large
from .message_queue import ReceivedMessage
from .names import escape_partition_key
from .operations import StorageOperationCounter
from .tracking_store import TrackingStore

log = logging.getLogger(__name__)
POISON_ERROR_TYPE = "PoisonMessage"
_FAIL_ATTEMPTS = 3


class PoisonMessageHandler:
    """Moves poison messages out of the way and fails the instance they belong to."""

    def __init__(
        self,
        table: TableClient,
        tracking: TrackingStore,
        blobs: MessageManager,
        counter: StorageOperationCounter,
        clock: Clock,
    ) -> None:
        self._table = table
        self._tracking = tracking
        self._blobs = blobs
        self._ops = counter
        self._clock = clock

    async def __call__(self, message: ReceivedMessage, reason: str) -> None:
        instance_id = message.data.message.instance_id if message.data and message.data.message else ""
        row = {
            "PartitionKey": escape_partition_key(instance_id) if instance_id else "(unknown)",
            "RowKey": message.message_id,
            "Queue": message.queue.name,
            "DequeueCount": message.dequeue_count,
            "Reason": reason,
            "Body": message.body,
            "PoisonedAt": self._clock.now(),
        }
        folder = instance_id or "(unknown)"
        uploads = externalize_large(row, lambda prop, _v: f"{folder}/poison-{message.message_id}-{prop}.json.gz")
        await self._blobs.upload_all(uploads)
        self._ops.count("table", "insert")
        try:
            await self._table.create_entity(row)
        except ResourceExistsError:
            log.info("poison message %s was already recorded", message.message_id)
        await message.queue.delete(message)
        log.error(
            "poison message %s on %s for instance %r moved to the poison table: %s",
            message.message_id, message.queue.name, instance_id, reason,
        )
        if instance_id:
            failure = FailureDetails(
                error_type=POISON_ERROR_TYPE,
                message=f"A message for this instance could not be processed and was moved to the poison "
                f"table (queue {message.queue.name}, message {message.message_id}): {reason}",
                is_non_retriable=True,
            )
            await self.fail_instance(instance_id, failure)

    async def fail_instance(self, instance_id: str, failure: FailureDetails) -> bool:
        """Complete a non-terminal instance as Failed (history event + row); False if it was
        gone or terminal already."""
        for attempt in range(_FAIL_ATTEMPTS):
            state, etag = await self._tracking.fetch_instance(instance_id)
            if state is None or state.status.is_terminal:
                return False
            now = self._clock.now()
            try:
                snapshot = await self._tracking.load_history(instance_id)
                if snapshot.execution_id == state.execution_id and snapshot.events:
                    await self._tracking.append_history(
                        instance_id, state.execution_id, [_failed_event(failure, now)], snapshot, now
                    )
                failed = state.evolve(
                    status=OrchestrationStatus.FAILED, failure=failure, completed_at=now, last_updated_at=now, output=None
                )
                await self._tracking.write_instance(failed, etag)
                return True
            except ConcurrencyConflictError:
                log.warning("failing poisoned instance %r raced a checkpoint (attempt %d)", instance_id, attempt + 1)
        log.error("could not mark instance %r as failed after %d attempts", instance_id, _FAIL_ATTEMPTS)
        return False


def _failed_event(failure: FailureDetails, now: datetime) -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=-1, timestamp=datetime_to_timestamp(now))
    event.executionCompleted.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
    event.executionCompleted.failureDetails.CopyFrom(failure.to_pb())
    return event
