"""Fixtures: the test FunctionRpc host, the worker run in-process against it, and the
durabletask in-memory sidecar on 127.0.0.1 (recording request headers)."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from durabletask.internal.orchestrator_service_pb2_grpc import add_TaskHubSidecarServiceServicer_to_server
from durabletask.testing import InMemoryOrchestrationBackend

from azure_durable_ext.functions.worker_main import WorkerOptions, run_worker

from functions_test_host import FunctionTestHost

SAMPLE_APP = Path(__file__).parent / "sample_app"


class HeaderRecorder(grpc.ServerInterceptor):
    """Records (method, headers) of every call the sidecar receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        with self._lock:
            self.calls.append((details.method, dict(details.invocation_metadata or ())))
        return continuation(details)

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


@pytest.fixture
async def worker(host: FunctionTestHost) -> AsyncIterator[RunningWorker]:
    """The worker in-process, connected to ``host`` (StartStream received)."""
    options = WorkerOptions(host="127.0.0.1", port=host.port, worker_id="worker-1", request_id="req-1",
                            max_message_length=64 * 1024 * 1024, app_directory=str(SAMPLE_APP))
    task = asyncio.create_task(run_worker(options))
    try:
        await asyncio.wait_for(host.connected.wait(), 20)
        yield RunningWorker(host, task)
    finally:
        if not task.done():
            host.end_stream()
            try:
                await asyncio.wait_for(asyncio.shield(task), 20)
            finally:
                task.cancel()
        await asyncio.gather(task, return_exceptions=True)
