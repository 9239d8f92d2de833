"""Fixtures: the test FunctionRpc host, the worker run in-process against it, and the
durabletask in-memory sidecar on 127.0.0.1 (recording request headers)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from durabletask.internal.orchestrator_service_pb2_grpc import add_TaskHubSidecarServiceServicer_to_server
from durabletask.testing import InMemoryOrchestrationBackend

from azure_durable_ext.functions.grpc_worker import GrpcWorker
from azure_durable_ext.functions.worker_main import WorkerOptions, run_worker

from functions_support import SAMPLE_APP, HeaderRecorder, RunningWorker, Sidecar, WorkerStarter
from functions_test_host import FunctionTestHost

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


@pytest.fixture
async def start_worker(host: FunctionTestHost) -> AsyncIterator[WorkerStarter]:
    """Starts the worker in-process, connected to ``host``; ``**overrides`` change WorkerOptions."""
    running: list[RunningWorker] = []

    async def start(**overrides: Any) -> RunningWorker:
        options = WorkerOptions(**{
            "host": "127.0.0.1", "port": host.port, "worker_id": "worker-1", "request_id": "req-1",
            "max_message_length": 64 * 1024 * 1024, "app_directory": str(SAMPLE_APP),
            "http_proxying": True, **overrides,
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
