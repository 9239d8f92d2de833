"""Fixtures: the durabletask in-memory sidecar on 127.0.0.1 (with a metadata-recording
interceptor), and the official durabletask worker as a real peer that runs orchestrations."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import pytest
from durabletask.internal.orchestrator_service_pb2_grpc import add_TaskHubSidecarServiceServicer_to_server
from durabletask.testing import InMemoryOrchestrationBackend
from durabletask.worker import TaskHubGrpcWorker

from client_test_app import register_app

T = TypeVar("T")


class MetadataRecorder(grpc.ServerInterceptor):
    """Records (method, request headers) of every call the test server receives, and the
    request messages of unary calls (to check what went over the wire)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        method = handler_call_details.method.rsplit("/", 1)[-1]
        headers = {key: value for key, value in (handler_call_details.invocation_metadata or ())}
        with self._lock:
            self.calls.append((handler_call_details.method, headers))
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        def record(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests.append((method, request))
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            record,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def requests_of(self, rpc: str) -> list[Any]:
        with self._lock:
            return [request for method, request in self.requests if method == rpc]

    def methods(self) -> list[str]:
        with self._lock:
            return [method.rsplit("/", 1)[-1] for method, _ in self.calls]

    def headers_of(self, rpc: str) -> list[dict[str, str]]:
        with self._lock:
            return [headers for method, headers in self.calls if method.endswith("/" + rpc)]


@dataclass
class InMemorySidecar:
    backend: InMemoryOrchestrationBackend
    recorder: MetadataRecorder
    port: int
    server: grpc.Server = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def sidecar() -> Iterator[InMemorySidecar]:
    backend = InMemoryOrchestrationBackend()
    recorder = MetadataRecorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=16), interceptors=[recorder])
    add_TaskHubSidecarServiceServicer_to_server(backend, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield InMemorySidecar(backend, recorder, port, server)
    finally:
        backend.stop()  # wakes GetWorkItems streams; the backend has no server of its own
        server.stop(grace=None).wait()


async def _eventually(check: Callable[[], Awaitable[T]], *, until: Callable[[T], bool], attempts: int = 500) -> T:
    """Poll ``check`` until ``until(result)`` holds (a wait for a peer, not a timing check)."""
    result = await check()
    for _ in range(attempts):
        if until(result):
            return result
        await asyncio.sleep(0.02)
        result = await check()
    raise AssertionError(f"condition never held; last result: {result!r}")


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    """``await eventually(check, until=pred)``: poll an async check until it holds."""
    return _eventually


@pytest.fixture
def worker(sidecar: InMemorySidecar) -> Iterator[TaskHubGrpcWorker]:
    w = register_app(TaskHubGrpcWorker(host_address=sidecar.address))
    w.start()
    try:
        yield w
    finally:
        w.stop()
