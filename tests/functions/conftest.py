"""Fixtures: the test FunctionRpc host, the worker run in-process against it, and the
durabletask in-memory sidecar on 127.0.0.1 (recording request headers)."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from durabletask.internal.orchestrator_service_pb2_grpc import add_TaskHubSidecarServiceServicer_to_server
from durabletask.testing import InMemoryOrchestrationBackend

from azure_durable_ext.functions.grpc_worker import GrpcWorker
from azure_durable_ext.functions.worker_main import WorkerOptions, run_worker

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


@pytest.fixture
def sidecar() -> Iterator[Sidecar]:
    backend = InMemoryOrchestrationBackend()
    recorder = HeaderRecorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=8), interceptors=[recorder])
    add_TaskHubSidecarServiceServicer_to_server(backend, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield Sidecar(backend, recorder, port)
    finally:
        server.stop(None)
        backend.reset()


@pytest.fixture
async def host() -> AsyncIterator[FunctionTestHost]:
    test_host = await FunctionTestHost().start()
    try:
        yield test_host
    finally:
        await test_host.stop()


@dataclass
class RunningWorker:
    host: FunctionTestHost
    task: asyncio.Task[None]
    worker: GrpcWorker


WorkerStarter = Callable[..., Awaitable[RunningWorker]]


@pytest.fixture
async def start_worker(host: FunctionTestHost) -> AsyncIterator[WorkerStarter]:
    """Starts the worker in-process, connected to ``host``; ``**overrides`` change WorkerOptions."""
    running: list[RunningWorker] = []

    async def start(**overrides: Any) -> RunningWorker:
        options = WorkerOptions(**{
            "host": "127.0.0.1", "port": host.port, "worker_id": "worker-1", "request_id": "req-1",
            "max_message_length": 64 * 1024 * 1024, "app_directory": str(SAMPLE_APP), **overrides,
        })
        created: list[GrpcWorker] = []
        task = asyncio.create_task(run_worker(options, on_worker=created.append))
        await asyncio.wait_for(host.connected.wait(), 20)
        running.append(RunningWorker(host, task, created[0]))
        return running[-1]

    try:
        yield start
    finally:
        for item in running:
            if not item.task.done():
                host.end_stream()
                try:
                    await asyncio.wait_for(asyncio.shield(item.task), 20)
                finally:
                    item.task.cancel()
            await asyncio.gather(item.task, return_exceptions=True)


@pytest.fixture
async def worker(start_worker: WorkerStarter) -> RunningWorker:
    """The worker in-process, connected to the test host (StartStream received)."""
    return await start_worker()
