"""The ``durableClient`` binding data the Functions host hands a function, and the client it
becomes.

The Durable extension writes one of two JSON payloads:

- gRPC protocol (what this package needs; the binding carries ``durableRequiresGrpc: true``):
  taskHubName, connectionName, rpcBaseUrl (the extension's local gRPC listener),
  requiredQueryStringParameters, httpBaseUrl, maxGrpcMessageSizeInBytes,
  grpcHttpClientTimeout (a TimeSpan string) and useForwardedHost; any of them may be null.
- legacy HTTP protocol: has creationUrls / managementUrls and no gRPC listener. It is refused
  with a message saying how to opt in to the gRPC protocol.
"""
from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..client.functions_client import FunctionsDurableTaskClient
from ..client.grpc_client import GrpcDurableTaskClient
from ..client.sync import SyncDurableTaskClient
from ..core.errors import ConfigurationError, InvalidArgumentError
from .client_pool import SHARED_CLIENTS, SharedClients

#: Keys only the legacy HTTP payload has.
LEGACY_KEYS = ("creationUrls", "managementUrls")

LEGACY_PAYLOAD_MESSAGE = (
    "the durableClient binding data uses the legacy HTTP protocol (it has creationUrls/managementUrls "
    "and no gRPC endpoint); this client talks gRPC. Use the Preview extension bundle "
    "(Microsoft.Azure.Functions.ExtensionBundle.Preview) and keep 'durableRequiresGrpc: true' on the "
    "durableClient binding (DurableApp.durable_client_input sets it)"
)


@dataclass(frozen=True, slots=True)
class DurableClientBindingData:
    """The gRPC-protocol ``durableClient`` payload, parsed."""

    rpc_base_url: str
    task_hub: str | None = None
    connection_name: str | None = None
    required_query_string: str | None = None
    http_base_url: str | None = None
    max_message_size: int | None = None
    timeout: str | None = None
    use_forwarded_host: bool = False

    @classmethod
    def parse(cls, data: str | bytes | Mapping[str, Any]) -> "DurableClientBindingData":
        """Read the host's JSON (text, bytes or an already decoded mapping).

        Raises InvalidArgumentError for text that is not a JSON object and ConfigurationError
        for the legacy HTTP payload or a payload without ``rpcBaseUrl``.
        """
        if isinstance(data, str):
            return _parse_text(data)  # the host sends the same text to every invocation
        return cls._parse_mapping(_as_mapping(data))

    @classmethod
    def _parse_mapping(cls, payload: Mapping[str, Any]) -> "DurableClientBindingData":
        if any(payload.get(key) is not None for key in LEGACY_KEYS):
            raise ConfigurationError(LEGACY_PAYLOAD_MESSAGE)
        rpc_base_url = payload.get("rpcBaseUrl")
        if not isinstance(rpc_base_url, str) or not rpc_base_url.strip():
            raise ConfigurationError(
                "the durableClient binding data has no rpcBaseUrl (the Durable extension's gRPC endpoint); "
                f"keys present: {', '.join(sorted(payload)) or 'none'}"
            )
        size = payload.get("maxGrpcMessageSizeInBytes")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise InvalidArgumentError(f"maxGrpcMessageSizeInBytes must be a positive integer, got {size!r}")
        return cls(
            rpc_base_url=rpc_base_url,
            task_hub=_optional_str(payload, "taskHubName"),
            connection_name=_optional_str(payload, "connectionName"),
            required_query_string=_optional_str(payload, "requiredQueryStringParameters"),
            http_base_url=_optional_str(payload, "httpBaseUrl"),
            max_message_size=size,
            timeout=_optional_str(payload, "grpcHttpClientTimeout"),
            use_forwarded_host=bool(payload.get("useForwardedHost") or False),
        )

    def to_json(self) -> str:
        """The payload as the host writes it (used by our dev host and tests)."""
        return json.dumps(
            {
                "taskHubName": self.task_hub,
                "connectionName": self.connection_name,
                "rpcBaseUrl": self.rpc_base_url,
                "requiredQueryStringParameters": self.required_query_string,
                "httpBaseUrl": self.http_base_url,
                "maxGrpcMessageSizeInBytes": self.max_message_size,
                "grpcHttpClientTimeout": self.timeout,
                "useForwardedHost": self.use_forwarded_host,
            }
        )

    def create_client(self) -> FunctionsDurableTaskClient:
        """A FunctionsDurableTaskClient over its own GrpcDurableTaskClient to ``rpc_base_url``
        (task hub headers, message size and timeout from the payload). The caller closes it."""
        inner = GrpcDurableTaskClient(
            self.rpc_base_url,
            task_hub=self.task_hub,
            connection_name=self.connection_name,
            max_message_size=self.max_message_size,
            timeout=self.timeout,
        )
        return self._wrap(inner, owns_inner=True)

    def invocation_client(self, shared: SharedClients = SHARED_CLIENTS) -> FunctionsDurableTaskClient:
        """The client of one ``async def`` invocation: a FunctionsDurableTaskClient over the
        running loop's shared GrpcDurableTaskClient for this payload. Closing it ends the
        wrapper, not the shared channel."""
        return self._wrap(shared.client_for(self, asyncio.get_running_loop()), owns_inner=False)

    def invocation_client_sync(self, shared: SharedClients = SHARED_CLIENTS) -> SyncDurableTaskClient:
        """The blocking client of one ``def`` invocation, on the process's shared portal."""
        portal = shared.portal()
        client = self._wrap(shared.client_for(self, portal.loop), owns_inner=False)
        return SyncDurableTaskClient(client, portal=portal)

    def _wrap(self, inner: GrpcDurableTaskClient, *, owns_inner: bool) -> FunctionsDurableTaskClient:
        return FunctionsDurableTaskClient(
            inner,
            http_base_url=self.http_base_url,
            task_hub=self.task_hub or "",
            connection_name=self.connection_name,
            required_query_string=self.required_query_string,
            owns_inner=owns_inner,
            use_forwarded_host=self.use_forwarded_host,
        )


@functools.lru_cache(maxsize=64)
def _parse_text(text: str) -> DurableClientBindingData:
    return DurableClientBindingData._parse_mapping(_as_mapping(text))


def _as_mapping(data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8")
    if not isinstance(data, str):
        raise InvalidArgumentError(
            f"durableClient binding data must be the host's JSON text, got {type(data).__name__}"
        )
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise InvalidArgumentError(f"durableClient binding data is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidArgumentError(f"durableClient binding data must be a JSON object, got {type(payload).__name__}")
    return payload


def _optional_str(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgumentError(f"durableClient binding field {key} must be a string, got {value!r}")
    return value
