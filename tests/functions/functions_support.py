"""Shared test types for tests/functions (imported by name: ``from functions_support import``;
test modules must not import from ``conftest``, whose module name every test folder shares)."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from durabletask.testing import InMemoryOrchestrationBackend

from azure_durable_ext.functions.grpc_worker import GrpcWorker

from functions_test_host import FunctionTestHost

SAMPLE_APP = Path(__file__).parent / "sample_app"


class HeaderRecorder(grpc.ServerInterceptor):
    """Records (method, headers) of every call the sidecar receives, and unary requests
    (the in-memory backend does not report an instance's version back)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        with self._lock:
            self.calls.append((details.method, dict(details.invocation_metadata or ())))
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, details.method

        def record(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests.append((method, request))
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            record, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)

    def requests_of(self, rpc: str) -> list[Any]:
        with self._lock:
            return [request for method, request in self.requests if method.endswith("/" + rpc)]

    def headers_of(self, rpc: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for method, headers in self.calls if method.endswith("/" + rpc)]


@dataclass
class Sidecar:
    backend: InMemoryOrchestrationBackend
    recorder: HeaderRecorder
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class RunningWorker:
    host: FunctionTestHost
    task: asyncio.Task[None]
    worker: GrpcWorker


WorkerStarter = Callable[..., Awaitable[RunningWorker]]
