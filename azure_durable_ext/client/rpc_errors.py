"""gRPC status -> the package's exception, for errors the sidecar answers with.

The server's message is kept as the exception's message; the original ``AioRpcError`` is
chained as ``__cause__`` by the caller.
"""
from __future__ import annotations

from collections.abc import Callable

import grpc

from ..core.errors import (
    ConcurrencyConflictError,
    DurableError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
    OperationNotSupportedError,
    OperationTimeoutError,
    PayloadTooLargeError,
    SidecarUnavailableError,
    TaskHubNotFoundError,
)

_Factory = Callable[[str, "str | None"], DurableError]


def _not_found(message: str, instance_id: str | None) -> DurableError:
    if message.startswith(TaskHubNotFoundError.MESSAGE_PREFIX):
        return TaskHubNotFoundError(message)
    if instance_id is None:
        return NotFoundError(message)
    return InstanceNotFoundError(instance_id, message)


def _already_exists(message: str, instance_id: str | None) -> DurableError:
    return InstanceAlreadyExistsError(instance_id or "", message)


_BY_STATUS: dict[grpc.StatusCode, _Factory] = {
    grpc.StatusCode.NOT_FOUND: _not_found,
    grpc.StatusCode.ALREADY_EXISTS: _already_exists,
    grpc.StatusCode.INVALID_ARGUMENT: lambda message, _: InvalidArgumentError(message),
    grpc.StatusCode.OUT_OF_RANGE: lambda message, _: InvalidArgumentError(message),
    grpc.StatusCode.RESOURCE_EXHAUSTED: lambda message, _: PayloadTooLargeError(message),
    grpc.StatusCode.DEADLINE_EXCEEDED: lambda message, _: OperationTimeoutError(message),
    grpc.StatusCode.FAILED_PRECONDITION: lambda message, _: InvalidStateError(message),
    grpc.StatusCode.ABORTED: lambda message, _: ConcurrencyConflictError(message),
    grpc.StatusCode.UNAVAILABLE: lambda message, _: SidecarUnavailableError(message),
}


def error_from_rpc(
    code: grpc.StatusCode, details: str | None, *, operation: str, instance_id: str | None = None
) -> DurableError:
    """The exception for a failed call of ``operation`` that ended with ``code``.

    Unmapped statuses (INTERNAL, UNKNOWN, CANCELLED...) become a plain DurableError
    whose message names the operation, the status and the server's message.
    """
    message = details or f"{operation} failed with gRPC status {code.name}"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return OperationNotSupportedError(f"the sidecar does not support {operation}: {message}")
    factory = _BY_STATUS.get(code)
    if factory is not None:
        return factory(message, instance_id)
    return DurableError(f"{operation} failed with gRPC status {code.name}: {message}")
