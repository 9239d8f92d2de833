"""Large payloads in the ``{hub}-largemessages`` container, gzip-compressed.

Queue messages over 45 KiB and table properties over 60 KiB (UTF-16 size) go here; the queue
or the row keeps only the blob name. Every blob of an instance lives under ``{instanceId}/``
so a purge deletes them with one listing.
"""
from __future__ import annotations

import gzip
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from ...core.errors import SerializationError
from .operations import StorageOperationCounter

MAX_QUEUE_MESSAGE_BYTES = 45 * 1024
MAX_TABLE_PROPERTY_BYTES = 60 * 1024
#: A row keeps ``{Prop}BlobName`` in place of a property stored as a blob.
BLOB_SUFFIX = "BlobName"
_UPLOAD_MEMORY = 1000


def table_property_too_large(value: str) -> bool:
    """Tables measure strings in UTF-16 code units (2 bytes each, 4 outside the BMP)."""
    return len(value.encode("utf-16-le")) > MAX_TABLE_PROPERTY_BYTES


def queue_message_too_large(body: str) -> bool:
    return len(body.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES


def message_blob_name(instance_id: str, activity_id: str, event_type: str) -> str:
    return f"{instance_id}/message-{activity_id}-{event_type}.json.gz"


def history_blob_name(instance_id: str, row_key: str, event_type: str, prop: str) -> str:
    return f"{instance_id}/history-{row_key}-{event_type}-{uuid.uuid4().hex[:8]}-{prop}.json.gz"


def instance_blob_name(instance_id: str, execution_id: str, prop: str, value: str) -> str:
    """Named by execution and content: rewriting an unchanged value (the input, with every
    checkpoint of the row) reuses the blob, racing writers of different values never share
    a name, and a new execution (after a purge, say) never trusts an older upload."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return f"{instance_id}/instance-{execution_id}-{prop}-{digest}.json.gz"


def externalize_large(row: dict[str, Any], blob_name: Callable[[str, str], str]) -> list[tuple[str, str]]:
    """Move string properties too large for a table into ``{Prop}BlobName`` columns.

    Returns the (blob name, text) pairs the caller must upload before writing the row.
    """
    uploads: list[tuple[str, str]] = []
    for name in list(row):
        value = row[name]
        if isinstance(value, str) and name not in ("PartitionKey", "RowKey") and table_property_too_large(value):
            name_of_blob = blob_name(name, value)
            uploads.append((name_of_blob, value))
            del row[name]
            row[name + BLOB_SUFFIX] = name_of_blob
    return uploads


def blob_columns(row: dict[str, Any]) -> dict[str, str]:
    """{property: blob name} for the values of ``row`` stored as blobs."""
    return {
        k[: -len(BLOB_SUFFIX)]: v
        for k, v in row.items()
        if k.endswith(BLOB_SUFFIX) and isinstance(v, str) and k != BLOB_SUFFIX
    }


class MessageManager:
    """Reads and writes compressed payload blobs."""

    def __init__(self, container: ContainerClient, counter: StorageOperationCounter) -> None:
        self._container = container
        self._ops = counter
        # Blobs this process uploaded: a content-named blob (an instance's input, rewritten
        # with every checkpoint of its row) is not uploaded twice.
        self._uploaded: OrderedDict[str, bytes] = OrderedDict()

    async def upload(self, blob_name: str, text: str) -> None:
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        if self._uploaded.get(blob_name) == digest:
            return
        self._ops.count("blob", "upload")
        await self._container.upload_blob(blob_name, gzip.compress(text.encode("utf-8")), overwrite=True)
        self._uploaded[blob_name] = digest
        self._uploaded.move_to_end(blob_name)
        while len(self._uploaded) > _UPLOAD_MEMORY:
            self._uploaded.popitem(last=False)

    async def download(self, blob_name: str) -> str:
        self._ops.count("blob", "download")
        try:
            stream = await self._container.download_blob(blob_name)
            data = await stream.readall()
        except ResourceNotFoundError as exc:
            raise SerializationError(f"payload blob {blob_name!r} is missing") from exc
        return gzip.decompress(data).decode("utf-8")

    async def delete_instance_blobs(self, instance_id: str) -> int:
        """Delete every blob under ``{instance_id}/``; returns how many."""
        self._ops.count("blob", "list")
        names = [b.name async for b in self._container.list_blobs(name_starts_with=f"{instance_id}/")]
        for name in names:
            self._uploaded.pop(name, None)
            self._ops.count("blob", "delete")
            try:
                await self._container.delete_blob(name)
            except ResourceNotFoundError:
                continue  # deleted concurrently (another purge): the goal is reached
        return len(names)

    async def restore_large(self, row: dict[str, Any]) -> None:
        """Put blob-stored properties back into ``row`` (in place)."""
        for prop, blob_name in blob_columns(row).items():
            row[prop] = await self.download(blob_name)
            del row[prop + BLOB_SUFFIX]

    async def upload_all(self, uploads: list[tuple[str, str]]) -> None:
        for blob_name, text in uploads:
            await self.upload(blob_name, text)
