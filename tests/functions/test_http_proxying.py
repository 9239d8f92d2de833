"""HTTP proxying: the host forwards the HTTP request to the worker's own server (header
x-ms-invocation-id) and sends the InvocationRequest; either may come first. Real aiohttp
client against the worker's server, real FunctionRpc test host."""
from __future__ import annotations

import asyncio
import json

import aiohttp
from functions_support import SAMPLE_APP, RunningWorker, Sidecar, WorkerStarter
from functions_test_host import invocation, invoke, load_all

from azure_durable_ext.client import GrpcDurableTaskClient
from azure_durable_ext.functions import DurableClientBindingData
from azure_durable_ext.functions.http_coordinator import INVOCATION_ID_HEADER
from azure_durable_ext.protocol.function_rpc import frpc


def _http_input(method: str, url: str, **route: str) -> frpc.TypedData:
    return frpc.TypedData(http=frpc.RpcHttp(method=method, url=url, params=route))


async def _until_pending(worker: RunningWorker, count: int) -> None:
    while worker.worker.coordinator.pending < count:
        await asyncio.sleep(0.01)


async def _post(session: aiohttp.ClientSession, url: str, invocation_id: str | None, body: bytes = b"") -> tuple[int, str, dict[str, str]]:
    headers = {INVOCATION_ID_HEADER: invocation_id} if invocation_id else {}
    async with session.post(url, data=body, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_forwarded_request_first(worker: RunningWorker) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    uri = worker.host.http_uri
    assert uri is not None
    async with aiohttp.ClientSession() as session:
        http = asyncio.create_task(_post(session, f"{uri}/api/echo/hi", "inv-h1", b"payload"))
        await _until_pending(worker, 1)  # the request waits at the coordinator
        response = await invoke(worker.host, invocation(
            functions["echo"], "inv-h1", req=_http_input("POST", f"{uri}/api/echo/hi", word="hi")))
        status, text, _ = await http
    assert response.result.status == frpc.StatusResult.Success
    assert not response.HasField("return_value")  # written to the real HTTP response instead
    assert (status, text) == (200, "POST hi payload")
    assert worker.worker.coordinator.pending == 0


async def test_invocation_first(worker: RunningWorker) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    uri = worker.host.http_uri
    request_id = worker.host.send(invocation_request=invocation(
        functions["echo"], "inv-h2", req=_http_input("POST", f"{uri}/api/echo/there", word="there")))
    await _until_pending(worker, 1)  # the invocation waits for its request
    async with aiohttp.ClientSession() as session:
        status, text, _ = await _post(session, f"{uri}/api/echo/there", "inv-h2", b"body")
    reply = await worker.host.wait_for("invocation_response", request_id)
    assert reply.invocation_response.result.status == frpc.StatusResult.Success
    assert (status, text) == (200, "POST there body")


async def test_request_without_invocation_times_out_with_504(start_worker: WorkerStarter) -> None:
    worker = await start_worker(http_pairing_timeout=0.2)
    await load_all(worker.host, str(SAMPLE_APP))
    async with aiohttp.ClientSession() as session:
        status, text, _ = await _post(session, f"{worker.host.http_uri}/api/echo/x", "inv-lost")
    assert status == 504
    assert "no invocation inv-lost arrived" in text
    assert worker.worker.coordinator.pending == 0


async def test_invocation_without_request_fails_clearly(start_worker: WorkerStarter) -> None:
    worker = await start_worker(http_pairing_timeout=0.2)
    functions = await load_all(worker.host, str(SAMPLE_APP))
    response = await invoke(worker.host, invocation(
        functions["echo"], "inv-alone", req=_http_input("GET", "http://localhost/api/echo/x", word="x")))
    assert response.result.status == frpc.StatusResult.Failure
    assert "was not forwarded to the worker" in response.result.exception.message
    assert worker.worker.coordinator.pending == 0


async def test_request_without_invocation_id_header_is_400(worker: RunningWorker) -> None:
    await load_all(worker.host, str(SAMPLE_APP))
    async with aiohttp.ClientSession() as session:
        status, text, _ = await _post(session, f"{worker.host.http_uri}/api/echo/x", None)
    assert status == 400
    assert INVOCATION_ID_HEADER in text


async def test_failing_http_function_answers_500(worker: RunningWorker) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    uri = worker.host.http_uri
    async with aiohttp.ClientSession() as session:
        http = asyncio.create_task(_post(session, f"{uri}/api/start-sync/Hello", "inv-bad"))
        await _until_pending(worker, 1)
        # A durableClient payload that is not JSON: the function fails, the caller gets a 500.
        response = await invoke(worker.host, invocation(
            functions["http_start_sync"], "inv-bad", req=_http_input("POST", f"{uri}/api/start-sync/Hello", name="Hello"),
            client=frpc.TypedData(string="{not json")))
        status, text, _ = await http
    assert response.result.status == frpc.StatusResult.Failure
    assert "not JSON" in response.result.exception.message
    assert status == 500 and "not JSON" in text


async def test_http_start_through_the_proxy_schedules_a_versioned_instance(worker: RunningWorker, sidecar: Sidecar) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    uri = worker.host.http_uri
    payload = DurableClientBindingData(
        rpc_base_url=sidecar.url, task_hub="SampleHub", connection_name="Storage",
        http_base_url="http://localhost:7071/runtime/webhooks/durabletask", required_query_string="code=k3y",
        max_message_size=8 * 1024 * 1024, timeout="00:01:40",
    ).to_json()
    url = f"{uri}/api/orchestrators/Hello?version=1.2.0"
    async with aiohttp.ClientSession() as session:
        http = asyncio.create_task(_post(session, url, "inv-start", json.dumps({"city": "Oslo"}).encode()))
        await _until_pending(worker, 1)
        response = await invoke(worker.host, invocation(
            functions["http_start"], "inv-start", req=_http_input("POST", url, name="Hello"),
            client=frpc.TypedData(string=payload)))
        status, text, headers = await http
    assert response.result.status == frpc.StatusResult.Success, response.result.exception.message
    assert status == 202
    body = json.loads(text)
    assert headers["Location"] == body["statusQueryGetUri"]
    assert body["statusQueryGetUri"].startswith("http://localhost:7071/runtime/webhooks/durabletask/instances/")
    assert "taskHub=SampleHub" in body["statusQueryGetUri"] and "code=k3y" in body["statusQueryGetUri"]
    started = sidecar.recorder.headers_of("StartInstance")
    assert started and started[0]["durable-taskhub"] == "SampleHub"
    (request,) = sidecar.recorder.requests_of("StartInstance")
    assert (request.instanceId, request.name, request.version.value) == (body["id"], "Hello", "1.2.0")
    assert json.loads(request.input.value) == {"city": "Oslo"}
    async with GrpcDurableTaskClient(sidecar.url) as reader:
        state = await reader.get_instance(body["id"])
    assert state is not None and state.name == "Hello"


async def test_without_proxying_the_request_and_response_travel_as_rpc_http(start_worker: WorkerStarter) -> None:
    worker = await start_worker(http_proxying=False)
    functions = await load_all(worker.host, str(SAMPLE_APP))
    assert worker.host.http_uri is None
    http = frpc.RpcHttp(method="PUT", url="http://localhost:7071/api/echo/rpc", params={"word": "rpc"},
                        body=frpc.TypedData(string="inline"))
    response = await invoke(worker.host, invocation(functions["echo"], "inv-rpc", req=frpc.TypedData(http=http)))
    assert response.result.status == frpc.StatusResult.Success
    assert response.return_value.http.status_code == "200"
    assert response.return_value.http.body.bytes == b"PUT rpc inline"


async def test_a_dict_result_becomes_a_json_response(worker: RunningWorker) -> None:
    functions = await load_all(worker.host, str(SAMPLE_APP))
    uri = worker.host.http_uri
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(session.get(f"{uri}/api/info", headers={INVOCATION_ID_HEADER: "inv-info"}))
        response = await invoke(worker.host, invocation(functions["info"], "inv-info", req=_http_input("GET", f"{uri}/api/info")))
        async with await call as http:
            assert (http.status, http.content_type) == (200, "application/json")
            assert await http.json() == {"functions": 11, "method": "GET"}
    assert response.result.status == frpc.StatusResult.Success
    assert not response.HasField("return_value") and not response.output_data
