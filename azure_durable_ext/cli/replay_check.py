"""``durable-ext replay-check``: replay stored histories against the current code.

    durable-ext replay-check --app ./my_function_app --history export.json
    durable-ext replay-check --app my_package.orchestrations --hub MyHub [--storage azure]

Prints one line per instance (OK / NONDETERMINISTIC / VERSION NOT REGISTERED / REPLAY FAILED)
and exits 1 when any instance would not replay, 0 otherwise (2 for usage errors).

Finding the app's orchestrators (``--app``): a directory means its ``function_app.py``, a
``.py`` path that file, anything else a module to import. Every module-level object that is
a ``Registry``, or has a ``durable_registry`` attribute holding one (the protocol the
Functions ``DurableApp`` satisfies), contributes its orchestrators.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import click

from ..config import load_host_config
from ..core.errors import ConfigurationError, DurableError
from ..core.model import InstanceQuery
from ..core.orchestration.registry import Registry
from ..core.orchestration.replay_check import (
    ExportedInstance,
    parse_history_export,
    replay_instances,
)
from ..core.status import OrchestrationStatus
from ..storage.service import OrchestrationService

USAGE_ERROR_EXIT = 2
#: Instances whose stored history a deployment could still replay.
IN_FLIGHT = frozenset(
    {OrchestrationStatus.RUNNING, OrchestrationStatus.SUSPENDED, OrchestrationStatus.CONTINUED_AS_NEW}
)


# -- loading the app -----------------------------------------------------------------------
def load_app_module(app: str) -> ModuleType:
    """Import the app: a folder's function_app.py, a .py file, or a dotted module name."""
    path = Path(app)
    if path.is_dir():
        path = path / "function_app.py"
        if not path.is_file():
            raise ConfigurationError(f"--app {app}: the folder has no function_app.py")
    if path.suffix == ".py":
        if not path.is_file():
            raise ConfigurationError(f"--app {app}: no such file")
        folder = str(path.resolve().parent)
        if folder not in sys.path:  # the app imports its sibling modules
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(f"_replay_check_app_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(app)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"--app {app}: cannot import it ({exc})") from exc


def registry_of(module: ModuleType) -> Registry:
    """One Registry holding every registration the module exposes (see the module doc)."""
    found: list[Registry] = []
    for value in vars(module).values():
        candidate = value if isinstance(value, Registry) else getattr(value, "durable_registry", None)
        if isinstance(candidate, Registry) and all(candidate is not r for r in found):
            found.append(candidate)
    if not found:
        raise ConfigurationError(
            f"{module.__name__}: no orchestrators found (expected a module-level Registry or an "
            "object with a 'durable_registry' attribute)"
        )
    if len(found) == 1:
        return found[0]
    merged = Registry()
    for registry in found:
        merged.merge(registry)
    return merged


# -- reading histories ---------------------------------------------------------------------
def read_history_file(path: Path) -> list[ExportedInstance]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--history {path}: {exc}") from exc
    try:
        return parse_history_export(document)
    except DurableError as exc:
        raise ConfigurationError(f"--history {path}: {exc}") from exc


async def read_hub_histories(service: OrchestrationService) -> list[ExportedInstance]:
    """Histories of every in-flight instance of the hub (Running, Suspended, ContinuedAsNew)."""
    instances: list[ExportedInstance] = []
    token: str | None = None
    while True:
        page = await service.query_instances(
            InstanceQuery(statuses=IN_FLIGHT, continuation_token=token, include_payloads=False)
        )
        for state in page.instances:
            history = await service.get_history(state.instance_id)
            if history:  # an instance that never ran has nothing to replay
                instances.append(ExportedInstance(state.instance_id, history))
        token = page.continuation_token
        if not token:
            return instances


async def _hub_histories(storage: str, hub: str, app_dir: Path | None) -> list[ExportedInstance]:
    from ..storage.factory import create_service  # only --hub needs the providers

    service = create_service(storage, load_host_config(app_dir, hub_name=hub), hub)
    try:
        return await read_hub_histories(service)
    finally:
        await service.stop()


# -- the command ---------------------------------------------------------------------------
@click.command("replay-check")
@click.option("--app", "app", required=True, help="Function app folder, .py file or module with the orchestrators.")
@click.option("--history", "history_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Exported histories (JSON: [{instanceId, history: [HistoryEvent JSON]}]).")
@click.option("--hub", default=None, help="Read the in-flight instances of this task hub instead.")
@click.option("--storage", type=click.Choice(["azure", "memory"]), default="azure", show_default=True,
              help="Storage provider holding --hub.")
def replay_check(app: str, history_file: Path | None, hub: str | None, storage: str) -> None:
    """Check that stored orchestration histories still replay on the current code."""
    if (history_file is None) == (hub is None):
        click.echo("error: give exactly one of --history FILE or --hub NAME", err=True)
        sys.exit(USAGE_ERROR_EXIT)
    try:
        registry = registry_of(load_app_module(app))
        if history_file is not None:
            instances = read_history_file(history_file)
        else:
            assert hub is not None
            app_dir = Path(app) if Path(app).is_dir() else None
            instances = asyncio.run(_hub_histories(storage, hub, app_dir))
    except DurableError as exc:  # configuration, unreadable file, unreachable storage
        click.echo(f"error: {exc}", err=True)
        sys.exit(USAGE_ERROR_EXIT)
    reports = replay_instances(registry, instances)
    for report in reports:
        click.echo(report.describe())
    incompatible = sum(not r.compatible for r in reports)
    click.echo(f"{len(reports)} instance(s) checked, {incompatible} incompatible")
    sys.exit(1 if incompatible else 0)
