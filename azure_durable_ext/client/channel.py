"""Where and how the gRPC client connects: address parsing, timeouts, channel options."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import grpc

from ..core.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class SidecarAddress:
    """A gRPC target (``host:port`` or a gRPC URI such as ``unix:...``) and whether TLS is used."""

    target: str
    secure: bool


def parse_address(address: str) -> SidecarAddress:
    """Read ``127.0.0.1:4001``, ``http://127.0.0.1:4001`` or ``https://host[:port]``.

    ``http`` and ``https`` URLs (the binding's rpcBaseUrl) lose their path; https means TLS
    with port 443 by default, http port 80. Other gRPC target forms pass through unchanged.
    """
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgumentError("the sidecar address must be a non-empty string like '127.0.0.1:4001'")
    address = address.strip()
    scheme = address.split("://", 1)[0].lower() if "://" in address else ""
    if scheme in ("http", "https"):
        parts = urlsplit(address)
        if not parts.hostname:
            raise InvalidArgumentError(f"sidecar address {address!r} has no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise InvalidArgumentError(f"sidecar address {address!r} has a bad port: {exc}") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return SidecarAddress(f"{host}:{port}", secure=scheme == "https")
    # host:port, or gRPC's own target syntax (dns:///..., unix:...), used as given.
    return SidecarAddress(address, secure=False)


_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")


def parse_timeout(value: float | int | timedelta | str | None) -> float | None:
    """A per-call timeout in seconds from a number, a timedelta or a .NET TimeSpan string
    (``"00:01:40"``, ``"1.02:00:00"``, as grpcHttpClientTimeout is written)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        match = _TIMESPAN.match(value.strip())
        if match is None:
            raise InvalidArgumentError(f"timeout {value!r} is not a TimeSpan like '00:01:40'")
        result = (
            int(match["days"] or 0) * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
        )
    else:
        raise InvalidArgumentError(f"timeout must be seconds, a timedelta or a TimeSpan string, not {type(value).__name__}")
    if result <= 0:
        raise InvalidArgumentError(f"timeout must be positive, got {value!r}")
    return result


def channel_options(max_message_size: int | None, extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """gRPC channel options: message size limits both ways, plus caller-given ones."""
    options: list[tuple[str, Any]] = []
    if max_message_size is not None:
        if max_message_size <= 0:
            raise InvalidArgumentError(f"max_message_size must be positive, got {max_message_size}")
        options += [
            ("grpc.max_receive_message_length", max_message_size),
            ("grpc.max_send_message_length", max_message_size),
        ]
    options += list(extra)
    return options


def open_channel(
    address: SidecarAddress,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    credentials: grpc.ChannelCredentials | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel bound to the running event loop."""
    if address.secure or credentials is not None:
        return grpc.aio.secure_channel(
            address.target, credentials or grpc.ssl_channel_credentials(), options=options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(address.target, options=options, interceptors=interceptors)
