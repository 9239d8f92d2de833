"""LocalGrpcListener: the sidecar's gRPC server, on loopback only."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import grpc

from ..protocol.sidecar_rpc import register_servicers
from .client_rpcs import ClientRpcs
from .hub import TaskHubRegistry

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class LocalGrpcListener:
    """Serves TaskHubSidecarService on 127.0.0.1 (never another interface).

    The client RPCs come from ClientRpcs; ``extra_servicers`` add more RPCs of the same
    service (the worker RPCs), all registered through ``register_servicers``. Message size
    limits both ways are ``max_message_size`` (maxGrpcMessageSizeInBytes): gRPC itself
    refuses a bigger request with RESOURCE_EXHAUSTED and a message naming the limit.
    """

    def __init__(
        self,
        hubs: TaskHubRegistry,
        *,
        port: int = 0,
        max_message_size: int | None = None,
        extra_servicers: Iterable[Any] = (),
    ) -> None:
        self.hubs = hubs
        self.requested_port = port
        self.max_message_size = max_message_size or hubs.default.options.max_grpc_message_size_in_bytes
        self.client_rpcs = ClientRpcs(hubs)
        self.extra_servicers = list(extra_servicers)
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` once started."""
        if self.port is None:
            raise RuntimeError("the listener is not started")
        return f"{LOOPBACK}:{self.port}"

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (a free one when port is 0)."""
        if self._server is not None:
            return self.port  # type: ignore[return-value]
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_message_size),
                ("grpc.max_send_message_length", self.max_message_size),
                # A restarted sidecar must not share its port with a lingering one.
                ("grpc.so_reuseport", 0),
            ]
        )
        register_servicers(server, [self.client_rpcs, *self.extra_servicers])
        try:
            port = server.add_insecure_port(f"{LOOPBACK}:{self.requested_port}")
        except RuntimeError as exc:  # grpc reports bind failures this way
            raise OSError(f"cannot listen on {LOOPBACK}:{self.requested_port}: {exc}") from exc
        if port == 0:
            raise OSError(f"cannot listen on {LOOPBACK}:{self.requested_port}")
        await server.start()
        self._server = server
        self.port = port
        log.info("sidecar listening on %s", self.address)
        return port

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving; in-flight calls get ``grace`` seconds to finish. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
            log.info("sidecar listener on port %s stopped", self.port)
