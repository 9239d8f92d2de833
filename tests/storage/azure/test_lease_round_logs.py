"""Partition lease rounds while storage is down: one log line per failed round, no traceback
(a traceback per round said nothing more and flooded the log during an Azurite restart); an
unexpected error keeps its traceback."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableClient
from azurite_fixture import unique_hub_name
from partition_support import FAST_LEASES, eventually

from azure_durable_ext.storage.azure import partition_manager
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import (
    client_options,
    development_connection_string,
    parse_connection_string,
)
from azure_durable_ext.storage.azure.partition_manager import TablePartitionManager

QUEUES = ["hub-control-00", "hub-control-01"]
#: Long enough that a refused connection fails through the SDK (after its retries, well under
#: a second) rather than through the manager's own timeout, which was one line already; the
#: lease outlasts that timeout, which the manager keeps as a margin before the expiry.
LEASES = dataclasses.replace(FAST_LEASES, operation_timeout=10.0, lease_interval=30.0)


class _Owner:
    """The partitions the manager asks to poll; nothing to drain."""

    def __init__(self) -> None:
        self.partitions: frozenset[int] = frozenset()

    async def set_owned_partitions(self, partitions: frozenset[int]) -> None:
        self.partitions = partitions

    async def drain_partition(self, partition: int) -> None:
        return None


def _table(connection_string: str, name: str) -> TableClient:
    """A client of table ``name`` with its own transport (closing it closes the connections)."""
    account = parse_connection_string(connection_string, "AzureWebJobsStorage")
    return TableClient.from_connection_string(account.connection_string("table"), name, **client_options())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _failed_rounds(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records
        if r.name == partition_manager.__name__ and "lease round failed" in r.getMessage()
    ]


async def _until_failed_rounds(caplog: pytest.LogCaptureFixture, n: int) -> list[logging.LogRecord]:
    async def wait() -> None:
        while len(_failed_rounds(caplog)) < n:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 40)
    return _failed_rounds(caplog)


async def _three_rounds_one_line_each(caplog: pytest.LogCaptureFixture, what: str) -> None:
    for record in await _until_failed_rounds(caplog, 3):
        assert record.levelno == logging.WARNING
        assert record.exc_info is None, "one line, no traceback"
        assert f"{what} (StorageUnavailableError: AzureWebJobsStorage: cannot reach" in record.getMessage()


@pytest.fixture
async def stopping() -> AsyncIterator[list[TablePartitionManager]]:
    """Managers halted (and their table clients closed) after the test."""
    managers: list[TablePartitionManager] = []
    yield managers
    for manager in managers:
        await manager.halt()
        await manager._table.close()


@pytest.mark.timeout(60)
async def test_first_rounds_with_storage_refusing_connections_log_one_line_each(
    caplog: pytest.LogCaptureFixture, stopping: list[TablePartitionManager]
) -> None:
    caplog.set_level(logging.INFO, logger=partition_manager.__name__)
    port = _closed_port()
    table = _table(development_connection_string(ports={"blob": port, "queue": port, "table": port}), "hubPartitions")
    manager = TablePartitionManager(table, QUEUES, _Owner(), dataclasses.replace(LEASES, acquire_interval=0.05))
    stopping.append(manager)
    asked = asyncio.Event()
    asked.set()
    manager.start_when(asked)
    await _three_rounds_one_line_each(caplog, "first partition lease round failed")
    assert manager.running, "still trying"


@pytest.mark.timeout(90)
async def test_rounds_after_storage_went_away_log_one_line_each(
    caplog: pytest.LogCaptureFixture, stopping: list[TablePartitionManager]
) -> None:
    own = AzuriteProcess()  # this test stops its storage: not the session's Azurite
    own.start()
    try:
        table = _table(own.connection_string, unique_hub_name("L") + "Partitions")
        await table.create_table()
        owner = _Owner()
        manager = TablePartitionManager(table, QUEUES, owner, LEASES)
        stopping.append(manager)
        await manager.start()

        async def owns_both() -> bool:
            return owner.partitions == frozenset({0, 1})

        await eventually("the manager polls both partitions", owns_both)
    finally:
        own.stop()
    caplog.set_level(logging.INFO, logger=partition_manager.__name__)
    await _three_rounds_one_line_each(caplog, "partition lease round failed")
    assert manager.running, "still trying"


@pytest.mark.timeout(60)
async def test_a_round_failing_for_another_reason_logs_its_traceback(
    azurite: AzuriteProcess, caplog: pytest.LogCaptureFixture, stopping: list[TablePartitionManager]
) -> None:
    table = _table(azurite.connection_string, unique_hub_name("L") + "Partitions")
    await table.create_table()
    manager = TablePartitionManager(table, QUEUES, _Owner(), LEASES)
    stopping.append(manager)
    await manager.start()
    caplog.set_level(logging.INFO, logger=partition_manager.__name__)
    await table.delete_table()  # storage answers, but the table is gone (a hub deleted under it)
    failures = await _until_failed_rounds(caplog, 2)
    for record in failures:
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None, "an error storage being down does not explain keeps its traceback"
        assert "ResourceNotFoundError" in repr(record.exc_info[1])
