"""Connection forms, request headers, and bad input / server errors surfacing as the
package's exceptions (against the in-memory sidecar, no worker unless stated)."""
from __future__ import annotations

import asyncio
import logging
import socket

import grpc
import pytest

from azure_durable_ext import TaskName
from azure_durable_ext._proto import pb
from azure_durable_ext.protocol.sidecar_rpc import generic_handler

from azure_durable_ext.client import GrpcDurableTaskClient
from azure_durable_ext.core.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidStateError,
    OperationTimeoutError,
    PayloadTooLargeError,
    SerializationError,
    OperationNotSupportedError,
    SidecarUnavailableError,
)


@pytest.mark.parametrize("form", ["{host}:{port}", "http://{host}:{port}", "http://{host}:{port}/"])
async def test_address_forms_reach_the_sidecar_and_send_the_hub_headers(sidecar, form):
    address = form.format(host="127.0.0.1", port=sidecar.port)
    async with GrpcDurableTaskClient(address, task_hub="MyHub", connection_name="MyStorage") as client:
        instance_id = await client.schedule_new_orchestration_instance("hello")
        assert (await client.get_instance(instance_id)).name == "hello"
    for rpc in ("StartInstance", "GetInstance"):
        [headers] = sidecar.recorder.headers_of(rpc)
        assert headers["durable-taskhub"] == "MyHub"
        assert headers["durable-connectionname"] == "MyStorage"


async def test_no_hub_headers_when_not_configured_but_extra_metadata_is_sent(sidecar):
    async with GrpcDurableTaskClient(sidecar.address, metadata=[("X-Trace", "t1")]) as client:
        await client.get_instance("anything")
    [headers] = sidecar.recorder.headers_of("GetInstance")
    assert "durable-taskhub" not in headers and "durable-connectionname" not in headers
    assert headers["x-trace"] == "t1"


async def test_unserializable_input_fails_before_any_rpc(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        with pytest.raises(SerializationError, match=r"builtins\.object"):
            await client.schedule_new_orchestration_instance("hello", object())
        with pytest.raises(SerializationError, match=r"of type .*Widget"):
            await client.raise_event("some-id", "evt", Widget())
        with pytest.raises(SerializationError, match="to JSON"):
            await client.terminate_instance("some-id", float("nan"))
    assert sidecar.recorder.methods() == []


class Widget:
    pass


async def test_invalid_arguments_fail_client_side(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        with pytest.raises(InvalidArgumentError, match="orchestrator name must not be empty"):
            await client.schedule_new_orchestration_instance("")
        with pytest.raises(InvalidArgumentError, match="event_name must not be empty"):
            await client.raise_event("x", " ")
        with pytest.raises(InvalidArgumentError, match="page_size must be positive"):
            await client.query_instances(page_size=0)
        with pytest.raises(InvalidArgumentError, match="timeout must not be negative"):
            await client.wait_for_instance_start("x", timeout=-1)
    assert sidecar.recorder.methods() == []


async def test_already_exists_keeps_the_servers_message(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        await client.schedule_new_orchestration_instance("hello", instance_id="dup")
        with pytest.raises(InstanceAlreadyExistsError) as caught:
            await client.schedule_new_orchestration_instance("hello", instance_id="dup")
    assert str(caught.value) == "Orchestration instance 'dup' already exists"
    assert caught.value.instance_id == "dup"
    assert caught.value.__cause__ is not None  # the gRPC error stays attached


async def test_not_found_keeps_the_servers_message(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        with pytest.raises(InstanceNotFoundError) as caught:
            await client.raise_event("ghost", "evt", 1)
        assert str(caught.value) == "Orchestration instance 'ghost' not found"
        assert caught.value.instance_id == "ghost"
        with pytest.raises(InstanceNotFoundError, match="'ghost' not found"):
            await client.get_instance_history("ghost")
        with pytest.raises(InstanceNotFoundError, match="'ghost' not found"):
            await client.suspend_instance("ghost")


async def test_failed_precondition_maps_to_invalid_state(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        instance_id = await client.schedule_new_orchestration_instance("hello")
        with pytest.raises(InvalidStateError, match="is not in a terminal state"):
            await client.restart_instance(instance_id)
        with pytest.raises(InvalidStateError, match="is not in a failed state"):
            await client.rewind_instance(instance_id)


async def test_wait_timeouts_raise_operation_timeout(sidecar):
    async with GrpcDurableTaskClient(sidecar.address) as client:
        instance_id = await client.schedule_new_orchestration_instance("hello")  # no worker: stays Pending
        with pytest.raises(OperationTimeoutError, match=f"waiting for orchestration instance '{instance_id}' to start"):
            await client.wait_for_instance_start(instance_id, timeout=0.2)
        with pytest.raises(OperationTimeoutError, match="to complete") as caught:
            await client.wait_for_instance_completion(instance_id, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)


async def test_message_size_limit_maps_to_payload_too_large(sidecar):
    async with GrpcDurableTaskClient(sidecar.address, max_message_size=1024) as client:
        with pytest.raises(PayloadTooLargeError, match="larger than max"):
            await client.schedule_new_orchestration_instance("hello", "x" * 4096)
    assert sidecar.recorder.requests_of("StartInstance") == []


async def test_unreachable_sidecar_maps_to_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GrpcDurableTaskClient(f"127.0.0.1:{port}", timeout=5) as client:
        with pytest.raises(SidecarUnavailableError):
            await client.get_instance("x")


async def test_closed_client_refuses_calls(sidecar):
    client = GrpcDurableTaskClient(sidecar.address)
    await client.get_instance("x")
    await client.close()
    await client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_instance("x")


def test_bad_constructor_arguments():
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        GrpcDurableTaskClient("")
    with pytest.raises(InvalidArgumentError, match="TimeSpan"):
        GrpcDurableTaskClient("127.0.0.1:1", timeout="soon")
    with pytest.raises(InvalidArgumentError, match="max_message_size must be positive"):
        GrpcDurableTaskClient("127.0.0.1:1", max_message_size=0)


class OnlyGetInstance:
    """A sidecar that implements one RPC; gRPC answers UNIMPLEMENTED for the rest."""

    async def GetInstance(self, request, context):
        return pb.GetInstanceResponse(exists=False)


async def test_an_rpc_the_sidecar_lacks_maps_to_operation_not_supported():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([generic_handler(OnlyGetInstance())])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with GrpcDurableTaskClient(f"127.0.0.1:{port}") as client:
            assert await client.get_instance("x") is None
            with pytest.raises(OperationNotSupportedError, match="the sidecar does not support rewind_instance"):
                await client.rewind_instance("x")
    finally:
        await server.stop(None)


class AddHeader(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        metadata = list(client_call_details.metadata or ()) + [("x-intercepted", "yes")]
        return await continuation(client_call_details._replace(metadata=metadata), request)


async def test_grpc_client_interceptors_are_applied(sidecar):
    async with GrpcDurableTaskClient(sidecar.address, task_hub="H", interceptors=[AddHeader()]) as client:
        await client.get_instance("x")
    [headers] = sidecar.recorder.headers_of("GetInstance")
    assert headers["x-intercepted"] == "yes" and headers["durable-taskhub"] == "H"


async def test_scheduling_is_logged_with_id_name_version_size_and_start(sidecar, caplog):
    caplog.set_level(logging.INFO, logger="azure_durable_ext.client")
    async with GrpcDurableTaskClient(sidecar.address) as client:
        await client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "hello", instance_id="logged")
    [record] = [r for r in caplog.records if r.name == "azure_durable_ext.client.grpc_client"]
    assert record.getMessage().startswith(
        "Scheduling new hello orchestration (version 1.2.0) with instance ID 'logged' and 7 bytes of input data"
    )
    assert (record.instance_id, record.orchestration_version, record.input_size_bytes) == ("logged", "1.2.0", 7)
    assert record.start_time.tzinfo is not None


async def test_wait_for_ready_waits_for_a_sidecar_that_starts_late():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GrpcDurableTaskClient(f"127.0.0.1:{port}", wait_for_ready=True, timeout=30) as client:
        call = asyncio.ensure_future(client.get_instance("x"))
        await asyncio.sleep(0.2)
        assert not call.done()  # no sidecar yet: still waiting, not failed
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([generic_handler(OnlyGetInstance())])
        assert server.add_insecure_port(f"127.0.0.1:{port}") == port
        await server.start()
        try:
            assert await call is None
        finally:
            await server.stop(None)
