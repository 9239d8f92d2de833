"""A session-wide Azurite for tests, and a factory of Azure Storage services on it.

Other test folders can use it with ``from azurite_fixture import azurite`` after putting
``tests/storage`` on ``sys.path`` (``tests/storage/conftest.py`` does that for this folder).
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from azure_durable_ext.core.options import AzureStorageOptions
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import parse_connection_string
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteProcess]:
    """Azurite on free 127.0.0.1 ports with a temporary data folder, for the whole session."""
    process = AzuriteProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


def unique_hub_name(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def make_azure_service(
    azurite: AzuriteProcess, *, hub_name: str | None = None, **options: object
) -> AzureStorageOrchestrationService:
    account = parse_connection_string(azurite.connection_string, "AzureWebJobsStorage")
    return AzureStorageOrchestrationService(
        account,
        hub_name=hub_name or unique_hub_name(),
        options=AzureStorageOptions(max_queue_polling_interval=1.0, **options),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def azure_hub(azurite: AzuriteProcess, **options: object) -> AsyncIterator[AzureStorageOrchestrationService]:
    """A fresh task hub (own name) on ``azurite``, deleted and closed afterwards."""
    service = make_azure_service(azurite, **options)
    await service.create_task_hub()
    try:
        yield service
    finally:
        try:
            await service.delete_task_hub()
        finally:
            await service.stop()


@pytest.fixture
async def azure_service(azurite: AzuriteProcess) -> AsyncIterator[AzureStorageOrchestrationService]:
    """A fresh task hub (own name) on the session Azurite, deleted afterwards."""
    async with azure_hub(azurite) as service:
        yield service
