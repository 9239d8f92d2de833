"""A small FunctionRpc host for tests: a real grpc.aio server on 127.0.0.1 that accepts the
worker's EventStream, records what the worker sends and lets the test send host messages."""
from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from azure_durable_ext.protocol.function_rpc import content_kind, frpc, generic_handler

TIMEOUT = 20.0


class FunctionTestHost:
    """Serves one EventStream at a time; ``request`` sends a message and returns the worker's
    response with the same request id."""

    def __init__(self) -> None:
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.received: list[frpc.StreamingMessage] = []
        self.connected = asyncio.Event()
        self._outbound: asyncio.Queue[frpc.StreamingMessage | None] = asyncio.Queue()
        self._arrived = asyncio.Condition()
        self._ids = itertools.count(1)
        self.stream_ended = asyncio.Event()
        self.http_uri: str | None = None

    async def start(self) -> "FunctionTestHost":
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers((generic_handler(self),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self

    async def stop(self) -> None:
        self._outbound.put_nowait(None)
        if self.server is not None:
            await self.server.stop(None)

    async def EventStream(
        self, requests: AsyncIterator[frpc.StreamingMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[frpc.StreamingMessage]:
        reader = asyncio.create_task(self._read(requests))
        try:
            while True:
                message = await self._outbound.get()
                if message is None:
                    return
                yield message
        finally:
            reader.cancel()

    async def _read(self, requests: AsyncIterator[frpc.StreamingMessage]) -> None:
        try:
            async for message in requests:
                async with self._arrived:
                    self.received.append(message)
                    if content_kind(message) == "start_stream":
                        self.connected.set()
                    self._arrived.notify_all()
        finally:
            self.stream_ended.set()

    def send(self, **content: Any) -> str:
        """Send a host message (``send(worker_status_request=...)``); returns its request id."""
        request_id = f"host-{next(self._ids)}"
        self._outbound.put_nowait(frpc.StreamingMessage(request_id=request_id, **content))
        return request_id

    def end_stream(self) -> None:
        self._outbound.put_nowait(None)

    async def wait_for(self, kind: str, request_id: str | None = None, timeout: float = TIMEOUT,
                       predicate: Any = None) -> frpc.StreamingMessage:
        """The first received message of ``kind`` (and ``request_id``) matching ``predicate``."""

        def find() -> frpc.StreamingMessage | None:
            for message in self.received:
                if content_kind(message) != kind:
                    continue
                if request_id is not None and message.request_id != request_id:
                    continue
                if predicate is not None and not predicate(message):
                    continue
                return message
            return None

        async def wait() -> frpc.StreamingMessage:
            async with self._arrived:
                await self._arrived.wait_for(lambda: find() is not None)
                found = find()
                assert found is not None
                return found

        return await asyncio.wait_for(wait(), timeout)

    async def request(self, response_kind: str, timeout: float = TIMEOUT, **content: Any) -> frpc.StreamingMessage:
        request_id = self.send(**content)
        return await self.wait_for(response_kind, request_id, timeout)

    def logs(self, invocation_id: str | None = None) -> list[frpc.RpcLog]:
        return [m.rpc_log for m in self.received if content_kind(m) == "rpc_log"
                and (invocation_id is None or m.rpc_log.invocation_id == invocation_id)]


async def load_all(host: FunctionTestHost, app_directory: str, *, init: bool = True) -> dict[str, frpc.RpcFunctionMetadata]:
    """WorkerInit (unless the test sent its own), FunctionsMetadata and a FunctionLoad per
    function, as the host does; returns the metadata by function name."""
    if init:
        reply = await host.request("worker_init_response", worker_init_request=frpc.WorkerInitRequest(
            host_version="4.0", function_app_directory=app_directory))
        assert reply.worker_init_response.result.status == frpc.StatusResult.Success
        host.http_uri = reply.worker_init_response.capabilities.get("HttpUri")
    metadata = await host.request("function_metadata_response", functions_metadata_request=frpc.FunctionsMetadataRequest(
        function_app_directory=app_directory))
    assert metadata.function_metadata_response.result.status == frpc.StatusResult.Success, metadata
    functions = {m.name: m for m in metadata.function_metadata_response.function_metadata_results}
    for meta in functions.values():
        loaded = await host.request("function_load_response", function_load_request=frpc.FunctionLoadRequest(
            function_id=meta.function_id, metadata=meta))
        assert loaded.function_load_response.function_id == meta.function_id
        assert loaded.function_load_response.result.status == frpc.StatusResult.Success, loaded
    return functions


def invocation(function: frpc.RpcFunctionMetadata, invocation_id: str, **inputs: Any) -> frpc.InvocationRequest:
    """An InvocationRequest; TypedData inputs go as given, other values as JSON."""
    request = frpc.InvocationRequest(invocation_id=invocation_id, function_id=function.function_id)
    for name, value in inputs.items():
        data = value if isinstance(value, frpc.TypedData) else frpc.TypedData(json=json.dumps(value))
        request.input_data.add(name=name, data=data)
    return request


async def invoke(host: FunctionTestHost, request: frpc.InvocationRequest) -> frpc.InvocationResponse:
    reply = await host.request("invocation_response", invocation_request=request)
    assert reply.invocation_response.invocation_id == request.invocation_id
    return reply.invocation_response
