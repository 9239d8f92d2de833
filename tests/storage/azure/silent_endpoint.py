"""A storage endpoint that accepts connections and never answers (a process that hangs, or
a connection whose other end is gone without a word), and queues on it."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from azure_durable_ext.storage.azure.connection import development_connection_string, parse_connection_string
from azure_durable_ext.storage.azure.large_messages import MessageManager
from azure_durable_ext.storage.azure.message_queue import MessageQueue
from azure_durable_ext.storage.azure.operations import StorageOperationCounter


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    writers: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def silent_queue(port: int, name: str, counter: StorageOperationCounter) -> AsyncIterator[MessageQueue]:
    """A MessageQueue named ``name`` on the silent endpoint at ``port`` (clients closed after)."""
    account = parse_connection_string(development_connection_string(ports={"blob": port, "queue": port, "table": port}))
    queues, blobs = account.queue_service(), account.blob_service()
    try:
        container = blobs.get_container_client("hub-largemessages")
        yield MessageQueue(queues.get_queue_client(name), MessageManager(container, counter), counter)
    finally:
        await queues.close()
        await blobs.close()
