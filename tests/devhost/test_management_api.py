"""The Durable HTTP management API over a real sidecar, called with a real aiohttp client."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from devhost_harness import HUB, ManagementServer

from azure_durable_ext.client.management_urls import PAYLOAD_KEYS


async def _post(s: ManagementServer, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    async with s.session.post(f"{s.base}/{path}", data=data) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None), r.headers


async def _get(s: ManagementServer, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with s.session.get(url if url.startswith("http") else f"{s.base}/{url}", headers=headers) as r:
        return r.status, await r.json(), r.headers


async def _until_done(s: ManagementServer, url: str) -> dict[str, Any]:
    for _ in range(500):
        status, body, headers = await _get(s, url)
        if status == 200:
            return body
        assert status == 202
        assert headers["Location"] == url if url.startswith("http") else f"/{url.split('?')[0]}?" in headers["Location"]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{url} never finished: {body}")


async def test_start_answers_check_status_and_runs_default_version(mgmt: ManagementServer) -> None:
    status, body, headers = await _post(mgmt, "orchestrators/Hello", {"who": "me"})
    assert status == 202
    assert list(body) == list(PAYLOAD_KEYS)
    assert headers["Location"] == body["statusQueryGetUri"]
    assert headers["Retry-After"] == "10"
    assert f"taskHub={HUB}&connection=AzureWebJobsStorage" in body["statusQueryGetUri"]
    assert "code=" not in body["statusQueryGetUri"]
    done = await _until_done(mgmt, body["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["version"] == "2.0.0"
    assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello Cairo!"]
    assert done["input"] == {"who": "me"}
    assert done["name"] == "Hello" and done["instanceId"] == body["id"]
    assert done["createdTime"].endswith("Z") and done["lastUpdatedTime"].endswith("Z")


async def test_start_with_version_and_instance_id(mgmt: ManagementServer) -> None:
    status, body, _ = await _post(mgmt, "orchestrators/Hello/my-id-1?version=1.0.0")
    assert status == 202 and body["id"] == "my-id-1"
    done = await _until_done(mgmt, body["statusQueryGetUri"])
    assert (done["version"], done["output"]) == ("1.0.0", ["Hello Tokyo!", "Hello Seattle!"])
    status, again, _ = await _post(mgmt, "orchestrators/Hello/my-id-1?version=1.0.0")
    assert status == 202  # a finished instance may be started over (NonRunningStates)


async def test_bad_starts_are_refused_clearly(mgmt: ManagementServer) -> None:
    status, body, _ = await _post(mgmt, "orchestrators/Hello", raw=b"{not json")
    assert status == 400 and "not valid JSON" in body["message"] and "line 1 column 2" in body["message"]
    status, body, _ = await _post(mgmt, "orchestrators/NoSuchThing")
    assert status == 404 and "NoSuchThing" in body["message"]
    status, body, _ = await _post(mgmt, "orchestrators/Hello?version=1.0/../x")
    assert status == 400 and "invalid version" in body["message"]
    status, body, _ = await _post(mgmt, "orchestrators/Hello/bad%23id")
    assert status == 400 and "bad#id" in body["message"]
    status, body, _ = await _post(mgmt, "orchestrators/Hello?taskHub=Elsewhere")
    assert status == 404 and "Elsewhere" in body["message"]
    status, body, _ = await _post(mgmt, "orchestrators/Waiter/dup")
    status, body, _ = await _post(mgmt, "orchestrators/Waiter/dup")
    assert status == 409 and "dup already exists" in body["message"]
    # Nothing the refusals touched was lost.
    status, body, _ = await _get(mgmt, "instances/dup")
    assert status == 202 and body["runtimeStatus"] in ("Pending", "Running")


async def test_status_of_unknown_instance_is_404(mgmt: ManagementServer) -> None:
    status, body, _ = await _get(mgmt, "instances/nobody")
    assert status == 404 and "nobody" in body["message"]
    status, body, _ = await _post(mgmt, "instances/nobody/terminate")
    assert status == 404


async def test_raise_event_history_and_purge(mgmt: ManagementServer) -> None:
    _, started, _ = await _post(mgmt, "orchestrators/Waiter/w1", {"n": 1})
    status, running, headers = await _get(mgmt, started["statusQueryGetUri"])
    assert status == 202 and headers["Location"] == started["statusQueryGetUri"]
    status, body, _ = await _post(mgmt, "instances/w1/raiseEvent/Approve", raw=b"{oops")
    assert status == 400 and "not valid JSON" in body["message"]
    status, _, _ = await _post(mgmt, "instances/w1/raiseEvent/Approve", True)
    assert status == 202
    done = await _until_done(mgmt, started["statusQueryGetUri"])
    assert done["output"] == {"approved": True, "input": {"n": 1}}
    _, with_history, _ = await _get(mgmt, "instances/w1?showHistory=true&showHistoryOutput=true&showInput=false")
    kinds = [e["EventType"] for e in with_history["historyEvents"]]
    assert "ExecutionStarted" in kinds and "EventRaised" in kinds and "ExecutionCompleted" in kinds
    assert with_history["input"] is None
    status, body, _ = await _get(mgmt, "instances/w1?showHistory=maybe")
    assert status == 400 and "showHistory" in body["message"]
    async with mgmt.session.delete(f"{mgmt.base}/instances/w1") as r:
        assert r.status == 200 and (await r.json()) == {"instancesDeleted": 1}
    async with mgmt.session.delete(f"{mgmt.base}/instances/w1") as r:
        assert r.status == 404


async def test_terminate_suspend_resume(mgmt: ManagementServer) -> None:
    await _post(mgmt, "orchestrators/Waiter/t1")
    status, _, _ = await _post(mgmt, "instances/t1/suspend?reason=pause")
    assert status == 202
    for _ in range(200):
        _, body, _ = await _get(mgmt, "instances/t1")
        if body["runtimeStatus"] == "Suspended":
            break
        await asyncio.sleep(0.02)
    assert body["runtimeStatus"] == "Suspended"
    assert (await _post(mgmt, "instances/t1/resume?reason=go"))[0] == 202
    assert (await _post(mgmt, "instances/t1/terminate?reason=enough"))[0] == 202
    done = await _until_done(mgmt, "instances/t1")
    assert done["runtimeStatus"] == "Terminated"
    status, body, _ = await _post(mgmt, "instances/t1/suspend")
    assert status == 409 and "Terminated" in body["message"]


async def test_rewind_and_restart(mgmt: ManagementServer) -> None:
    await _post(mgmt, "orchestrators/Failing/f1")
    failed = await _until_done(mgmt, "instances/f1")
    assert failed["runtimeStatus"] == "Failed" and "boom x" in failed["failureDetails"]["errorMessage"]
    assert (await _post(mgmt, "instances/f1/rewind?reason=retry"))[0] == 202
    status, body, _ = await _post(mgmt, "instances/nobody/rewind")
    assert status == 404
    await _post(mgmt, "orchestrators/Hello/r1?version=1.0.0")
    await _until_done(mgmt, "instances/r1")
    status, body, headers = await _post(mgmt, "instances/r1/restart?restartWithNewInstanceId=false")
    assert status == 202 and body["id"] == "r1" and headers["Location"] == body["statusQueryGetUri"]
    status, body, _ = await _post(mgmt, "instances/r1/restart")
    assert status == 202 and body["id"] != "r1"
    restarted = await _until_done(mgmt, body["statusQueryGetUri"])
    assert restarted["version"] == "1.0.0" and len(restarted["output"]) == 2


async def test_list_filter_page_and_purge_by_filter(mgmt: ManagementServer) -> None:
    for i in range(5):
        await _post(mgmt, f"orchestrators/Hello/page-{i}?version=1.0.0", {"i": i})
    for i in range(5):
        await _until_done(mgmt, f"instances/page-{i}")
    await _post(mgmt, "orchestrators/Waiter/page-w")
    status, body, headers = await _get(mgmt, "instances/?instanceIdPrefix=page-&runtimeStatus=Completed,Failed&top=2&showInput=true")
    assert status == 200 and len(body) == 2
    token = headers["x-ms-continuation-token"]
    seen = {b["instanceId"] for b in body}
    assert all(b["input"] is not None for b in body)
    while token:
        _, body, headers = await _get(mgmt, "instances/?instanceIdPrefix=page-&runtimeStatus=Completed&top=2",
                                      headers={"x-ms-continuation-token": token})
        seen |= {b["instanceId"] for b in body}
        token = headers.get("x-ms-continuation-token")
    assert seen == {f"page-{i}" for i in range(5)}
    _, everything, _ = await _get(mgmt, "instances?instanceIdPrefix=page-")
    assert {b["instanceId"] for b in everything} == seen | {"page-w"}
    assert all(b["input"] is None for b in everything)  # showInput defaults to false in lists
    for bad, name in (("runtimeStatus=Sleeping", "runtimeStatus"), ("top=0", "top"),
                      ("createdTimeFrom=yesterday", "createdTimeFrom")):
        status, body, _ = await _get(mgmt, f"instances/?{bad}")
        assert status == 400 and name in body["message"], body
    async with mgmt.session.delete(f"{mgmt.base}/instances/?runtimeStatus=Completed") as r:
        assert r.status == 400 and "createdTimeFrom" in (await r.json())["message"]
    async with mgmt.session.delete(
            f"{mgmt.base}/instances/?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed") as r:
        assert r.status == 200 and (await r.json())["instancesDeleted"] == 5
    _, left, _ = await _get(mgmt, "instances/?instanceIdPrefix=page-")
    assert [b["instanceId"] for b in left] == ["page-w"]


async def test_management_api_needs_the_system_or_master_key(keyed_mgmt: ManagementServer) -> None:
    s = keyed_mgmt
    status, body, _ = await _post(s, "orchestrators/Hello")
    assert status == 401 and "durabletask_extension" in body["message"]
    status, body, _ = await _post(s, "orchestrators/Hello?code=func-k")
    assert status == 401
    status, body, _ = await _post(s, "orchestrators/Hello?code=sys-k")
    assert status == 202 and "code=sys-k" in body["statusQueryGetUri"] and "code=sys-k" in body["terminatePostUri"]
    done = await _until_done(s, body["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    async with s.session.get(f"{s.base}/instances/{body['id']}", headers={"x-functions-key": "master-k"}) as r:
        assert r.status == 200
