"""The worker against a real FunctionRpc host (grpc.aio on 127.0.0.1): every message kind,
invocations (success, failure, cancellation, output bindings), logs with invocation ids."""
from __future__ import annotations

import asyncio
import json
import pytest
from functions_support import SAMPLE_APP, RunningWorker
from functions_test_host import invocation, invoke, load_all
from google.protobuf.duration_pb2 import Duration

from azure_durable_ext.protocol.function_rpc import frpc


async def _load_all(worker: RunningWorker) -> dict[str, frpc.RpcFunctionMetadata]:
    return await load_all(worker.host, str(SAMPLE_APP))


async def _invoke(worker: RunningWorker, request: frpc.InvocationRequest) -> frpc.InvocationResponse:
    return await invoke(worker.host, request)


async def test_start_stream_carries_worker_and_request_ids(worker: RunningWorker) -> None:
    start = worker.host.received[0]
    assert start.WhichOneof("content") == "start_stream"
    assert (start.start_stream.worker_id, start.request_id) == ("worker-1", "req-1")


async def test_worker_init_reports_capabilities_with_http_uri(worker: RunningWorker) -> None:
    reply = await worker.host.request("worker_init_response", worker_init_request=frpc.WorkerInitRequest(
        host_version="4.0", capabilities={"RpcHttpBodyOnly": "true"}))
    response = reply.worker_init_response
    assert response.result.status == frpc.StatusResult.Success
    assert response.capabilities["HttpUri"].startswith("http://127.0.0.1:")
    assert response.worker_metadata.runtime_name == "python"


async def test_metadata_load_and_status(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    assert {"http_start", "http_start_sync", "echo", "Hello", "say_hello", "shout", "slow", "boom", "enqueue", "info"} <= set(functions)
    for meta in functions.values():
        assert meta.properties["worker_indexed"] == "True"
        assert meta.language == "python"
    status = await worker.host.request("worker_status_response", worker_status_request=frpc.WorkerStatusRequest())
    assert status.WhichOneof("content") == "worker_status_response"


async def test_function_load_of_unknown_function_fails_clearly(worker: RunningWorker) -> None:
    await _load_all(worker)
    reply = await worker.host.request("function_load_response", function_load_request=frpc.FunctionLoadRequest(
        function_id="nope", metadata=frpc.RpcFunctionMetadata(name="not_there", directory=str(SAMPLE_APP))))
    result = reply.function_load_response.result
    assert result.status == frpc.StatusResult.Failure
    assert "not_there" in result.exception.message


async def test_sync_and_async_activities_succeed_with_logs(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    response = await _invoke(worker, invocation(functions["say_hello"], "inv-1", city="Tokyo"))
    assert response.result.status == frpc.StatusResult.Success
    assert json.loads(response.return_value.json) == "Hello Tokyo!"  # activity results travel as JSON
    response = await _invoke(worker, invocation(functions["shout"], "inv-2", value="hey"))
    assert response.return_value.json == '"HEY"'
    log = await worker.host.wait_for("rpc_log", predicate=lambda m: "saying hello to Tokyo" in m.rpc_log.message)
    assert log.rpc_log.invocation_id == "inv-1"
    assert log.rpc_log.level == frpc.RpcLog.Information
    assert log.rpc_log.log_category == frpc.RpcLog.User


async def test_failure_carries_exception_message_and_stack(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    response = await _invoke(worker, invocation(functions["boom"], "inv-boom", value="x"))
    assert response.result.status == frpc.StatusResult.Failure
    assert "kaboom: x" in response.result.exception.message
    assert "ValueError" in response.result.exception.message
    assert "function_app.py" in response.result.exception.stack_trace
    error_log = await worker.host.wait_for(
        "rpc_log", predicate=lambda m: m.rpc_log.invocation_id == "inv-boom" and m.rpc_log.level == frpc.RpcLog.Error)
    assert "kaboom" in error_log.rpc_log.message


async def test_invocation_cancel_of_a_slow_function_gives_cancelled(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    request_id = worker.host.send(invocation_request=invocation(functions["slow"], "inv-slow", seconds=60))
    quick = await _invoke(worker, invocation(functions["shout"], "inv-quick", value="still serving"))
    assert json.loads(quick.return_value.json) == "STILL SERVING"  # the slow one does not block the worker
    worker.host.send(invocation_cancel=frpc.InvocationCancel(invocation_id="inv-slow"))
    reply = await worker.host.wait_for("invocation_response", request_id)
    assert reply.invocation_response.invocation_id == "inv-slow"
    assert reply.invocation_response.result.status == frpc.StatusResult.Cancelled


async def test_cancel_of_unknown_invocation_is_harmless(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    worker.host.send(invocation_cancel=frpc.InvocationCancel(invocation_id="never-started"))
    response = await _invoke(worker, invocation(functions["shout"], "inv-after", value="ok"))
    assert response.result.status == frpc.StatusResult.Success


async def test_invocation_of_unloaded_function_fails(worker: RunningWorker) -> None:
    await _load_all(worker)
    response = await _invoke(worker, frpc.InvocationRequest(invocation_id="inv-x", function_id="missing"))
    assert response.result.status == frpc.StatusResult.Failure
    assert "missing" in response.result.exception.message


async def test_output_binding_and_return_value(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    response = await _invoke(worker, invocation(functions["enqueue"], "inv-out", value={"a": 1, "b": 2}))
    assert response.result.status == frpc.StatusResult.Success
    outputs = {binding.name: binding.data for binding in response.output_data}
    assert json.loads(outputs["message"].string) == {"a": 1, "b": 2}
    assert response.return_value.json == "2"


async def test_environment_reload_applies_variables(worker: RunningWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H6_RELOAD_CHECK", "before")  # restored by monkeypatch afterwards
    await _load_all(worker)
    reply = await worker.host.request(
        "function_environment_reload_response",
        function_environment_reload_request=frpc.FunctionEnvironmentReloadRequest(
            environment_variables={"H6_RELOAD_CHECK": "after"}, function_app_directory=str(SAMPLE_APP)))
    response = reply.function_environment_reload_response
    assert response.result.status == frpc.StatusResult.Success
    assert response.capabilities["HttpUri"].startswith("http://127.0.0.1:")
    import os

    assert os.environ["H6_RELOAD_CHECK"] == "after"
    # After the reload the app is indexed again and still serves.
    functions = await _load_all(worker)
    assert json.loads((await _invoke(worker, invocation(functions["shout"], "inv-r", value="x"))).return_value.json) == "X"


async def test_worker_terminate_waits_for_inflight_then_stops(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    request_id = worker.host.send(invocation_request=invocation(functions["slow"], "inv-t", seconds=0.2))
    worker.host.send(worker_terminate=frpc.WorkerTerminate(grace_period=Duration(seconds=20)))
    reply = await worker.host.wait_for("invocation_response", request_id)
    assert reply.invocation_response.result.status == frpc.StatusResult.Success
    await asyncio.wait_for(worker.task, 20)
    assert worker.task.exception() is None


async def test_worker_terminate_cancels_after_grace_period(worker: RunningWorker) -> None:
    functions = await _load_all(worker)
    request_id = worker.host.send(invocation_request=invocation(functions["slow"], "inv-g", seconds=60))
    await asyncio.sleep(0.1)
    worker.host.send(worker_terminate=frpc.WorkerTerminate(grace_period=Duration(nanos=100_000_000)))
    reply = await worker.host.wait_for("invocation_response", request_id)
    assert reply.invocation_response.result.status == frpc.StatusResult.Cancelled
    await asyncio.wait_for(worker.task, 20)


async def test_bad_metadata_directory_reports_failure(worker: RunningWorker, tmp_path) -> None:
    reply = await worker.host.request("function_metadata_response", functions_metadata_request=frpc.FunctionsMetadataRequest(
        function_app_directory=str(tmp_path)))
    result = reply.function_metadata_response.result
    assert result.status == frpc.StatusResult.Failure
    assert "function_app.py" in result.exception.message


async def test_function_load_collection(worker: RunningWorker) -> None:
    metadata = await worker.host.request("function_metadata_response", functions_metadata_request=frpc.FunctionsMetadataRequest(
        function_app_directory=str(SAMPLE_APP)))
    functions = list(metadata.function_metadata_response.function_metadata_results)
    reply = await worker.host.request(
        "function_load_response_collection",
        function_load_request_collection=frpc.FunctionLoadRequestCollection(function_load_requests=[
            frpc.FunctionLoadRequest(function_id=m.function_id, metadata=m) for m in functions]))
    responses = reply.function_load_response_collection.function_load_responses
    assert [r.function_id for r in responses] == [m.function_id for m in functions]
    assert all(r.result.status == frpc.StatusResult.Success for r in responses)
    shout = next(m for m in functions if m.name == "shout")
    assert json.loads((await _invoke(worker, invocation(shout, "inv-c", value="loaded"))).return_value.json) == "LOADED"


async def test_messages_a_worker_does_not_expect_are_ignored(worker: RunningWorker) -> None:
    worker.host.send(start_stream=frpc.StartStream(worker_id="echo"))
    worker.host.send(invocation_response=frpc.InvocationResponse(invocation_id="not-for-a-worker"))
    status = await worker.host.request("worker_status_response", worker_status_request=frpc.WorkerStatusRequest())
    assert status.request_id.startswith("host-")
    assert [m.WhichOneof("content") for m in worker.host.received].count("invocation_response") == 0
