"""The dev host's Azurite comes back when its process dies: same ports, same data."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest
from azure.storage.queue.aio import QueueServiceClient

from azure_durable_ext.devhost.azurite_watch import AzuriteWatch
from azure_durable_ext.storage.azure.azurite import AzuriteProcess


@pytest.mark.timeout(60)
async def test_azurite_that_dies_is_started_again_with_its_data() -> None:
    azurite = AzuriteProcess().start()
    watch = AzuriteWatch(azurite, interval=0.1)
    try:
        async with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
            await queues.create_queue("kept")
            await asyncio.sleep(1.5)  # Azurite saves its data to the folder now and then
        ports = dict(azurite.ports)
        watch.start()
        assert azurite.exit_code() is None
        process = azurite._process
        assert process is not None
        os.kill(process.pid, signal.SIGTERM)  # it dies under the host (SIGTERM: it saves first)
        for _ in range(300):
            if watch.restarts:
                break
            await asyncio.sleep(0.1)
        assert watch.restarts == 1 and azurite.exit_code() is None
        assert azurite.ports == ports, "same ports: the connection string the app uses still works"
        async with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
            assert "kept" in [q.name async for q in queues.list_queues()], "same data folder"
    finally:
        await watch.stop()
        azurite.stop()
    assert azurite.exit_code() is None


async def test_a_stopped_watch_leaves_azurite_alone() -> None:
    azurite = AzuriteProcess().start()
    watch = AzuriteWatch(azurite, interval=0.05)
    try:
        watch.start()
        await watch.stop()
        process = azurite._process
        assert process is not None
        os.kill(process.pid, signal.SIGTERM)
        process.wait(10)
        await asyncio.sleep(0.3)
        assert watch.restarts == 0 and azurite.exit_code() is not None
    finally:
        azurite.stop()
