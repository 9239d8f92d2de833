"""Operation interceptors: cross-cutting behaviour (tracing, tags, retries, auditing) around
every client operation, without touching method signatures.

An interceptor sees each operation input before it is executed and decides what to pass on
(possibly a changed copy, via ``dataclasses.replace``) and what to return. ``intercepted``
wraps any DurableTaskClient, so a chain composes with the gRPC and Functions clients alike.
"""
from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .base import DurableTaskClient
from .operations import Operation

R = TypeVar("R")
Next = Callable[[Operation[Any]], Awaitable[Any]]


class OperationInterceptor(abc.ABC):
    """One link of the chain."""

    @abc.abstractmethod
    async def intercept(self, operation: Operation[Any], call_next: Next) -> Any:
        """Handle ``operation``; ``await call_next(operation)`` runs the rest of the chain."""


class InterceptedDurableTaskClient(DurableTaskClient):
    """Runs every operation through ``interceptors`` (first = outermost), then ``inner``."""

    def __init__(self, inner: DurableTaskClient, interceptors: Sequence[OperationInterceptor]) -> None:
        self.inner = inner
        self.interceptors = tuple(interceptors)
        handler: Next = inner.execute
        for interceptor in reversed(self.interceptors):
            handler = _link(interceptor, handler)
        self._handler = handler

    def __repr__(self) -> str:
        return f"InterceptedDurableTaskClient({self.inner!r}, {len(self.interceptors)} interceptors)"

    async def execute(self, operation: Operation[R]) -> R:
        return await self._handler(operation)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.inner.close()


def _link(interceptor: OperationInterceptor, call_next: Next) -> Next:
    async def handle(operation: Operation[Any]) -> Any:
        return await interceptor.intercept(operation, call_next)

    return handle


def intercepted(client: DurableTaskClient, *interceptors: OperationInterceptor) -> DurableTaskClient:
    """``client`` with ``interceptors`` around each of its operations (client itself if none)."""
    return InterceptedDurableTaskClient(client, interceptors) if interceptors else client
