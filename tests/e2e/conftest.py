"""Runtime scenarios: our sidecar (in-memory or Azurite storage) on a background loop, the
official ``durabletask`` worker and client pointed at it."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))

from azurite_fixture import azurite, make_azure_service, unique_hub_name  # noqa: E402,F401

from azure_durable_ext.core.options import DurableTaskOptions  # noqa: E402
from azure_durable_ext.core.orchestration import Registry  # noqa: E402
from azure_durable_ext.core.versions import VersioningOptions  # noqa: E402
from azure_durable_ext.sidecar.dispatch.background import BackgroundSidecar  # noqa: E402
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host  # noqa: E402
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry  # noqa: E402
from azure_durable_ext.storage.memory import InMemoryOrchestrationService  # noqa: E402

STORAGE_KINDS = ["memory", "azure"]


class SidecarFactory:
    """Starts sidecars on one storage kind; every one is stopped at teardown."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self._request = request
        self._started: list[BackgroundSidecar] = []

    def __call__(
        self,
        *,
        registry: Registry | None = None,
        versioning: VersioningOptions | None = None,
        hub_name: str | None = None,
        options: DurableTaskOptions | None = None,
    ) -> BackgroundSidecar:
        options = options or DurableTaskOptions(hub_name=hub_name or unique_hub_name("E"))
        sidecar = BackgroundSidecar(self.host_maker(options, registry=registry, versioning=versioning)).start()
        self._started.append(sidecar)
        return sidecar

    def host_maker(
        self,
        options: DurableTaskOptions,
        *,
        registry: Registry | None = None,
        versioning: VersioningOptions | None = None,
        same_storage_as: BackgroundSidecar | None = None,
    ) -> Callable[[], Any]:
        """Builds a host for hub ``options.hub_name``; ``same_storage_as`` reuses another
        sidecar's in-memory storage (Azure storage is shared through the hub name)."""
        azurite_process = self._request.getfixturevalue("azurite") if self.kind == "azure" else None

        def make_host() -> Any:
            if azurite_process is not None:
                service = make_azure_service(azurite_process, hub_name=options.hub_name)
            elif same_storage_as is not None and same_storage_as.host is not None:
                service = same_storage_as.host.hubs.default.service
            else:
                service = InMemoryOrchestrationService()
            hub = TaskHub.create(options, service)
            return build_sidecar_host(TaskHubRegistry([hub]), registry=registry, versioning=versioning, poll_timeout=0.5)

        return make_host

    def stop_all(self) -> None:
        while self._started:
            self._started.pop().stop()


@pytest.fixture(params=STORAGE_KINDS)
def make_sidecar(request: pytest.FixtureRequest) -> Iterator[SidecarFactory]:
    factory = SidecarFactory(request.param, request)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def memory_sidecars(request: pytest.FixtureRequest) -> Iterator[SidecarFactory]:
    factory = SidecarFactory("memory", request)
    try:
        yield factory
    finally:
        factory.stop_all()


class Workers:
    """Official durabletask workers; each is stopped at teardown."""

    def __init__(self) -> None:
        self._running: list[Any] = []

    def start(
        self,
        address: str,
        *,
        orchestrators: list[Callable[..., Any]] = (),  # type: ignore[assignment]
        activities: list[Callable[..., Any]] = (),  # type: ignore[assignment]
        versioning: Any = None,
        filters: bool = False,
        named_orchestrators: dict[str, Callable[..., Any]] | None = None,
    ) -> Any:
        from durabletask.worker import TaskHubGrpcWorker

        worker = TaskHubGrpcWorker(host_address=address)
        for fn in orchestrators:
            worker.add_orchestrator(fn)
        for name, fn in (named_orchestrators or {}).items():
            worker._registry.add_named_orchestrator(name, fn)  # the public API names by __name__ only
        for fn in activities:
            worker.add_activity(fn)
        if versioning is not None:
            worker.use_versioning(versioning)
        if filters:
            worker.use_work_item_filters()
        worker.start()
        self._running.append(worker)
        return worker

    def stop(self, worker: Any) -> None:
        if worker in self._running:
            self._running.remove(worker)
        worker.stop()

    def stop_all(self) -> None:
        while self._running:
            self._running.pop().stop()


@pytest.fixture
def workers() -> Iterator[Workers]:
    pool = Workers()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def client_for() -> Iterator[Callable[[str], Any]]:
    from durabletask.client import TaskHubGrpcClient

    clients: list[Any] = []

    def make(address: str) -> Any:
        client = TaskHubGrpcClient(host_address=address)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.close()
