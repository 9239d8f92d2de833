"""``durable-ext start [APP_DIR]``: run a durable function app locally (the dev host)."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from ..config import load_host_config
from ..core.errors import ConfigurationError, DurableError
from ..devhost.host import DevHost, DevHostOptions
from ..sidecar.host import run_host_loop
from ..storage.factory import STORAGE_KINDS
from .console_log import console_handler

CONFIG_ERROR_EXIT = 2


@click.command("start")
@click.argument("app_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option("--port", type=click.IntRange(0, 65535), default=7071, show_default=True,
              help="HTTP port on 127.0.0.1; 0 picks a free one.")
@click.option("--storage", type=click.Choice(STORAGE_KINDS), default="azure", show_default=True,
              help="Storage provider (azure uses AzureWebJobsStorage; Azurite starts for development storage).")
@click.option("--keys-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Function keys (default: APP_DIR/.durable-ext/keys.json if present; none = auth disabled).")
@click.option("--no-dispatch", is_flag=True, default=False,
              help="Do not run orchestrations and activities (instances stay Pending); to measure starts alone.")
@click.option("--worker-arg", "worker_args", multiple=True,
              help="Extra argument for the worker process (repeatable), e.g. --worker-arg=--http-proxying.")
def start(app_dir: Path, port: int, storage: str, keys_file: Path | None, no_dispatch: bool,
          worker_args: tuple[str, ...]) -> None:
    """Run the function app in APP_DIR: HTTP triggers on /api, the Durable HTTP API."""
    # Invocation lines and worker logs are part of what the command shows.
    for name in ("azure_durable_ext.devhost", "azure_durable_ext.devhost.worker"):
        logging.getLogger(name).setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, handlers=[console_handler()])
    try:
        config = load_host_config(app_dir)
        host = DevHost(config, DevHostOptions(port=port, storage=storage, keys_file=keys_file, dispatch=not no_dispatch,
                                                worker_args=worker_args))
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(CONFIG_ERROR_EXIT)
    try:
        run_host_loop(serve(host))
    except (DurableError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


async def serve(host: DevHost) -> None:
    """Start, print the functions and their URLs, run until SIGINT/SIGTERM, drain and stop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await host.start()
        hub = host.hub
        click.echo(f"durable-ext start: task hub {hub.name} ({host.options.storage}), sidecar on "
                   f"{host.sidecar.address if host.sidecar else '?'}, auth "
                   f"{'enabled' if host.keys.enabled else 'disabled (no keys configured)'}")
        click.echo("Functions:")
        for line in host.describe():
            click.echo(line)
        click.echo(f"Durable HTTP API: {host.base_url}/runtime/webhooks/durabletask/")
        click.echo("Press Ctrl+C to stop.")
        sys.stdout.flush()
        await stopping.wait()
        click.echo("durable-ext start: stopping (draining in-flight invocations)")
    finally:
        await host.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
