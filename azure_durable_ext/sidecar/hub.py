"""TaskHub: everything one task hub needs on the host side, built once and shared."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import TaskHubNotFoundError
from ..core.options import DurableTaskOptions
from ..storage.service import OrchestrationService
from .durable_client import DurableClient
from .task_hub_client import TaskHubClient


@dataclass(frozen=True, slots=True)
class TaskHub:
    """One task hub: its options, storage, and the two client layers over that storage."""

    name: str
    options: DurableTaskOptions
    service: OrchestrationService
    client: TaskHubClient
    durable: DurableClient
    clock: Clock

    @classmethod
    def create(
        cls, options: DurableTaskOptions, service: OrchestrationService, *, clock: Clock = SYSTEM_CLOCK
    ) -> "TaskHub":
        client = TaskHubClient(service, clock=clock)
        return cls(options.hub_name, options, service, client, DurableClient(client, options, clock=clock), clock)


class TaskHubRegistry:
    """The hubs a host serves, looked up by name (case-insensitively, as Azure Storage
    resource names are), with one default for requests that name none."""

    def __init__(self, hubs: Iterable[TaskHub], default: str | None = None) -> None:
        self._hubs = {hub.name.lower(): hub for hub in hubs}
        if not self._hubs:
            raise ValueError("a host needs at least one task hub")
        first = next(iter(self._hubs.values()))
        self.default = self._hubs[default.lower()] if default else first

    def __iter__(self) -> Iterator[TaskHub]:
        return iter(self._hubs.values())

    def __len__(self) -> int:
        return len(self._hubs)

    def get(self, name: str | None, connection_name: str | None = None) -> TaskHub:
        """The hub called ``name`` (the default when None or empty); TaskHubNotFoundError naming it
        when this host has no such hub, or when it uses another storage connection."""
        if not name:
            hub = self.default
        else:
            found = self._hubs.get(name.lower())
            if found is None:
                known = ", ".join(h.name for h in self._hubs.values())
                raise TaskHubNotFoundError(f"task hub {name!r} is not served by this host (known: {known})")
            hub = found
        if connection_name and connection_name.lower() != hub.options.storage.connection_name.lower():
            raise TaskHubNotFoundError(
                f"task hub {hub.name!r} uses connection {hub.options.storage.connection_name!r}, "
                f"not {connection_name!r}"
            )
        return hub
