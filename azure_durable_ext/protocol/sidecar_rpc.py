"""The TaskHubSidecarService RPC table, read from our proto's service descriptor.

Our proto file carries a package (to stay apart from the ``durabletask`` package's copy), so
generated gRPC stubs would use the path ``/azure_durable_ext.sidecar.TaskHubSidecarService/``.
The wire path of this protocol has no package: ``/TaskHubSidecarService/<Rpc>``. This module
registers servers and builds client stubs on that path, from one table.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from .._proto import pb

SERVICE_NAME = "TaskHubSidecarService"

_MESSAGES: dict[str, type[Message]] = {
    "google.protobuf.Empty": empty_pb2.Empty,
}


def _message_class(full_name: str) -> type[Message]:
    if full_name in _MESSAGES:
        return _MESSAGES[full_name]
    short = full_name.rsplit(".", 1)[-1]
    message_class: type[Message] = getattr(pb, short)
    return message_class


@dataclass(frozen=True, slots=True)
class Rpc:
    """One method of the service."""

    name: str
    request: type[Message]
    response: type[Message]
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}/{self.name}"


RPCS: dict[str, Rpc] = {
    m.name: Rpc(m.name, _message_class(m.input_type.full_name), _message_class(m.output_type.full_name), m.server_streaming)
    for m in pb.DESCRIPTOR.services_by_name[SERVICE_NAME].methods
}


def method_handlers(servicer: Any) -> dict[str, grpc.RpcMethodHandler]:
    """{rpc name: handler} for every RPC that ``servicer`` defines a method for.

    Works for sync and asyncio servers alike (the method kind is taken as is).
    """
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for rpc in RPCS.values():
        method = getattr(servicer, rpc.name, None)
        if method is None:
            continue
        make = grpc.unary_stream_rpc_method_handler if rpc.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[rpc.name] = make(
            method,
            request_deserializer=rpc.request.FromString,
            response_serializer=_passing_encoded if rpc.server_streaming else rpc.response.SerializeToString,
        )
    return handlers


def _passing_encoded(message: Message | bytes) -> bytes:
    """A streamed message's encoding; a stream may yield messages it encoded itself (bytes),
    e.g. orchestrator work items written around their request's encoding."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def merged_method_handlers(*servicers: Any) -> dict[str, grpc.RpcMethodHandler]:
    """``method_handlers`` of several servicers in one table; where two define one RPC, the
    first wins."""
    merged: dict[str, grpc.RpcMethodHandler] = {}
    for servicer in servicers:
        for name, handler in method_handlers(servicer).items():
            merged.setdefault(name, handler)
    return merged


def generic_handler(*servicers: Any) -> grpc.GenericRpcHandler:
    """A handler serving every RPC one of ``servicers`` defines a method for (where two
    define one RPC, the first wins); RPCs none defines answer UNIMPLEMENTED, as gRPC does
    for unknown methods."""
    return grpc.method_handlers_generic_handler(SERVICE_NAME, merged_method_handlers(*servicers))


def register_servicers(server: grpc.Server | grpc.aio.Server, servicers: Sequence[Any]) -> None:
    """Serve the RPCs the ``servicers`` define on ``server`` (before it starts), through one
    ``generic_handler``.

    Not ``add_registered_method_handlers``: grpc.aio's server then awaits every incoming
    call with ``asyncio.wait`` over one future per registered method plus one (23 here),
    which cost 5-9% of the sidecar's CPU per StartInstance (``bench/start_throughput.py
    --registration``), far more than the generic handler's dict lookup.
    """
    server.add_generic_rpc_handlers((generic_handler(*servicers),))


class SidecarStub:
    """Client stub over a sync or asyncio channel: ``stub.StartInstance(request, ...)``."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for rpc in RPCS.values():
            make: Callable[..., Any] = channel.unary_stream if rpc.server_streaming else channel.unary_unary
            setattr(
                self,
                rpc.name,
                # Registered once per channel (as gRPC's generated stubs do): calls skip
                # the per-call method interning.
                make(
                    rpc.path,
                    request_serializer=rpc.request.SerializeToString,
                    response_deserializer=rpc.response.FromString,
                    _registered_method=True,
                ),
            )

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - only for type checkers' sake
        raise AttributeError(name)
