"""A SidecarHost that also runs orchestrations: every hub's dispatchers + the worker RPCs."""
from __future__ import annotations

from ...core.orchestration import Registry
from ...core.versions import VersioningOptions
from ..host import SidecarHost
from ..hub import TaskHubRegistry
from ..worker_rpcs import WorkerRpcs
from . import HubDispatchers, create_dispatchers
from .work_item_streams import HEALTH_PING_INTERVAL


def build_sidecar_host(
    hubs: TaskHubRegistry,
    *,
    port: int = 0,
    registry: Registry | None = None,
    versioning: VersioningOptions | None = None,
    poll_timeout: float = 1.0,
    health_ping_interval: float = HEALTH_PING_INTERVAL,
) -> SidecarHost:
    """The sidecar for ``hubs``: client RPCs, worker RPCs (GetWorkItems...) and, per hub,
    dispatchers running orchestrations in process (``registry``) or on connected workers."""
    dispatchers: dict[str, HubDispatchers] = {
        hub.name: create_dispatchers(
            hub,
            registry=registry,
            versioning=versioning,
            poll_timeout=poll_timeout,
            health_ping_interval=health_ping_interval,
        )
        for hub in hubs
    }
    return SidecarHost(
        hubs,
        port=port,
        components=list(dispatchers.values()),
        extra_servicers=[WorkerRpcs(hubs, dispatchers)],
    )
