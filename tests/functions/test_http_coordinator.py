"""HttpCoordinator and the worker's HTTP server on their own (real aiohttp client and server)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import azure.functions as func
import pytest

from azure_durable_ext.functions.http_coordinator import (
    INVOCATION_ID_HEADER,
    HttpCoordinationTimeout,
    HttpCoordinator,
)
from azure_durable_ext.functions.http_server import WorkerHttpServer


@pytest.fixture
async def server() -> AsyncIterator[WorkerHttpServer]:
    http = WorkerHttpServer(HttpCoordinator(pairing_timeout=5))
    await http.start()
    try:
        yield http
    finally:
        await http.stop()


async def _until_pending(coordinator: HttpCoordinator, count: int) -> None:
    while coordinator.pending != count:
        await asyncio.sleep(0.01)


async def test_server_listens_on_loopback_only(server: WorkerHttpServer) -> None:
    assert server.url is not None and server.url.startswith("http://127.0.0.1:")
    assert await server.start() == server.url  # idempotent


async def test_response_headers_and_status_reach_the_caller(server: WorkerHttpServer) -> None:
    coordinator = server.coordinator
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(session.get(f"{server.url}/api/x?q=1", headers={INVOCATION_ID_HEADER: "i1"}))
        request = await coordinator.claim_request("i1")
        assert (request.method, request.params["q"]) == ("GET", "1")
        coordinator.complete("i1", func.HttpResponse('{"a": 1}', status_code=201, mimetype="application/json",
                                                     headers={"X-Test": "yes"}))
        async with await call as response:
            assert response.status == 201
            assert response.headers["X-Test"] == "yes"
            assert response.content_type == "application/json"
            assert await response.json() == {"a": 1}
    assert coordinator.pending == 0


async def test_second_request_for_one_invocation_is_409(server: WorkerHttpServer) -> None:
    coordinator = server.coordinator
    async with aiohttp.ClientSession() as session:
        first = asyncio.create_task(session.post(f"{server.url}/a", headers={INVOCATION_ID_HEADER: "dup"}))
        await _until_pending(coordinator, 1)
        async with session.post(f"{server.url}/a", headers={INVOCATION_ID_HEADER: "dup"}) as second:
            assert second.status == 409
            assert "already forwarded" in await second.text()
        await coordinator.claim_request("dup")
        coordinator.complete("dup", func.HttpResponse("ok"))
        async with await first as response:
            assert await response.text() == "ok"


async def test_caller_going_away_leaves_nothing_behind(server: WorkerHttpServer) -> None:
    coordinator = server.coordinator
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(session.get(f"{server.url}/gone", headers={INVOCATION_ID_HEADER: "gone"}))
        await _until_pending(coordinator, 1)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
    await _until_pending(coordinator, 0)


async def test_claim_times_out_when_no_request_comes() -> None:
    coordinator = HttpCoordinator(pairing_timeout=0.05)
    with pytest.raises(HttpCoordinationTimeout, match="was not forwarded"):
        await coordinator.claim_request("lonely")
    assert coordinator.pending == 0


async def test_error_completion_reaches_the_waiting_request() -> None:
    coordinator = HttpCoordinator(pairing_timeout=5)
    waiting = asyncio.create_task(coordinator.handle_request("e1", func.HttpRequest("GET", "http://x/", body=b"")))
    await coordinator.claim_request("e1")
    coordinator.complete("e1", RuntimeError("function broke"))
    with pytest.raises(RuntimeError, match="function broke"):
        await waiting
    coordinator.complete("e1", func.HttpResponse("late"))  # idempotent, nothing waiting


async def test_cancelled_invocation_answers_the_caller(server: WorkerHttpServer) -> None:
    coordinator = server.coordinator
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(session.get(f"{server.url}/c", headers={INVOCATION_ID_HEADER: "c1"}))
        await coordinator.claim_request("c1")
        coordinator.complete("c1", asyncio.CancelledError())
        async with await call as response:
            assert response.status == 500
            assert "invocation c1 was cancelled" in await response.text()
