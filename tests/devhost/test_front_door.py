"""Front door behaviour on a small app: route templates, auth levels, draining on stop."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from devhost_harness import running_dev_host

from azure_durable_ext.devhost.function_rpc_host import WorkerUnavailableError

TEST_APP = Path(__file__).parent / "test_app"


@pytest.mark.parametrize("worker_args", [(), ("--http-proxying",)], ids=["rpc-http", "http-proxying"])
async def test_route_templates_and_auth_levels(tmp_path: Path, worker_args: tuple[str, ...]) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"masterKey": "m", "functionKeys": {"default": "d"}}))
    async with running_dev_host(TEST_APP, keys_file=keys, worker_args=worker_args) as host, aiohttp.ClientSession() as s:
        assert (host.functions.http_uri is not None) == bool(worker_args)
        base = f"{host.base_url}/api"
        async with s.get(f"{base}/slow/5") as r:  # anonymous
            assert (r.status, await r.text()) == (200, "slept 5")
        async with s.get(f"{base}/slow/abc") as r:  # {ms:int} does not match
            assert r.status == 404
        async with s.get(f"{base}/items/7") as r:
            assert r.status == 401 and "items" in (await r.json())["message"]
        async with s.get(f"{base}/items/7?code=d") as r:
            assert (r.status, await r.text()) == (200, "item 7")
        async with s.get(f"{base}/items", headers={"x-functions-key": "m"}) as r:
            assert (r.status, await r.text()) == (200, "item all")
        async with s.post(f"{base}/admin/reset?code=d") as r:
            assert r.status == 401 and "master key" in (await r.json())["message"]
        async with s.post(f"{base}/admin/reset?code=m") as r:
            assert (r.status, await r.text()) == (200, "reset")


@pytest.mark.parametrize("worker_args", [(), ("--http-proxying",)], ids=["rpc-http", "http-proxying"])
async def test_stop_lets_in_flight_requests_finish(worker_args: tuple[str, ...]) -> None:
    async with aiohttp.ClientSession() as s:
        async with running_dev_host(TEST_APP, worker_args=worker_args) as host:
            url = f"{host.base_url}/api/slow/400"

            async def call() -> tuple[int, str]:
                async with s.get(url) as r:
                    return r.status, await r.text()

            in_flight = asyncio.create_task(call())
            while host.functions.in_flight == 0:
                await asyncio.sleep(0.01)
            await host.stop()
            assert host.functions.in_flight == 0
            assert await in_flight == (200, "slept 400")


@pytest.mark.parametrize("worker_args", [(), ("--no-http-proxying",)], ids=["default", "explicit"])
async def test_without_worker_http_server_the_response_travels_in_the_rpc(worker_args: tuple[str, ...]) -> None:
    async with running_dev_host(TEST_APP, worker_args=worker_args) as host, aiohttp.ClientSession() as s:
        assert host.functions.http_uri is None
        async with s.get(f"{host.base_url}/api/slow/1") as r:
            assert (r.status, await r.text()) == (200, "slept 1")
        async with s.get(f"{host.base_url}/api/items/3") as r:  # no keys configured: auth disabled
            assert (r.status, await r.text()) == (200, "item 3")


async def test_an_app_that_fails_to_load_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions\nraise RuntimeError('broken on purpose')\n")
    with pytest.raises(WorkerUnavailableError, match="could not load the app.*broken on purpose"):
        async with running_dev_host(tmp_path):
            raise AssertionError("the dev host started an app that cannot load")


async def test_an_invocation_over_its_timeout_answers_504_logs_the_failure_and_is_no_longer_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="azure_durable_ext.devhost")
    async with running_dev_host(TEST_APP) as host, aiohttp.ClientSession() as s:
        assert host.front_door is not None
        host.front_door.settings = dataclasses.replace(host.front_door.settings, invocation_timeout=0.3)
        async with s.get(f"{host.base_url}/api/slow/5000") as r:
            body = await r.json()
            assert (r.status, body["error"]) == (504, "InvocationTimeout")
            assert "'slow'" in body["message"] and "0.3 s" in body["message"]
        assert host.functions.in_flight == 0
        await asyncio.sleep(0)  # "Executed" is written right after the answer
        failed = [m for m in caplog.messages if m.startswith("Executed 'Functions.slow' (Failed, Id=")]
        assert len(failed) == 1 and failed[0].endswith("timeout value of 0.3 s exceeded")
        async with s.get(f"{host.base_url}/api/slow/1") as r:  # the worker serves the next one
            assert (r.status, await r.text()) == (200, "slept 1")


async def test_invocation_lines_and_the_workers_records_reach_the_host_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="azure_durable_ext.devhost")
    async with running_dev_host(TEST_APP) as host, aiohttp.ClientSession() as s:
        async with s.get(f"{host.base_url}/api/slow/1") as r:
            assert r.status == 200
        for _ in range(500):  # "Executed" is written once the answer is out
            if any("sleeping 1 ms" in m for m in caplog.messages):
                break
            await asyncio.sleep(0.01)
    executing = [m for m in caplog.messages if m.startswith("Executing 'Functions.slow' (GET /api/slow/1, Id=")]
    executed = [m for m in caplog.messages if m.startswith("Executed 'Functions.slow' (Succeeded, Id=")]
    assert len(executing) == 1 and len(executed) == 1
    invocation_id = executing[0].rsplit("Id=", 1)[1].rstrip(")")
    assert f"Id={invocation_id}, Duration=" in executed[0]
    assert caplog.messages.index(executing[0]) < caplog.messages.index(executed[0])
    records = [r for r in caplog.records if r.name == "azure_durable_ext.devhost.worker" and "sleeping 1 ms" in r.getMessage()]
    assert [r.getMessage() for r in records] == [f"[{invocation_id[:8]}] sleeping 1 ms"]
    # The record comes inside the response (INVOCATION_LOGS_IN_RESPONSE): before "Executed".
    assert caplog.messages.index(records[0].getMessage()) < caplog.messages.index(executed[0])


async def test_the_invocation_request_carries_the_http_request_and_route_parameters() -> None:
    async with running_dev_host(TEST_APP) as host, aiohttp.ClientSession() as s:
        sent = []
        invoke = host.functions.invoke

        async def recording_invoke(request, **options):  # type: ignore[no-untyped-def]
            sent.append(request)
            return await invoke(request, **options)

        host.functions.invoke = recording_invoke  # type: ignore[method-assign]
        async with s.post(f"{host.base_url}/api/items/7?a=1&b=x%20y&a=2", data=b"\x00body",
                          headers={"X-Test": "Value"}) as r:
            assert (r.status, await r.text()) == (200, "item 7")
        (request,) = sent
        (function,) = [f for f in host.functions.functions.http_functions() if f.name == "items"]
        assert request.function_id == function.function_id and request.invocation_id
        (trigger,) = request.input_data
        http = trigger.data.http
        assert trigger.name == "req" and http.method == "POST"
        assert http.url == f"{host.base_url}/api/items/7?a=1&b=x%20y&a=2"
        assert http.headers["x-test"] == "Value" and "X-Test" not in http.headers
        assert dict(http.params) == {"id": "7"}
        assert dict(http.query) == {"a": "2", "b": "x y"}  # the last of repeated keys, decoded
        assert http.body.WhichOneof("data") == "bytes" and http.body.bytes == b"\x00body"
        assert {k: v.string for k, v in request.trigger_metadata.items()} == {"id": "7"}
