"""The provider conformance suite runs every test against each storage provider."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from azurite_fixture import azure_hub

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.memory import InMemoryOrchestrationService
from azure_durable_ext.storage.service import OrchestrationService


@pytest.fixture(params=["memory", "azure"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[OrchestrationService]:
    if request.param == "memory":
        service: OrchestrationService = InMemoryOrchestrationService()
        await service.create_task_hub()
        try:
            yield service
        finally:
            await service.stop()
        return
    azurite: AzuriteProcess = request.getfixturevalue("azurite")
    async with azure_hub(azurite) as azure:
        yield azure
