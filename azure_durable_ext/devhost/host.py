"""DevHost: a local stand-in for the Functions host running a durable Python app.

Start order: Azurite (development storage with nothing listening), the FunctionRpc server and
the language worker (until every function is loaded), the sidecar (storage, dispatchers whose
runners invoke the worker, the gRPC listener), then the HTTP front door. Stop order is the
reverse: the front door lets in-flight requests finish, the dispatchers finish or put back
their work and storage releases its leases, the worker gets WorkerTerminate, Azurite stops.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import HostConfig
from ..sidecar.dispatch import create_dispatchers
from ..sidecar.host import SidecarHost
from ..sidecar.hub import TaskHub, TaskHubRegistry
from ..sidecar.worker_rpcs import WorkerRpcs
from ..storage.factory import create_service
from .front_door import FrontDoor, FrontDoorSettings
from .function_rpc_host import FunctionRpcHost
from .keys import KeyStore, load_keys
from .routes import HttpRoute
from .worker_runners import FunctionsActivityRunner, FunctionsOrchestrationRunner

if TYPE_CHECKING:
    from ..storage.azure.azurite import AzuriteProcess
    from .azurite_watch import AzuriteWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DevHostOptions:
    """Options of ``durable-ext start``."""

    port: int = 7071
    storage: str = "azure"
    keys_file: Path | None = None
    #: Seconds between a worker crash and its restart.
    restart_delay: float = 0.5
    #: How often dispatchers poll storage when idle (seconds).
    poll_timeout: float = 1.0
    #: Run orchestrations and activities. False leaves started instances Pending (to measure
    #: the start path alone).
    dispatch: bool = True
    #: Extra command-line arguments for the worker process (e.g. ``--http-proxying``).
    worker_args: tuple[str, ...] = ()


class DevHost:
    """Runs one function app: worker, sidecar, front door (and Azurite when needed)."""

    def __init__(self, config: HostConfig, options: DevHostOptions = DevHostOptions()) -> None:
        if config.app_dir is None:
            raise ValueError("the dev host needs an app folder")
        self.config = config
        self.options = options
        self.keys: KeyStore = load_keys(config.app_dir, config.setting, options.keys_file)
        self.functions = FunctionRpcHost(
            config.app_dir, settings=config.settings, restart_delay=options.restart_delay, worker_args=options.worker_args
        )
        self.azurite: "AzuriteProcess | None" = None
        self._azurite_watch: "AzuriteWatch | None" = None
        self.sidecar: SidecarHost | None = None
        self.front_door: FrontDoor | None = None

    @property
    def hub(self) -> TaskHub:
        assert self.sidecar is not None
        return self.sidecar.hubs.default

    @property
    def base_url(self) -> str:
        assert self.front_door is not None
        return f"http://127.0.0.1:{self.front_door.port}"

    async def start(self) -> None:
        try:
            if self.options.storage == "azure":
                from ..storage.azure.azurite import ensure_development_storage
                from .azurite_watch import AzuriteWatch

                self.azurite = await asyncio.to_thread(ensure_development_storage, self.config.storage_connection_string)
                if self.azurite is not None:
                    log.info("started Azurite for UseDevelopmentStorage=true")
                    self._azurite_watch = AzuriteWatch(self.azurite)
                    self._azurite_watch.start()
            await self.functions.start()
            self.sidecar = self._sidecar()
            await self.sidecar.start()
            self.front_door = FrontDoor(self.functions, self.sidecar.hubs, self.keys, FrontDoorSettings(
                rpc_base_url=lambda: f"http://{self.sidecar.address}" if self.sidecar else "",
                max_grpc_message_size=self.config.durable.max_grpc_message_size_in_bytes,
                route_prefix=self.config.http.route_prefix,
            ))
            await self.front_door.start(self.options.port)
        except BaseException:
            await self.stop()
            raise

    def _sidecar(self) -> SidecarHost:
        service = create_service(self.options.storage, self.config)
        hub = TaskHub.create(self.config.durable, service)
        hubs = TaskHubRegistry([hub])
        if not self.options.dispatch:
            return SidecarHost(hubs)
        dispatchers = create_dispatchers(
            hub,
            extra_orchestration_runners=[FunctionsOrchestrationRunner(self.functions)],
            extra_activity_runners=[FunctionsActivityRunner(self.functions)],
            poll_timeout=self.options.poll_timeout,
        )
        return SidecarHost(
            hubs, components=[dispatchers], extra_servicers=[WorkerRpcs(hubs, {hub.name: dispatchers})]
        )

    async def stop(self) -> None:
        """Stop everything that started, in reverse order; every part is stopped even if one
        fails (the first failure is re-raised)."""
        first: BaseException | None = None
        sidecar = self.sidecar
        steps = [
            ("the front door", self.front_door.stop if self.front_door else None),
            ("the sidecar", (lambda: sidecar.stop(grace=5.0)) if sidecar else None),
            ("the language worker", self.functions.stop),
        ]
        for what, step in steps:
            if step is None:
                continue
            try:
                await step()
            except Exception as exc:
                log.exception("stopping %s failed", what)
                first = first or exc
        self.front_door = None
        self.sidecar = None
        watch, self._azurite_watch = self._azurite_watch, None
        if watch is not None:
            await watch.stop()
        if self.azurite is not None:
            await asyncio.to_thread(self.azurite.stop)
            self.azurite = None
        if first is not None:
            raise first

    def describe(self) -> list[str]:
        """Lines naming every function and, for HTTP triggers, its URL."""
        lines = []
        for function in sorted(self.functions.functions, key=lambda f: f.name.casefold()):
            kind = function.trigger_type or "?"
            if function.trigger_type == "httpTrigger":
                route = HttpRoute.of(function)
                methods = ",".join(sorted(route.methods)) if route.methods else "*"
                lines.append(f"  {function.name}: [{methods}] {route.url(self.base_url, self.config.http.route_prefix)}")
            else:
                detail = f" ({function.durable_name})" if function.durable_name not in (None, function.name) else ""
                lines.append(f"  {function.name}: {kind}{detail}")
        return lines

    async def __aenter__(self) -> "DevHost":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
