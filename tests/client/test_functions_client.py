"""FunctionsDurableTaskClient: delegation of every operation to a real inner gRPC client
(against the in-memory sidecar), and the check-status response."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

from azure_durable_ext import FunctionsDurableTaskClient, GrpcDurableTaskClient, OrchestrationStatus, TaskName
from azure_durable_ext.client.management_urls import PAYLOAD_KEYS
from azure_durable_ext.client.sync import api_method_names

BASE = "http://localhost:7071/runtime/webhooks/durabletask"


class CountingClient(GrpcDurableTaskClient):
    """The real gRPC client, also noting which operations reached it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []

    async def execute(self, operation):
        self.seen.append(operation.label)
        return await super().execute(operation)


@pytest.fixture
async def functions_client(sidecar):
    inner = CountingClient(sidecar.address, task_hub="FnHub", connection_name="Storage")
    client = FunctionsDurableTaskClient(
        inner, http_base_url=BASE, task_hub="FnHub", connection_name="Storage", required_query_string="code=s3cret"
    )
    yield client
    await client.close()


@pytest.mark.usefixtures("worker")
async def test_every_operation_goes_through_the_inner_client(functions_client, sidecar):
    client = functions_client
    done_id = await client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "fn")
    done = await client.wait_for_instance_completion(done_id, timeout=30)
    assert done.read_output_as() == {"version": "1.2.0", "input": "fn"}
    assert (await client.get_instance(done_id)).runtime_status is OrchestrationStatus.COMPLETED
    assert (await client.get_instance_history(done_id))[-1].HasField("executionCompleted")
    restarted = await client.restart_instance(done_id, restart_with_new_instance_id=True)
    await client.wait_for_instance_completion(restarted, timeout=30)

    waiting = await client.schedule_new_orchestration_instance("wait_for_go")
    await client.wait_for_instance_start(waiting, timeout=30)
    await client.suspend_instance(waiting, "s")
    await client.resume_instance(waiting, "r")
    await client.raise_event(waiting, "go", 1)
    await client.wait_for_instance_completion(waiting, timeout=30)

    doomed = await client.schedule_new_orchestration_instance("wait_for_go")
    await client.terminate_instance(doomed, "bye")
    failed = await client.schedule_new_orchestration_instance("flaky", "fn-rewind")
    await client.wait_for_instance_completion(failed, timeout=30)
    await client.rewind_instance(failed, "again")
    await client.wait_for_instance_completion(failed, timeout=30)

    page = await client.query_instances(page_size=100)
    assert len(page.instances) == 5
    assert len([m async for m in client.iter_instances(page_size=2)]) == 5
    assert (await client.purge_instance(done_id)).deleted_instance_count == 1
    assert (await client.purge_instances(statuses=[OrchestrationStatus.COMPLETED])).deleted_instance_count >= 1

    # Each operation's label is its public method's name: every one reached the inner client.
    assert set(client.inner.seen) == set(api_method_names()) - {"execute", "iter_instances", "iter_instance_pages"}
    assert all(h["durable-taskhub"] == "FnHub" for h in sidecar.recorder.headers_of("StartInstance"))


def test_check_status_response(sidecar):
    client = FunctionsDurableTaskClient(
        GrpcDurableTaskClient(sidecar.address),
        http_base_url=BASE,
        task_hub="TestHubName",
        connection_name="Storage",
        required_query_string="code=s3cret",
    )
    request = func.HttpRequest("POST", "http://localhost:7071/api/start", body=b"")
    response = client.create_check_status_response(request, "inst-1")
    assert response.status_code == 202
    body = json.loads(response.get_body())
    assert list(body) == list(PAYLOAD_KEYS)
    common = "taskHub=TestHubName&connection=Storage&code=s3cret"
    assert body["statusQueryGetUri"] == f"{BASE}/instances/inst-1?{common}"
    assert body["terminatePostUri"] == f"{BASE}/instances/inst-1/terminate?reason={{text}}&{common}"
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    assert response.headers["Content-Type"] == "application/json"
    assert response.mimetype == "application/json"
    assert client.create_http_management_payload("inst-1") == body


def test_links_derive_from_the_request_when_the_binding_has_no_base_url(sidecar):
    client = FunctionsDurableTaskClient(
        GrpcDurableTaskClient(sidecar.address), task_hub="Hub", connection_name="Conn", query_string="code=fromreq"
    )
    request = func.HttpRequest("GET", "https://myapp.azurewebsites.net/api/HttpStart?code=fromreq", body=b"")
    body = json.loads(client.create_check_status_response(request, "i2").get_body())
    assert body["statusQueryGetUri"] == (
        "https://myapp.azurewebsites.net/runtime/webhooks/durabletask/instances/i2?taskHub=Hub&connection=Conn&code=fromreq"
    )
    with pytest.raises(ValueError, match="no base URL"):
        client.create_http_management_payload("i2")


async def test_close_closes_the_inner_client_unless_shared(sidecar):
    inner = GrpcDurableTaskClient(sidecar.address)
    shared = FunctionsDurableTaskClient(inner, task_hub="H", owns_inner=False)
    await shared.get_instance("x")
    await shared.close()
    assert await inner.get_instance("x") is None
    owning = FunctionsDurableTaskClient(inner, task_hub="H")
    await owning.close()
    with pytest.raises(RuntimeError, match="closed"):
        await inner.get_instance("x")
