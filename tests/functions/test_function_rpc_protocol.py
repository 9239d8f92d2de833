"""FunctionRpc: our proto's field numbers equal the upstream protocol's, and the EventStream
is served and called on the real wire path."""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from azure_durable_ext.protocol.function_rpc import (
    EVENT_STREAM_PATH,
    FunctionRpcStub,
    content_kind,
    frpc,
    generic_handler,
)

# (message, field) -> number in azure-functions-language-worker-protobuf's FunctionRpc.proto.
UPSTREAM_NUMBERS = {
    ("StreamingMessage", "request_id"): 1,
    ("StreamingMessage", "start_stream"): 20,
    ("StreamingMessage", "worker_init_request"): 17,
    ("StreamingMessage", "worker_init_response"): 16,
    ("StreamingMessage", "worker_terminate"): 14,
    ("StreamingMessage", "worker_status_request"): 12,
    ("StreamingMessage", "worker_status_response"): 13,
    ("StreamingMessage", "function_load_request"): 8,
    ("StreamingMessage", "function_load_response"): 9,
    ("StreamingMessage", "invocation_request"): 4,
    ("StreamingMessage", "invocation_response"): 5,
    ("StreamingMessage", "invocation_cancel"): 21,
    ("StreamingMessage", "rpc_log"): 2,
    ("StreamingMessage", "function_environment_reload_request"): 25,
    ("StreamingMessage", "function_environment_reload_response"): 26,
    ("StreamingMessage", "functions_metadata_request"): 29,
    ("StreamingMessage", "function_metadata_response"): 30,
    ("StartStream", "worker_id"): 2,
    ("RpcFunctionMetadata", "name"): 4,
    ("RpcFunctionMetadata", "raw_bindings"): 10,
    ("RpcFunctionMetadata", "function_id"): 13,
    ("RpcFunctionMetadata", "properties"): 16,
    ("RpcFunctionMetadata", "language"): 9,
    ("StatusResult", "status"): 4,
    ("StatusResult", "exception"): 2,
    ("InvocationCancel", "invocation_id"): 2,
    ("InvocationResponse", "return_value"): 4,
    ("InvocationResponse", "result"): 3,
    ("TypedData", "http"): 5,
    ("TypedData", "int"): 6,
    ("TypedData", "collection_sint64"): 11,
    ("RpcHttp", "status_code"): 12,
    ("RpcHttp", "query"): 15,
    ("RpcHttp", "rawBody"): 17,
    ("RpcException", "source"): 3,
    ("RpcException", "stack_trace"): 1,
    ("RpcLog", "log_category"): 8,
    ("WorkerTerminate", "grace_period"): 1,
}


@pytest.mark.parametrize(("message", "field"), sorted(UPSTREAM_NUMBERS))
def test_field_numbers_match_upstream(message: str, field: str) -> None:
    descriptor = frpc.DESCRIPTOR.message_types_by_name[message]
    assert descriptor.fields_by_name[field].number == UPSTREAM_NUMBERS[(message, field)]


def test_status_values_match_upstream() -> None:
    assert (frpc.StatusResult.Failure, frpc.StatusResult.Success, frpc.StatusResult.Cancelled) == (0, 1, 2)


class _EchoHost:
    """Answers every message with the same request id and an empty status response."""

    async def EventStream(
        self, requests: AsyncIterator[frpc.StreamingMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[frpc.StreamingMessage]:
        async for message in requests:
            yield frpc.StreamingMessage(
                request_id=f"{content_kind(message)}:{message.request_id}",
                worker_status_response=frpc.WorkerStatusResponse(),
            )


async def test_event_stream_on_the_real_wire_path() -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((generic_handler(_EchoHost()),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert EVENT_STREAM_PATH == "/AzureFunctionsRpcMessages.FunctionRpc/EventStream"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = FunctionRpcStub(channel).EventStream()
            await call.write(frpc.StreamingMessage(request_id="r1", start_stream=frpc.StartStream(worker_id="w")))
            reply = await call.read()
            assert reply.request_id == "start_stream:r1"
            assert content_kind(reply) == "worker_status_response"
            await call.done_writing()
            assert await call.read() is grpc.aio.EOF
    finally:
        await server.stop(None)


def test_renamed_keyword_enum_values_keep_upstream_numbers() -> None:
    assert (frpc.BindingInfo.in_, frpc.BindingInfo.out, frpc.BindingInfo.inout) == (0, 1, 2)
    assert frpc.RpcLog.None_ == 6 and frpc.RpcLog.Critical == 5
