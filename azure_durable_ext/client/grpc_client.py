"""GrpcDurableTaskClient: DurableTaskClient over the sidecar's gRPC protocol (grpc.aio)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

import grpc

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import DurableError, OperationTimeoutError
from ..protocol.sidecar_rpc import SidecarStub
from .base import DurableTaskClient
from .channel import channel_options, open_channel, parse_address, parse_timeout
from .converter import DEFAULT_CONVERTER, DataConverter
from .operations import Operation, StartOrchestrationInput, WaitForInstanceCompletionInput, WaitForInstanceStartInput
from .rpc_errors import error_from_rpc
from .wire import codec_for

log = logging.getLogger(__name__)

R = TypeVar("R")

#: Request headers the host's LocalGrpcListener reads to pick the task hub (lower case, as
#: HTTP/2 carries every header name).
TASK_HUB_HEADER = "durable-taskhub"
CONNECTION_NAME_HEADER = "durable-connectionname"


class GrpcDurableTaskClient(DurableTaskClient):
    """Talks to a Durable Task sidecar (the Functions host's gRPC listener, or any
    TaskHubSidecarService) at ``address``: ``127.0.0.1:4001``, ``http://127.0.0.1:4001``
    or ``https://host`` (TLS).

    ``task_hub`` / ``connection_name`` travel as the ``Durable-TaskHub`` /
    ``Durable-ConnectionName`` headers; ``max_message_size`` limits messages both ways;
    ``timeout`` (seconds, timedelta or TimeSpan string) bounds every call except the waits,
    which use their own. ``wait_for_ready`` makes calls wait (within their timeout) for a
    sidecar that is not listening yet instead of failing at once with SidecarUnavailableError. The channel opens on first use, on the event loop of that call,
    and the client stays bound to that loop; ``sync()`` gives the blocking flavour.
    """

    def __init__(
        self,
        address: str,
        *,
        task_hub: str | None = None,
        connection_name: str | None = None,
        max_message_size: int | None = None,
        timeout: float | timedelta | str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        wait_for_ready: bool = False,
        data_converter: DataConverter = DEFAULT_CONVERTER,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.address = parse_address(address)
        self.task_hub = task_hub or None
        self.connection_name = connection_name or None
        self.timeout = parse_timeout(timeout)
        self.converter = data_converter
        self._clock = clock
        self._options = channel_options(max_message_size, options)
        self._interceptors = list(interceptors)
        self._credentials = credentials
        self._wait_for_ready = wait_for_ready
        self._metadata = self._call_metadata(metadata)
        self._channel: grpc.aio.Channel | None = None
        self._stub: SidecarStub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _call_metadata(self, extra: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        pairs = [(key.lower(), value) for key, value in extra]
        if self.task_hub:
            pairs.append((TASK_HUB_HEADER, self.task_hub))
        if self.connection_name:
            pairs.append((CONNECTION_NAME_HEADER, self.connection_name))
        return tuple(pairs)

    def __repr__(self) -> str:
        return f"GrpcDurableTaskClient({self.address.target!r}, task_hub={self.task_hub!r})"

    def _ensure_stub(self) -> SidecarStub:
        if self._closed:
            raise RuntimeError("this GrpcDurableTaskClient is closed")
        loop = asyncio.get_running_loop()
        if self._stub is None:
            self._channel = open_channel(self.address, self._options, self._interceptors, self._credentials)
            self._stub = SidecarStub(self._channel)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this GrpcDurableTaskClient is bound to the event loop it first ran on; "
                "create one client per event loop, or use client.sync() from threads"
            )
        return self._stub

    async def execute(self, operation: Operation[R]) -> R:
        codec = codec_for(operation)
        # Build first: a value the converter refuses fails here, before any RPC.
        request = codec.build(operation, self.converter)
        if isinstance(operation, StartOrchestrationInput):
            self._log_scheduling(operation, request)
        stub = self._ensure_stub()
        call = getattr(stub, codec.rpc)
        timeout = operation.call_timeout(self.timeout)
        call_options = {"metadata": self._metadata, "timeout": timeout, "wait_for_ready": self._wait_for_ready}
        try:
            if codec.streaming:
                response: Any = [message async for message in call(request, **call_options)]
            else:
                response = await call(request, **call_options)
        except grpc.aio.AioRpcError as exc:
            raise self._translate(exc, operation, timeout) from exc
        return codec.parse(response, operation, self.converter)  # type: ignore[no-any-return]

    def _translate(self, exc: grpc.aio.AioRpcError, operation: Operation[Any], timeout: float | None) -> DurableError:
        instance_id = getattr(operation, "instance_id", None)
        if (
            isinstance(operation, (WaitForInstanceStartInput, WaitForInstanceCompletionInput))
            and exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        ):
            waited = f" after {timeout:g} s" if timeout is not None else ""
            return OperationTimeoutError(
                f"timed out{waited} waiting for orchestration instance '{instance_id}' "
                f"to {operation.goal} ({exc.details()})"
            )
        error = error_from_rpc(exc.code(), exc.details(), operation=operation.label, instance_id=instance_id)
        log.debug("%s failed: %s %s", operation.label, exc.code().name, exc.details())
        return error

    def _log_scheduling(self, operation: StartOrchestrationInput, request: Any) -> None:
        size = len(request.input.value.encode("utf-8")) if request.HasField("input") else 0
        start = operation.start_at or self._clock.now()
        log.info(
            "Scheduling new %s orchestration (version %s) with instance ID '%s' and %d bytes of input data, "
            "to start at %s",
            operation.name,
            operation.version or "<default>",
            operation.instance_id,
            size,
            start.isoformat(),
            extra={
                "instance_id": operation.instance_id,
                "orchestration_name": operation.name,
                "orchestration_version": operation.version,
                "input_size_bytes": size,
                "start_time": start,
            },
        )

    async def close(self) -> None:
        """Close the channel (idempotent); later calls raise RuntimeError."""
        self._closed = True
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()
