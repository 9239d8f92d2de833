"""``durable-ext sidecar``: serve TaskHubSidecarService on loopback until Ctrl-C / SIGTERM."""
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from ..config import HostConfig, load_host_config
from ..core.errors import ConfigurationError, DurableError
from ..sidecar.dispatch.hosting import build_sidecar_host
from ..sidecar.host import SidecarHost, run_host_loop
from ..sidecar.hub import TaskHub, TaskHubRegistry
from ..storage.factory import STORAGE_KINDS, create_service

#: Exit status for configuration errors (as click uses for usage errors).
CONFIG_ERROR_EXIT = 2


@click.command("sidecar")
@click.option("--port", type=click.IntRange(0, 65535), default=4001, show_default=True,
              help="Port on 127.0.0.1; 0 picks a free one.")
@click.option("--storage", type=click.Choice(STORAGE_KINDS), default="memory", show_default=True,
              help="Storage provider.")
@click.option("--host-json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="host.json to read extensions.durableTask from.")
@click.option("--app-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Function app folder (host.json, local.settings.json).")
@click.option("--hub", default=None, help="Task hub name (overrides hubName).")
def sidecar(port: int, storage: str, host_json: Path | None, app_dir: Path | None, hub: str | None) -> None:
    """Run the Durable Task sidecar (client and worker RPCs) until interrupted."""
    try:
        config = load_host_config(app_dir, host_json=host_json, hub_name=hub)
        host = build_host(config, storage, port)
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(CONFIG_ERROR_EXIT)
    try:
        run_host_loop(serve(host, storage))
    except (DurableError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def build_host(config: HostConfig, storage: str, port: int) -> SidecarHost:
    """The sidecar for one task hub on ``storage``: client RPCs, and dispatchers that hand
    orchestrations and activities to workers connected through GetWorkItems."""
    service = create_service(storage, config)
    hub = TaskHub.create(config.durable, service)
    return build_sidecar_host(TaskHubRegistry([hub]), port=port)


async def serve(host: SidecarHost, storage: str) -> None:
    """Start, announce the address, wait for SIGINT/SIGTERM, stop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await host.start()
        hub = host.hubs.default
        click.echo(f"durable-ext sidecar: task hub {hub.name} ({storage}) listening on {host.address}")
        sys.stdout.flush()
        await stopping.wait()
        click.echo("durable-ext sidecar: stopping")
    finally:
        await host.stop(grace=2.0)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
