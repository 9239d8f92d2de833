"""The SDK clients of one task hub and the creation/deletion of its resources."""
from __future__ import annotations

import asyncio
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.blob.aio import ContainerClient
from azure.storage.queue.aio import QueueClient

from .connection import StorageAccount
from .names import TaskHubNames
from .operations import StorageOperationCounter, unavailable_as

#: The hub is created on first contact: a storage endpoint that accepts connections but
#: never answers must fail in seconds there, not after the SDK's one-minute read timeout.
FIRST_CONTACT: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 5, "retry_total": 1}


class HubResources:
    """Table, queue and container clients of a task hub, sharing three service clients."""

    def __init__(self, account: StorageAccount, names: TaskHubNames, counter: StorageOperationCounter) -> None:
        self.account = account
        self.names = names
        self._ops = counter
        self._tables = account.table_service()
        self._queues = account.queue_service()
        self._blobs = account.blob_service()
        self.instances: TableClient = self._tables.get_table_client(names.instances_table)
        self.history: TableClient = self._tables.get_table_client(names.history_table)
        self.partitions: TableClient = self._tables.get_table_client(names.partitions_table)
        self.poison: TableClient = self._tables.get_table_client(names.poison_table)
        self.control_queues: list[QueueClient] = [self._queues.get_queue_client(q) for q in names.control_queues]
        self.work_items: QueueClient = self._queues.get_queue_client(names.work_item_queue)
        self.large_messages: ContainerClient = self._blobs.get_container_client(names.large_messages_container)
        self.leases: ContainerClient = self._blobs.get_container_client(names.leases_container)

    async def create(self) -> None:
        """Create every table, queue and container that is missing."""
        with unavailable_as(self.account.setting_name, f"creating task hub {self.names.hub!r}"):
            await asyncio.gather(
                *(
                    self._ignore(ResourceExistsError, "table", self._tables.create_table(t, **FIRST_CONTACT))
                    for t in self.names.tables
                ),
                *(
                    self._ignore(ResourceExistsError, "queue", self._queues.create_queue(q, **FIRST_CONTACT))
                    for q in self.names.queues
                ),
                *(
                    self._ignore(ResourceExistsError, "blob", self._blobs.create_container(c, **FIRST_CONTACT))
                    for c in self.names.containers
                ),
            )

    async def delete(self) -> None:
        """Delete every table, queue and container of the hub (missing ones are fine)."""
        with unavailable_as(self.account.setting_name, f"deleting task hub {self.names.hub!r}"):
            await asyncio.gather(
                *(self._ignore(ResourceNotFoundError, "table", self._tables.delete_table(t)) for t in self.names.tables),
                *(self._ignore(ResourceNotFoundError, "queue", self._queues.delete_queue(q)) for q in self.names.queues),
                *(
                    self._ignore(ResourceNotFoundError, "blob", self._blobs.delete_container(c))
                    for c in self.names.containers
                ),
            )

    async def _ignore(self, error: type[Exception], service: str, call: object) -> None:
        self._ops.count(service, "admin")
        try:
            await call  # type: ignore[misc]
        except error:
            return  # already in the wanted state

    async def close(self) -> None:
        clients: list[Any] = [
            self.instances, self.history, self.partitions, self.poison,
            *self.control_queues, self.work_items, self.large_messages, self.leases,
            self._tables, self._queues, self._blobs,
        ]
        for client in clients:
            await client.close()
