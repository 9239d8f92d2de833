"""The durableClient binding under the real host: the host's JSON payload becomes a working
client against a real sidecar (durabletask in-memory backend on 127.0.0.1)."""
from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import azure.functions as func
import pytest
from functions_support import Sidecar

from azure_durable_ext.client import FunctionsDurableTaskClient, GrpcDurableTaskClient, SyncDurableTaskClient
from azure_durable_ext.core.errors import ConfigurationError, InvalidArgumentError
from azure_durable_ext.core.task_name import TaskName
from azure_durable_ext.functions import DurableApp, DurableClientBindingData
from azure_durable_ext.functions.client_pool import SHARED_CLIENTS


def grpc_payload(sidecar: Sidecar, **overrides: Any) -> str:
    """The gRPC-protocol payload as the Durable extension writes it (FACTS section 3)."""
    payload = {
        "taskHubName": "MyHub",
        "connectionName": "Storage",
        "rpcBaseUrl": sidecar.url,
        "requiredQueryStringParameters": "code=abc",
        "httpBaseUrl": "http://localhost:7071/runtime/webhooks/durabletask",
        "maxGrpcMessageSizeInBytes": 4194304,
        "grpcHttpClientTimeout": "00:01:40",
        "useForwardedHost": False,
    }
    payload.update(overrides)
    return json.dumps(payload)


LEGACY_PAYLOAD = json.dumps({
    "taskHubName": "MyHub",
    "creationUrls": {"createNewInstancePostUri": "http://localhost:7071/runtime/webhooks/durabletask/orchestrators/{functionName}"},
    "managementUrls": {"id": "INSTANCEID"},
    "baseUrl": "http://localhost:7071/runtime/webhooks/durabletask",
    "requiredQueryStringParameters": "code=abc",
    "rpcBaseUrl": "http://127.0.0.1:17071/durabletask/",
})


def _app_with_starters() -> tuple[DurableApp, dict[str, Any]]:
    app = DurableApp()
    seen: dict[str, Any] = {}

    @app.durable_client_input(client_name="client")
    async def start_async(name: str, client: FunctionsDurableTaskClient) -> str:
        seen["async"] = client
        instance_id = await client.schedule_new_orchestration_instance(TaskName(name, "1.2.0"), input={"n": 1})
        state = await client.get_instance(instance_id)
        assert state is not None
        return f"{instance_id}:{state.name}"

    @app.durable_client_input(client_name="client")
    def start_sync(name: str, client: SyncDurableTaskClient) -> str:
        seen["sync"] = client
        instance_id = client.schedule_new_orchestration_instance(name, version="1.2.0")
        state = client.get_instance(instance_id)
        return f"{instance_id}:{state.name if state else None}"

    seen["start_async"], seen["start_sync"] = start_async, start_sync
    return app, seen


async def test_grpc_payload_gives_a_working_async_client(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    result = await seen["start_async"]("Hello", client=grpc_payload(sidecar))
    instance_id, name = result.split(":")
    assert name == "Hello"
    (request,) = sidecar.recorder.requests_of("StartInstance")
    assert (request.instanceId, request.name, request.version.value) == (instance_id, "Hello", "1.2.0")
    headers = sidecar.recorder.headers_of("StartInstance")[0]
    assert (headers["durable-taskhub"], headers["durable-connectionname"]) == ("MyHub", "Storage")
    # The client was closed after the call.
    with pytest.raises(RuntimeError, match="closed"):
        await seen["async"].get_instance(instance_id)


async def test_grpc_payload_gives_a_working_sync_client_in_def_functions(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    result = await asyncio.to_thread(seen["start_sync"], "Hello", client=grpc_payload(sidecar, taskHubName=None))
    instance_id, name = result.split(":")
    assert name == "Hello"
    (request,) = sidecar.recorder.requests_of("StartInstance")
    assert request.version.value == "1.2.0"
    assert "durable-taskhub" not in sidecar.recorder.headers_of("StartInstance")[0]
    # The invocation's client was closed after the call; the shared portal thread lives on.
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.to_thread(seen["sync"].get_instance, instance_id)
    assert seen["sync"].portal is SHARED_CLIENTS.portal() and not seen["sync"].portal.closed


async def test_invocations_share_one_channel_per_payload_and_loop(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    await seen["start_async"]("Hello", client=grpc_payload(sidecar))
    first = seen["async"]
    await seen["start_async"]("Hello", client=grpc_payload(sidecar))
    second = seen["async"]
    assert first is not second and first.inner is second.inner  # new wrapper, same channel
    await seen["start_async"]("Hello", client=grpc_payload(sidecar, taskHubName="OtherHub"))
    other_hub = seen["async"]
    assert other_hub.inner is not first.inner
    assert sidecar.recorder.headers_of("StartInstance")[-1]["durable-taskhub"] == "OtherHub"
    # The shared client still works after its invocations' wrappers were closed.
    instance_id = sidecar.recorder.requests_of("StartInstance")[0].instanceId
    assert await first.inner.get_instance(instance_id) is not None
    await SHARED_CLIENTS.close_loop()
    assert SHARED_CLIENTS.count(asyncio.get_running_loop()) == 0
    with pytest.raises(RuntimeError, match="closed"):
        await first.inner.get_instance(instance_id)


async def test_shared_clients_are_not_shared_across_event_loops(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    await seen["start_async"]("Hello", client=grpc_payload(sidecar))
    here = seen["async"].inner

    def on_another_loop() -> Any:
        async def invoke_and_close() -> Any:
            await seen["start_async"]("Hello", client=grpc_payload(sidecar))
            await SHARED_CLIENTS.close_loop()
            return seen["async"].inner

        return asyncio.run(invoke_and_close())

    there = await asyncio.to_thread(on_another_loop)
    assert there is not here
    assert len(sidecar.recorder.requests_of("StartInstance")) == 2
    await SHARED_CLIENTS.close_loop()


async def test_payload_fields_reach_the_client(sidecar: Sidecar) -> None:
    data = DurableClientBindingData.parse(grpc_payload(sidecar))
    client = data.create_client()
    try:
        assert isinstance(client.inner, GrpcDurableTaskClient)
        assert client.inner.timeout == 100.0
        assert (client.task_hub, client.connection_name, client.code) == ("MyHub", "Storage", "abc")
        links = client.create_http_management_payload("abc123")
        assert links["statusQueryGetUri"].startswith("http://localhost:7071/runtime/webhooks/durabletask/instances/abc123")
    finally:
        await client.close()
    assert DurableClientBindingData.parse(data.to_json()) == data


async def test_all_optional_fields_null() -> None:
    data = DurableClientBindingData.parse(json.dumps({
        "taskHubName": None, "connectionName": None, "rpcBaseUrl": "http://127.0.0.1:4001",
        "requiredQueryStringParameters": None, "httpBaseUrl": None, "maxGrpcMessageSizeInBytes": None,
        "grpcHttpClientTimeout": None, "useForwardedHost": None,
    }))
    assert data == DurableClientBindingData(rpc_base_url="http://127.0.0.1:4001")


async def test_legacy_payload_gets_a_clear_error() -> None:
    _, seen = _app_with_starters()
    with pytest.raises(ConfigurationError) as raised:
        await seen["start_async"]("Hello", client=LEGACY_PAYLOAD)
    message = str(raised.value)
    assert "legacy HTTP protocol" in message and "Preview extension bundle" in message and "durableRequiresGrpc" in message


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        ("{not json", InvalidArgumentError, "not JSON"),
        ("[1, 2]", InvalidArgumentError, "JSON object"),
        (json.dumps({"taskHubName": "h"}), ConfigurationError, "no rpcBaseUrl"),
        (json.dumps({"rpcBaseUrl": "http://127.0.0.1:1", "maxGrpcMessageSizeInBytes": -5}), InvalidArgumentError,
         "maxGrpcMessageSizeInBytes"),
        (json.dumps({"rpcBaseUrl": "http://127.0.0.1:1", "taskHubName": 7}), InvalidArgumentError, "taskHubName"),
        (json.dumps({"rpcBaseUrl": "http://127.0.0.1:1", "grpcHttpClientTimeout": "soon"}), InvalidArgumentError, "TimeSpan"),
    ],
)
def test_bad_payloads(payload: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        DurableClientBindingData.parse(payload).create_client()


async def test_a_client_object_passes_through_unclosed(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    async with GrpcDurableTaskClient(sidecar.url) as client:
        await seen["start_async"]("Hello", client=client)
        assert await client.get_instance(sidecar.recorder.requests_of("StartInstance")[0].instanceId) is not None


def test_the_worker_sees_str_for_the_client_parameter_and_the_user_function_is_untouched() -> None:
    app = DurableApp()

    async def original(req: int, client: FunctionsDurableTaskClient) -> str:
        return "x"

    app.route(route="r")(app.durable_client_input(client_name="client")(original))
    (function,) = app.get_functions()
    seen_by_worker = function.get_user_function()
    assert inspect.signature(seen_by_worker).parameters["client"].annotation is str
    assert seen_by_worker.__annotations__["client"] is str
    assert inspect.iscoroutinefunction(seen_by_worker)
    assert original.__annotations__["client"] == "FunctionsDurableTaskClient"  # as written (PEP 563)
    assert seen_by_worker.__wrapped__ is original


async def test_use_forwarded_host_builds_links_from_the_forwarded_headers(sidecar: Sidecar) -> None:
    behind_proxy = func.HttpRequest(
        "POST", "http://localhost:7071/api/start", body=b"",
        headers={"X-Forwarded-Host": "myapp.example.com, proxy.internal", "X-Forwarded-Proto": "https"},
    )
    forwarded = DurableClientBindingData.parse(grpc_payload(sidecar, useForwardedHost=True)).create_client()
    plain = DurableClientBindingData.parse(grpc_payload(sidecar, useForwardedHost=False)).create_client()
    try:
        response = forwarded.create_check_status_response(behind_proxy, "abc")
        assert response.headers["Location"] == (
            "https://myapp.example.com/runtime/webhooks/durabletask/instances/abc?taskHub=MyHub&connection=Storage&code=abc"
        )
        assert json.loads(response.get_body())["statusQueryGetUri"] == response.headers["Location"]
        # Without the flag the forwarded headers are ignored: the binding's httpBaseUrl wins.
        assert plain.create_http_management_payload("abc", behind_proxy)["statusQueryGetUri"].startswith(
            "http://localhost:7071/runtime/webhooks/durabletask/instances/abc?")
        # With the flag but no forwarded host, httpBaseUrl is used as is; a forwarded host
        # without a protocol keeps httpBaseUrl's scheme.
        direct = func.HttpRequest("POST", "http://localhost:7071/api/start", body=b"")
        assert forwarded.create_http_management_payload("abc", direct)["id"] == "abc"
        assert forwarded.create_http_management_payload("abc", direct)["statusQueryGetUri"].startswith(
            "http://localhost:7071/runtime/webhooks/durabletask/instances/abc?")
        host_only = func.HttpRequest("POST", "http://localhost:7071/api/start", body=b"",
                                     headers={"x-forwarded-host": "gw.example.com:8443"})
        assert forwarded.create_http_management_payload("abc", host_only)["statusQueryGetUri"].startswith(
            "http://gw.example.com:8443/runtime/webhooks/durabletask/instances/abc?")
    finally:
        await forwarded.close()
        await plain.close()


async def test_the_worker_closes_the_shared_channels_when_it_stops(sidecar: Sidecar) -> None:
    from azure_durable_ext.functions.grpc_worker import GrpcWorker

    _, seen = _app_with_starters()
    await seen["start_async"]("Hello", client=grpc_payload(sidecar))
    await asyncio.to_thread(seen["start_sync"], "Hello", client=grpc_payload(sidecar))
    shared, portal = seen["async"].inner, seen["sync"].portal
    assert SHARED_CLIENTS.count(asyncio.get_running_loop()) == 1 and not portal.closed
    await GrpcWorker(lambda message: None).aclose()
    assert SHARED_CLIENTS.count(asyncio.get_running_loop()) == 0 and portal.closed
    with pytest.raises(RuntimeError, match="closed"):
        await shared.get_instance("any")


async def test_calls_by_name_as_the_worker_makes_them(sidecar: Sidecar) -> None:
    _, seen = _app_with_starters()
    result = await seen["start_async"](name="Hello", client=grpc_payload(sidecar))
    assert result.endswith(":Hello")
    with pytest.raises(RuntimeError, match="closed"):  # closed after the call
        await seen["async"].get_instance("x")
    result = await asyncio.to_thread(lambda: seen["start_sync"](name="Hello", client=grpc_payload(sidecar)))
    assert result.endswith(":Hello")
    # A missing argument is a TypeError, as with Signature.bind before.
    opened: list[FunctionsDurableTaskClient] = []
    app = DurableApp()

    @app.durable_client_input(client_name="client")
    async def needs_name(client: FunctionsDurableTaskClient, name: str) -> str:
        opened.append(client)
        return name

    with pytest.raises(TypeError, match="name"):
        await needs_name(client=grpc_payload(sidecar))

    @app.durable_client_input(client_name="client")
    async def positional_only(client: FunctionsDurableTaskClient, /, name: str) -> str:
        opened.append(client)
        return f"{type(client).__name__} {name}"

    assert await positional_only(grpc_payload(sidecar), name="n") == "FunctionsDurableTaskClient n"
    with pytest.raises(RuntimeError, match="closed"):
        await opened[-1].get_instance("x")
