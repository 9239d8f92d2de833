"""One storage queue carrying MessageData bodies (control queues and the work-item queue).

Sending puts bodies over 45 KiB in a blob and queues a wrapper naming it; receiving reads
the blob back, so callers always see whole TaskMessages.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.storage.queue.aio import QueueClient

from ...core.errors import ConcurrencyConflictError, SerializationError, StorageUnavailableError
from ...core.model import TaskMessage
from .connection import RECEIVE_READ_TIMEOUT
from .large_messages import MessageManager, message_blob_name, queue_message_too_large
from .message_codec import (
    MessageData,
    decode_message,
    encode_message,
    with_abandon_count,
    with_local_deliveries,
)
from .operations import StorageOperationCounter, brief_error
from .queue_rest import QueueRestChannel

log = logging.getLogger(__name__)
#: Azure queues hide a message for at most 7 days; later deliveries are re-hidden on receipt.
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 60


@dataclass(slots=True)
class ReceivedMessage:
    """A received queue message: its decoded body (None if unreadable) and its receipt."""

    queue: "MessageQueue"
    message_id: str
    pop_receipt: str
    dequeue_count: int
    body: str
    data: MessageData | None
    error: str | None = None

    @property
    def failed_deliveries(self) -> int:
        """Deliveries that did not end in a completion or a deliberate put-back."""
        return self.dequeue_count - (self.data.abandon_count if self.data is not None else 0)

    @property
    def task_message(self) -> TaskMessage:
        if self.data is None or self.data.message is None:
            raise SerializationError(self.error or "message has no body")
        return self.data.message


@dataclass(slots=True)
class SentMessage:
    message_id: str
    pop_receipt: str


async def gather_sends(
    locked: Sequence[Awaitable[ReceivedMessage]], others: Sequence[Awaitable[object]]
) -> tuple[list[ReceivedMessage], BaseException | None]:
    """Run sends together. Returns the messages sent locked that made it, and the first
    failure for the caller to raise once it has handed those over: they are its to run even
    when another send failed, and left alone they would stay invisible until their lock ran out."""
    results = await asyncio.gather(*locked, *others, return_exceptions=True)
    handed = [r for r in results[: len(locked)] if isinstance(r, ReceivedMessage)]
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    return handed, failure


class MessageQueue:
    """Send, receive, hide and delete MessageData messages on one queue."""

    def __init__(
        self,
        client: QueueClient,
        blobs: MessageManager,
        counter: StorageOperationCounter,
        *,
        receive_timeout: float = RECEIVE_READ_TIMEOUT,
    ) -> None:
        """``receive_timeout``: how long one receive attempt waits for an answer."""
        self._client = client
        self._rest = QueueRestChannel(client)
        self._blobs = blobs
        self._ops = counter
        self.receive_timeout = receive_timeout

    @property
    def name(self) -> str:
        return str(self._client.queue_name)

    async def send(self, data: MessageData, *, visible_at: datetime | None = None, now: datetime | None = None) -> SentMessage:
        """Enqueue ``data`` (hidden until ``visible_at``, capped at the queue's 7 days)."""
        body, _ = await self._body(data)
        hidden = 0
        if visible_at is not None and now is not None:
            hidden = int(min(max(0.0, (visible_at - now).total_seconds()), MAX_VISIBILITY_SECONDS) + 0.999)
        self._ops.count("queue", "send")
        sent = await self._rest.put(body, visibility_timeout=hidden, time_to_live=-1)
        return SentMessage(sent.message_id, sent.pop_receipt)

    async def send_locked(self, data: MessageData, lock_seconds: float) -> ReceivedMessage:
        """Enqueue ``data`` already locked by this process, as if received the moment it
        was sent: invisible for ``lock_seconds``, with the receipt Put Message returns.

        A local hand-off: the process that will run the message saves the receive (one
        storage operation and one round trip). The lock behaves as a received one: renewed,
        released and deleted with the receipt, and if this process dies the message
        reappears when the lock runs out. It counts as one delivery (dequeue count 1). The
        queue does not count it, so the body says so (``local_deliveries``) and a later
        receive adds it to the queue's count: every delivery counts once, as for a message
        that was received (poison detection, the dispatchers' delivery limits).
        """
        data = dataclasses.replace(data, local_deliveries=data.local_deliveries + 1)
        body, blob_name = await self._body(data)
        self._ops.count("queue", "send")
        sent = await self._rest.put(
            body, visibility_timeout=max(1, int(min(lock_seconds, MAX_VISIBILITY_SECONDS))), time_to_live=-1
        )
        if blob_name is not None:  # what a receive would see: the full body, naming its blob
            data = dataclasses.replace(data, compressed_blob_name=blob_name)
        return ReceivedMessage(self, sent.message_id, sent.pop_receipt, data.local_deliveries, body, data)

    async def _body(self, data: MessageData) -> tuple[str, str | None]:
        """The queue text of ``data``: the JSON itself, or over 45 KiB a wrapper naming the
        blob the JSON was uploaded to (then also returned)."""
        body = encode_message(data)
        if not queue_message_too_large(body):
            return body, None
        message = data.message
        assert message is not None  # a wrapper is never re-sent
        blob_name = message_blob_name(message.instance_id, data.activity_id, data.event_type_name)
        await self._blobs.upload(blob_name, body)
        wrapper = MessageData(
            message=None,
            activity_id=data.activity_id,
            compressed_blob_name=blob_name,
            sequence_number=data.sequence_number,
            episode=data.episode,
            sender_instance_id=data.sender_instance_id,
            sender_execution_id=data.sender_execution_id,
            local_deliveries=data.local_deliveries,
        )
        return encode_message(wrapper), blob_name

    async def receive(self, max_messages: int, visibility_timeout: float) -> list[ReceivedMessage]:
        """Up to ``max_messages`` messages (one round trip), hidden for ``visibility_timeout``.

        StorageUnavailableError when storage cannot be reached or does not answer, after
        the SDK's retries (each attempt waits ``receive_timeout`` at most for an answer).
        """
        self._ops.count("queue", "receive")
        try:
            raw = await self._rest.get(max_messages, int(visibility_timeout), read_timeout=self.receive_timeout)
        except ServiceResponseTimeoutError as exc:
            raise StorageUnavailableError(
                f"receiving from queue {self.name}: the last attempt got no answer within {self.receive_timeout:g} s"
            ) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailableError(f"receiving from queue {self.name}: {brief_error(exc)}") from exc
        out = []
        for m in raw:
            body = m.text
            received = ReceivedMessage(self, m.message_id, m.pop_receipt, m.dequeue_count or 1, body, None)
            try:
                data = decode_message(body)
                if data.message is None and data.compressed_blob_name:
                    full = decode_message(await self._blobs.download(data.compressed_blob_name))
                    full.compressed_blob_name = data.compressed_blob_name
                    full.abandon_count = data.abandon_count
                    full.local_deliveries = data.local_deliveries
                    data = full
                received.data = data
                received.dequeue_count += data.local_deliveries
            except SerializationError as exc:
                # Kept (with the reason) so the caller can move it to the poison table.
                received.error = str(exc)
                log.warning("unreadable message %s on %s: %s", m.message_id, self.name, exc)
            out.append(received)
        return out

    async def delete(self, message: ReceivedMessage | SentMessage) -> bool:
        """Delete a message; True when it is gone (deleted now or before), False when a
        receiver holds it (our receipt is outdated: it was received meanwhile)."""
        self._ops.count("queue", "delete")
        try:
            await self._rest.delete(message.message_id, message.pop_receipt)
        except ResourceNotFoundError:
            log.debug("message %s on %s was already gone", message.message_id, self.name)
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) != "PopReceiptMismatch":
                raise
            return False
        return True

    async def hide(self, message: ReceivedMessage, seconds: float, *, deliberate: bool = False) -> None:
        """Make the message visible again after ``seconds`` (renews or releases a lock).

        ``deliberate``: a dispatcher puts it back on purpose; the message records that in
        the same round trip so the redelivery does not count towards poisoning.
        """
        content = None
        if deliberate and message.data is not None:
            content = with_abandon_count(message.body, message.data.abandon_count + 1)
        await self._update(message, seconds, content)
        if content is not None and message.data is not None:
            message.data.abandon_count += 1

    async def release_unhanded(self, message: ReceivedMessage) -> None:
        """Make a message sent locked (``send_locked``) visible at once when it never reached
        its taker: its hand-off is taken off the record, so it is not counted as a delivery."""
        content = None
        if message.data is not None and message.data.local_deliveries:
            content = with_local_deliveries(message.body, message.data.local_deliveries - 1)
        await self._update(message, 0, content)
        if content is not None and message.data is not None:
            message.data.local_deliveries -= 1
            message.dequeue_count -= 1

    async def _update(self, message: ReceivedMessage, seconds: float, content: str | None) -> None:
        """Update Message with the receipt: hidden for ``seconds``, the body replaced unless None."""
        self._ops.count("queue", "update")
        try:
            receipt = await self._rest.update(
                message.message_id, message.pop_receipt, int(min(seconds, MAX_VISIBILITY_SECONDS)), content
            )
        except ResourceNotFoundError as exc:
            raise ConcurrencyConflictError(
                f"message {message.message_id} on {self.name} is no longer locked by this receiver"
            ) from exc
        message.pop_receipt = receipt
        if content is not None:
            message.body = content
