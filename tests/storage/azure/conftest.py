"""Fixtures shared by the Azure Storage tests."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options


@pytest.fixture
async def table(azurite: AzuriteProcess) -> AsyncIterator[TableClient]:
    """A new, empty table on Azurite, deleted after the test."""
    async with TableServiceClient.from_connection_string(azurite.connection_string, **client_options()) as svc:
        name = "t" + uuid.uuid4().hex[:12]
        client = await svc.create_table(name)
        try:
            yield client
        finally:
            await svc.delete_table(name)
            await client.close()


@pytest.fixture
async def queue(azurite: AzuriteProcess) -> AsyncIterator[QueueClient]:
    """A new, empty queue on Azurite, deleted after the test."""
    async with QueueServiceClient.from_connection_string(azurite.connection_string, **client_options()) as svc:
        name = "q" + uuid.uuid4().hex[:12]
        client = await svc.create_queue(name)
        try:
            yield client
        finally:
            await svc.delete_queue(name)
            await client.close()
