"""azure_durable_ext: versioned durable orchestrations for Azure Functions in Python."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core import TaskName
from .core.errors import DurableError
from .core.status import OrchestrationStatus

if TYPE_CHECKING:
    from .client import (
        DurableTaskClient,
        FunctionsDurableTaskClient,
        GrpcDurableTaskClient,
        OrchestrationMetadata,
        SyncDurableTaskClient,
    )

# The client layer pulls in grpc and azure.functions; importing it lazily keeps
# `import azure_durable_ext.core...` (and the layers below the client) light.
_LAZY = {
    "DurableTaskClient": "client",
    "FunctionsDurableTaskClient": "client",
    "GrpcDurableTaskClient": "client",
    "OrchestrationMetadata": "client",
    "SyncDurableTaskClient": "client",
}

__all__ = [
    "DurableError",
    "DurableTaskClient",
    "FunctionsDurableTaskClient",
    "GrpcDurableTaskClient",
    "OrchestrationMetadata",
    "OrchestrationStatus",
    "SyncDurableTaskClient",
    "TaskName",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
