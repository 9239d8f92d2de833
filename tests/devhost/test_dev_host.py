"""The dev host end to end with the sample app: a real worker process, the FunctionRpc
host, the sidecar on in-memory storage and the front door, called with a real HTTP client."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from devhost_harness import running_dev_host, wait_until_done

from azure_durable_ext.core.model import InstanceQuery
from azure_durable_ext.devhost.function_rpc_host import WorkerUnavailableError
from azure_durable_ext.devhost.host import DevHost
from azure_durable_ext.functions import DurableClientBindingData
from azure_durable_ext.protocol.function_rpc import frpc


async def _post(session: aiohttp.ClientSession, url: str, body: bytes = b"", **headers: str) -> tuple[int, dict, dict]:
    async with session.post(url, data=body, headers=headers) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else {}), dict(r.headers)


@pytest.fixture
async def dev_host() -> DevHost:
    async with running_dev_host() as host:
        yield host


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"masterKey": "master-1", "functionKeys": {"HttpStart": "start-1"},
                                "systemKeys": {"durabletask_extension": "sys-1"}}))
    return path


async def test_startup_lists_functions_and_urls(dev_host: DevHost) -> None:
    lines = dev_host.describe()
    assert f"  HttpStart: [GET,POST] {dev_host.base_url}/api/orchestrators/{{name}}" in lines
    assert "  HelloOrchestration: orchestrationTrigger" in lines
    assert "  SayHello: activityTrigger" in lines


async def test_unknown_route_and_method(dev_host: DevHost) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{dev_host.base_url}/api/no/such/route") as r:
            assert r.status == 404 and "/api/no/such/route" in (await r.json())["message"]
        async with s.put(f"{dev_host.base_url}/api/orchestrators/HelloOrchestration") as r:
            assert r.status == 405 and "PUT" in (await r.json())["message"]
        async with s.get(f"{dev_host.base_url}/elsewhere") as r:
            assert r.status == 404


async def test_bad_input_to_http_start(dev_host: DevHost) -> None:
    base = f"{dev_host.base_url}/api/orchestrators"
    async with aiohttp.ClientSession() as s:
        status, body, _ = await _post(s, f"{base}/HelloOrchestration", b'{"city": ')
        assert status == 400 and "not valid JSON" in body["error"]
        status, body, _ = await _post(s, f"{base}/GoodbyeOrchestration")
        assert status == 404 and "GoodbyeOrchestration" in body["error"] and "HelloOrchestration" in body["error"]
        status, body, _ = await _post(s, f"{base}/HelloOrchestration?version=2.0/../../x")
        assert status == 400 and "invalid version" in body["error"]
        status, body, _ = await _post(s, f"{base}/HelloOrchestration?version=9.9.9")
        assert status == 404 and "9.9.9" in body["error"] and "1.0.0, 2.0.0" in body["error"]
        # The management API refuses the same things with its own messages.
        mgmt = f"{dev_host.base_url}/runtime/webhooks/durabletask/orchestrators"
        status, body, _ = await _post(s, f"{mgmt}/GoodbyeOrchestration")
        assert status == 404 and "GoodbyeOrchestration" in body["message"]
        status, body, _ = await _post(s, f"{mgmt}/HelloOrchestration", b"[1,")
        assert status == 400 and "not valid JSON" in body["message"]
    page = await dev_host.hub.durable.query(InstanceQuery())
    assert page.instances == []  # nothing was started by the refused requests


async def test_start_through_the_management_api_runs_on_the_worker(dev_host: DevHost) -> None:
    async with aiohttp.ClientSession() as s:
        status, body, headers = await _post(
            s, f"{dev_host.base_url}/runtime/webhooks/durabletask/orchestrators/HelloOrchestration/mgmt-1?version=1.0.0")
        assert status == 202 and body["id"] == "mgmt-1" and headers["Location"] == body["statusQueryGetUri"]
        done = await wait_until_done(s, body["statusQueryGetUri"])
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert done["version"] == "1.0.0"


async def test_keys_are_enforced(keys_file: Path) -> None:
    async with running_dev_host(keys_file=keys_file) as host, aiohttp.ClientSession() as s:
        url = f"{host.base_url}/api/orchestrators/HelloOrchestration"
        status, body, _ = await _post(s, url)
        assert status == 401 and "HttpStart" in body["message"]
        status, body, _ = await _post(s, f"{url}?code=wrong")
        assert status == 401
        status, body, _ = await _post(s, f"{url}?code=start-1")
        assert status == 202
        # Links carry the extension's system key, and work with it.
        assert "code=sys-1" in body["statusQueryGetUri"]
        done = await wait_until_done(s, body["statusQueryGetUri"])
        assert done["runtimeStatus"] == "Completed"
        status, _, _ = await _post(s, url, **{"x-functions-key": "master-1"})
        assert status == 202
        mgmt = f"{host.base_url}/runtime/webhooks/durabletask/instances/{body['id']}"
        async with s.get(mgmt) as r:
            assert r.status == 401
        async with s.get(f"{mgmt}?code=start-1") as r:
            assert r.status == 401  # a function key does not open the management API
        async with s.get(f"{mgmt}?code=master-1") as r:
            assert r.status == 200


async def test_durable_client_binding_data_is_the_grpc_flavour(dev_host: DevHost) -> None:
    assert dev_host.front_door is not None
    http_start = dev_host.functions.function("HttpStart")
    assert http_start is not None
    (binding,) = http_start.bindings_of("durableClient")
    data = json.loads(dev_host.front_door.binding_data(binding, "http://localhost:7071").to_json())
    assert list(data) == ["taskHubName", "connectionName", "rpcBaseUrl", "requiredQueryStringParameters",
                          "httpBaseUrl", "maxGrpcMessageSizeInBytes", "grpcHttpClientTimeout", "useForwardedHost"]
    assert data["taskHubName"] == "SampleHub" and data["connectionName"] == "AzureWebJobsStorage"
    assert dev_host.sidecar is not None and data["rpcBaseUrl"] == f"http://{dev_host.sidecar.address}"
    assert data["httpBaseUrl"] == "http://localhost:7071/runtime/webhooks/durabletask"
    assert data["requiredQueryStringParameters"] is None  # auth disabled: no key to carry
    assert DurableClientBindingData.parse(json.dumps(data)).rpc_base_url == data["rpcBaseUrl"]


async def test_worker_crash_is_reported_and_the_worker_restarted(dev_host: DevHost, caplog: pytest.LogCaptureFixture) -> None:
    functions = dev_host.functions
    first_pid = functions.worker_pid
    with caplog.at_level(logging.ERROR, logger="azure_durable_ext.devhost.function_rpc_host"):
        functions.kill_worker()
        while functions.crashes == 0:
            await asyncio.sleep(0.01)
        await functions.wait_ready(60)
    assert functions.worker_pid != first_pid and functions.launches == 2
    assert any("exited with code" in r.message and "restarting" in r.message for r in caplog.records)
    async with aiohttp.ClientSession() as s:
        status, body, _ = await _post(s, f"{dev_host.base_url}/api/orchestrators/HelloOrchestration")
        assert status == 202
        done = await wait_until_done(s, body["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed" and len(done["output"]) == 4


async def test_in_flight_invocation_fails_clearly_when_the_worker_dies() -> None:
    async with running_dev_host(worker_args=("--http-proxying",)) as dev_host:
        await _kill_the_worker_during_an_invocation(dev_host)


async def _kill_the_worker_during_an_invocation(dev_host: DevHost) -> None:
    # With HTTP proxying, an HTTP-triggered invocation without its forwarded request waits in
    # the worker: kill it then.
    http_start = dev_host.functions.function("HttpStart")
    assert http_start is not None
    request = frpc.InvocationRequest(invocation_id="doomed", function_id=http_start.function_id)
    request.input_data.add(name="req", data=frpc.TypedData(http=frpc.RpcHttp(method="POST", url="http://x/api/orchestrators/a")))
    pending = asyncio.create_task(dev_host.functions.invoke(request))
    while dev_host.functions.in_flight == 0:
        await asyncio.sleep(0.01)
    dev_host.functions.kill_worker()
    with pytest.raises(WorkerUnavailableError, match="invocation doomed lost"):
        await pending
