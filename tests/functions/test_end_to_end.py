"""The whole path on our side: an HTTP request forwarded to the worker -> http_start with a
durableClient payload -> our sidecar (in-memory storage) -> the app's orchestrator, picked by
name AND version from the indexed registry -> completion read back through the client."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from functions_support import SAMPLE_APP, RunningWorker
from functions_test_host import invocation, invoke, load_all

from azure_durable_ext.client import GrpcDurableTaskClient
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.functions import DurableClientBindingData
from azure_durable_ext.functions.definitions import index_function_app
from azure_durable_ext.functions.http_coordinator import INVOCATION_ID_HEADER
from azure_durable_ext.protocol.function_rpc import frpc
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

HUB = "SampleHub"


@pytest.fixture
async def our_sidecar() -> AsyncIterator[str]:
    registry = index_function_app(SAMPLE_APP).registry
    hub = TaskHub.create(DurableTaskOptions(hub_name=HUB), InMemoryOrchestrationService(task_hub=HUB))
    host = build_sidecar_host(TaskHubRegistry([hub]), registry=registry, poll_timeout=0.2)
    await host.start()
    try:
        yield f"http://{host.address}"
    finally:
        await host.stop(0.5)


@pytest.mark.parametrize("version", ["1.0.0", "1.2.0"])
async def test_http_start_runs_the_requested_version(worker: RunningWorker, our_sidecar: str, version: str) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    payload = DurableClientBindingData(rpc_base_url=our_sidecar, task_hub=HUB, connection_name="AzureWebJobsStorage",
                                       http_base_url="http://localhost:7071/runtime/webhooks/durabletask").to_json()
    url = f"{worker.host.http_uri}/api/orchestrators/Hello?version={version}"
    async with aiohttp.ClientSession() as session:
        post = asyncio.create_task(session.post(url, headers={INVOCATION_ID_HEADER: "inv-e2e"}))
        response = await invoke(worker.host, invocation(
            functions["http_start"], "inv-e2e",
            req=frpc.TypedData(http=frpc.RpcHttp(method="POST", url=url, params={"name": "Hello"})),
            client=frpc.TypedData(string=payload)))
        async with await post as http:
            assert http.status == 202
            body = json.loads(await http.text())
    assert response.result.status == frpc.StatusResult.Success, response.result.exception.message
    async with GrpcDurableTaskClient(our_sidecar, task_hub=HUB) as client:
        done = await client.wait_for_instance_completion(body["id"], timeout=30)
    assert (done.runtime_status, done.name, done.version) == (OrchestrationStatus.COMPLETED, "Hello", version)
    expected = {"1.0.0": "Hello v1!", "1.2.0": "Hello v1.2!"}[version]
    assert done.read_output_as() == expected


async def test_sync_function_gets_the_blocking_client(worker: RunningWorker, our_sidecar: str) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    payload = DurableClientBindingData(rpc_base_url=our_sidecar, task_hub=HUB,
                                       connection_name="AzureWebJobsStorage").to_json()
    url = f"{worker.host.http_uri}/api/start-sync/Hello"
    async with aiohttp.ClientSession() as session:
        post = asyncio.create_task(session.post(url, headers={INVOCATION_ID_HEADER: "inv-sync"}))
        response = await invoke(worker.host, invocation(
            functions["http_start_sync"], "inv-sync",
            req=frpc.TypedData(http=frpc.RpcHttp(method="POST", url=url, params={"name": "Hello"})),
            client=frpc.TypedData(string=payload)))
        async with await post as http:
            assert http.status == 201
            body = await http.json()
    assert response.result.status == frpc.StatusResult.Success, response.result.exception.message
    assert body["version"] == "1.2.0"
    async with GrpcDurableTaskClient(our_sidecar, task_hub=HUB) as client:
        done = await client.wait_for_instance_completion(body["id"], timeout=30)
    assert done.read_output_as() == "Hello v1.2!"
