"""Choose a storage provider by name: ``memory`` or ``azure``."""
from __future__ import annotations

import importlib

from ..config import HostConfig
from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import ConfigurationError
from .service import OrchestrationService

STORAGE_KINDS = ("memory", "azure")


def create_service(
    kind: str, config: HostConfig, hub_name: str | None = None, *, clock: Clock = SYSTEM_CLOCK
) -> OrchestrationService:
    """The OrchestrationService for ``kind``; ``hub_name`` defaults to the configured hub.

    The Azure provider is imported only when asked for (it pulls in the Azure SDK).
    """
    hub = hub_name or config.durable.hub_name
    if kind == "memory":
        from .memory import InMemoryOrchestrationService

        return InMemoryOrchestrationService(clock=clock, task_hub=hub)
    if kind == "azure":
        try:
            module = importlib.import_module("azure_durable_ext.storage.azure.service")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("azure_durable_ext"):
                raise ConfigurationError(
                    "storage 'azure': the Azure Storage provider "
                    "(azure_durable_ext.storage.azure.service) is not available in this build"
                ) from exc
            raise
        provider = getattr(module, "AzureStorageOrchestrationService", None)
        if provider is None:
            raise ConfigurationError(
                "storage 'azure': azure_durable_ext.storage.azure.service has no AzureStorageOrchestrationService"
            )
        return provider.from_config(config, hub_name=hub, clock=clock)  # type: ignore[no-any-return]
    raise ConfigurationError(f"--storage: unknown storage kind {kind!r}; expected one of {', '.join(STORAGE_KINDS)}")
