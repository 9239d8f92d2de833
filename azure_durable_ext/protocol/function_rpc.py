"""The FunctionRpc service (Azure Functions host <-> language worker) on its real wire path.

Our proto uses the package ``azure_durable_ext.functionrpc`` so its descriptors never clash in
protobuf's default pool; generated stubs would therefore call
``/azure_durable_ext.functionrpc.FunctionRpc/EventStream``. The real host serves
``/AzureFunctionsRpcMessages.FunctionRpc/EventStream``: this module registers servers and
builds client stubs on that path.

- Host side (a grpc.aio server): ``server.add_generic_rpc_handlers((generic_handler(servicer),))``
  where ``servicer.EventStream(request_iterator, context)`` is an async generator or coroutine.
- Worker side: ``FunctionRpcStub(channel).EventStream()`` opens the bidirectional stream.
"""
from __future__ import annotations

from typing import Any

import grpc

from .._proto import FunctionRpc_pb2 as frpc

#: The service name on the wire (the upstream proto's package + service).
SERVICE_NAME = "AzureFunctionsRpcMessages.FunctionRpc"
EVENT_STREAM_METHOD = "EventStream"
EVENT_STREAM_PATH = f"/{SERVICE_NAME}/{EVENT_STREAM_METHOD}"

StreamingMessage = frpc.StreamingMessage


def generic_handler(servicer: Any) -> grpc.GenericRpcHandler:
    """A handler serving ``servicer.EventStream`` (bidirectional streaming) on the real path.

    Works for sync and asyncio servers alike (the method kind is taken as is).
    """
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.EventStream,
        request_deserializer=StreamingMessage.FromString,
        response_serializer=StreamingMessage.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {EVENT_STREAM_METHOD: handler})


class FunctionRpcStub:
    """Client stub: ``stub.EventStream()`` returns the bidirectional call object."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        # A sync or an asyncio multi-callable, as the channel is: typed loosely on purpose.
        self.EventStream: Any = channel.stream_stream(
            EVENT_STREAM_PATH,
            request_serializer=StreamingMessage.SerializeToString,
            response_deserializer=StreamingMessage.FromString,
        )


def content_kind(message: frpc.StreamingMessage) -> str | None:
    """Which ``content`` field the message carries (e.g. ``"invocation_request"``), or None."""
    kind: str | None = message.WhichOneof("content")
    return kind


def message_size_options(max_message_length: int | None) -> list[tuple[str, int]]:
    """Channel/server options limiting messages both ways (``--grpcMaxMessageLength``)."""
    if not max_message_length or max_message_length <= 0:
        return []
    return [
        ("grpc.max_receive_message_length", max_message_length),
        ("grpc.max_send_message_length", max_message_length),
    ]


#: Host capability (WorkerInitRequest) of our dev host: it shows an invocation's RpcLog
#: records even when they arrive after its InvocationResponse. The Functions host drops those,
#: so a worker may send them late only to a host that advertises this.
LATE_INVOCATION_LOGS = "AcceptsRpcLogAfterInvocationResponse"

#: Host capability of our dev host: it shows the RpcLog records an InvocationResponse carries
#: in ``result.logs`` (each with its invocation id), as if each had come as its own RpcLog.
#: A worker may then put an invocation's held records into its response instead of writing
#: one more stream message per record. The Functions host does not read them there.
INVOCATION_LOGS_IN_RESPONSE = "ReadsInvocationResponseLogs"

__all__ = [
    "EVENT_STREAM_PATH",
    "INVOCATION_LOGS_IN_RESPONSE",
    "LATE_INVOCATION_LOGS",
    "FunctionRpcStub",
    "SERVICE_NAME",
    "StreamingMessage",
    "content_kind",
    "frpc",
    "generic_handler",
    "message_size_options",
]
