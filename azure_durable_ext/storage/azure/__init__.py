"""The Azure Storage provider (DurableTask.AzureStorage's layout), and Azurite for local runs."""
from .azurite import AzuriteProcess, ensure_development_storage
from .connection import StorageAccount, parse_connection_string
from .operations import StorageOperationCounter
from .orchestration_work import abandon_backoff
from .service import AzureStorageOrchestrationService

__all__ = [
    "AzureStorageOrchestrationService",
    "AzuriteProcess",
    "StorageAccount",
    "StorageOperationCounter",
    "abandon_backoff",
    "ensure_development_storage",
    "parse_connection_string",
]
