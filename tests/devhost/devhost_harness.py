"""Harness: the management API served by a real aiohttp server on 127.0.0.1 over a real
sidecar (in-memory storage, orchestrations run in process)."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from azure_durable_ext.client.management_urls import WEBHOOK_PATH
from azure_durable_ext.config import HostConfig, load_host_config
from azure_durable_ext.devhost.host import DevHost, DevHostOptions
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.devhost.keys import KeyStore
from azure_durable_ext.devhost.management_api import ManagementApi
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

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




# -- a running dev host ------------------------------------------------------------------------
SAMPLE_APP = Path(__file__).resolve().parents[2] / "function_app_sample"


@contextlib.asynccontextmanager
async def running_dev_host(
    app_dir: Path = SAMPLE_APP,
    *,
    storage: str = "memory",
    keys_file: Path | None = None,
    connection_string: str | None = None,
    worker_args: tuple[str, ...] = (),
) -> AsyncIterator[DevHost]:
    """The dev host on a free port; on Azure storage, a hub of its own on ``connection_string``
    with short polling intervals."""
    config = load_host_config(app_dir)
    if storage == "azure":
        assert connection_string is not None
        durable = dataclasses.replace(
            config.durable,
            hub_name=f"D{uuid.uuid4().hex[:16]}",
            storage=dataclasses.replace(config.durable.storage, max_queue_polling_interval=1.0),
        )
        config = HostConfig(app_dir=config.app_dir, durable=durable,
                            settings={**config.settings, "AzureWebJobsStorage": connection_string})
    host = DevHost(config, DevHostOptions(port=0, storage=storage, keys_file=keys_file, restart_delay=0.1, poll_timeout=0.2,
                                                 worker_args=worker_args))
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def wait_until_done(session: aiohttp.ClientSession, status_url: str, attempts: int = 1500) -> dict[str, Any]:
    """Poll a statusQueryGetUri until it answers 200 (202 + Location meanwhile)."""
    body: Any = None
    for _ in range(attempts):
        async with session.get(status_url) as r:
            body = await r.json()
            if r.status == 200:
                return body  # type: ignore[no-any-return]
            assert r.status == 202, (r.status, body)
            assert r.headers["Location"] == status_url
        await asyncio.sleep(0.02)
    raise AssertionError(f"{status_url} never finished: {body}")
