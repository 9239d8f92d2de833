"""Client layer: schedule and manage orchestrations through a Durable Task sidecar.

``GrpcDurableTaskClient`` is the async client over gRPC; ``FunctionsDurableTaskClient``
wraps any client for use inside a Functions app; ``client.sync()`` gives the blocking
flavour of any of them (``SyncDurableTaskClient``); ``intercepted(client, ...)`` puts
operation interceptors around one.
"""
from .base import DurableTaskClient
from .converter import DataConverter, JsonDataConverter
from .functions_client import FunctionsDurableTaskClient
from .grpc_client import GrpcDurableTaskClient
from .interceptors import InterceptedDurableTaskClient, OperationInterceptor, intercepted
from .management_urls import build_management_urls
from .metadata import InstancesPage, OrchestrationMetadata, PurgeResult
from .portal import LoopPortal
from .sync import SyncDurableTaskClient

__all__ = [
    "DataConverter",
    "DurableTaskClient",
    "FunctionsDurableTaskClient",
    "GrpcDurableTaskClient",
    "InstancesPage",
    "InterceptedDurableTaskClient",
    "JsonDataConverter",
    "LoopPortal",
    "OperationInterceptor",
    "OrchestrationMetadata",
    "PurgeResult",
    "SyncDurableTaskClient",
    "build_management_urls",
    "intercepted",
]
