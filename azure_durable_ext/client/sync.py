"""SyncDurableTaskClient: the blocking flavour of any DurableTaskClient.

There is one implementation of every operation, the async one. This facade runs the
wrapped async client on a LoopPortal (a private event-loop thread) and exposes each public
coroutine method of DurableTaskClient under the same name, blocking until it finishes;
async iterators (``iter_instances``) become plain iterators. Methods a subclass adds are
forwarded the same way (coroutines block, plain methods are returned as they are), so
``FunctionsDurableTaskClient(...).sync()`` has ``create_check_status_response`` too.

Use it from plain threads or from a running loop's executor threads. A call from a thread
that is running an event loop raises RuntimeError instead of blocking that loop (which would
deadlock if the sidecar is served on it); use the async client there.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .base import DurableTaskClient
from .portal import LoopPortal


class SyncDurableTaskClient:
    """Blocking facade over ``client``; ``close()`` closes the client, then the portal if
    the facade created it."""

    def __init__(self, client: DurableTaskClient, *, portal: LoopPortal | None = None) -> None:
        self._client = client
        self._owns_portal = portal is None
        self._portal = portal if portal is not None else LoopPortal()

    @property
    def async_client(self) -> DurableTaskClient:
        """The wrapped async client (use it only on the portal's loop)."""
        return self._client

    @property
    def portal(self) -> LoopPortal:
        return self._portal

    def close(self) -> None:
        """Close the wrapped client and, when owned, stop the portal thread. Idempotent."""
        try:
            if not self._portal.closed:
                self._portal.call(self._client.close)
        finally:
            if self._owns_portal:
                self._portal.close()

    def __enter__(self) -> "SyncDurableTaskClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncDurableTaskClient({self._client!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class lacks: a subclass's extra methods.
        attribute = getattr(self._client, name)
        if inspect.isasyncgenfunction(attribute):
            return functools.partial(self._portal.iterate, attribute)
        if inspect.iscoroutinefunction(attribute):
            return functools.partial(self._portal.call, attribute)
        return attribute


def _blocking(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A blocking method running ``DurableTaskClient.<name>`` of the wrapped client."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        def iterate(self: SyncDurableTaskClient, *args: Any, **kwargs: Any) -> Any:
            return self._portal.iterate(getattr(self._client, name), *args, **kwargs)

        return iterate

    @functools.wraps(method)
    def call(self: SyncDurableTaskClient, *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(getattr(self._client, name), *args, **kwargs)

    return call


def api_method_names() -> list[str]:
    """The public async methods of DurableTaskClient the facade mirrors (close excluded:
    the facade's own close also stops the portal)."""
    return sorted(
        name
        for name, member in vars(DurableTaskClient).items()
        if not name.startswith("_")
        and name != "close"
        and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    )


for _name in api_method_names():
    setattr(SyncDurableTaskClient, _name, _blocking(_name, getattr(DurableTaskClient, _name)))
del _name
