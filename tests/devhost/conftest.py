"""Fixtures: the management API served by a real aiohttp server on 127.0.0.1 over a real
sidecar (in-memory storage, orchestrations run in process)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from azure_durable_ext.client.management_urls import WEBHOOK_PATH
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.devhost.keys import KeyStore
from azure_durable_ext.devhost.management_api import ManagementApi
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

sys.path.insert(0, str(Path(__file__).parent))

HUB = "DevHostHub"


def say_hello(ctx, city: str) -> str:
    return f"Hello {city}!"


def explode(ctx, value: str) -> str:
    raise ValueError(f"boom {value}")


def hello_v1(ctx, _input):
    results = []
    for city in ("Tokyo", "Seattle"):
        results.append((yield ctx.call_activity("say_hello", city)))
    return results


def hello_v2(ctx, _input):
    results = []
    for city in ("Tokyo", "Seattle", "Cairo"):
        results.append((yield ctx.call_activity("say_hello", city)))
    return results


def waiter(ctx, _input):
    value = yield ctx.wait_for_external_event("Approve")
    return {"approved": value, "input": ctx.get_input()}


def failing(ctx, _input):
    yield ctx.call_activity("explode", "x")


def registry() -> Registry:
    reg = Registry()
    reg.add_orchestrator(hello_v1, "Hello", "1.0.0")
    reg.add_orchestrator(hello_v2, "Hello", "2.0.0")
    reg.add_orchestrator(waiter, "Waiter")
    reg.add_orchestrator(failing, "Failing")
    reg.add_activity(say_hello)
    reg.add_activity(explode)
    return reg


@dataclass
class ManagementServer:
    base: str  # http://127.0.0.1:port/runtime/webhooks/durabletask
    hub: TaskHub
    session: aiohttp.ClientSession


async def serve_management(keys: KeyStore | None, known: set[str] | None) -> AsyncIterator[ManagementServer]:
    options = DurableTaskOptions(hub_name=HUB, default_version="2.0.0")
    hub = TaskHub.create(options, InMemoryOrchestrationService(task_hub=HUB))
    hubs = TaskHubRegistry([hub])
    sidecar = build_sidecar_host(hubs, registry=registry(), poll_timeout=0.2)
    await sidecar.start()
    app = web.Application()
    app.add_subapp(WEBHOOK_PATH, ManagementApi(hubs, keys=keys, known_orchestrators=(lambda: known)).application())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    session = aiohttp.ClientSession()
    try:
        yield ManagementServer(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", hub, session)
    finally:
        await session.close()
        await runner.cleanup()
        await sidecar.stop()


@pytest.fixture
async def mgmt() -> AsyncIterator[ManagementServer]:
    async for server in serve_management(None, {"Hello", "Waiter", "Failing"}):
        yield server


@pytest.fixture
async def keyed_mgmt() -> AsyncIterator[ManagementServer]:
    keys = KeyStore("master-k", {"default": "func-k"}, {"durabletask_extension": "sys-k"})
    async for server in serve_management(keys, None):
        yield server
