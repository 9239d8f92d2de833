"""storage.factory.create_service: picks the provider by kind, errors name the problem."""
from __future__ import annotations

import pytest

from azure_durable_ext.config import HostConfig
from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.storage.factory import create_service
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


def test_memory_kind() -> None:
    service = create_service("memory", HostConfig(durable=DurableTaskOptions(hub_name="MemHub")))
    assert isinstance(service, InMemoryOrchestrationService) and service.task_hub == "MemHub"


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="unknown storage kind 'redis'; expected one of memory, azure"):
        create_service("redis", HostConfig())


def test_azure_kind_builds_the_azure_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    service = create_service("azure", HostConfig(durable=DurableTaskOptions(hub_name="AzHub")))
    assert type(service).__name__ == "AzureStorageOrchestrationService"


def test_azure_kind_without_connection_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        create_service("azure", HostConfig())
