"""Deployment gate on Azure Storage: ``durable-ext replay-check --hub`` reads the in-flight
instances of a real hub (Azurite) and reports a nondeterministic change (exit 1) while the
unchanged app passes (exit 0); deployed anyway, the change fails the instance with an error
naming the mismatched step instead of producing a wrong result."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from durabletask.client import OrchestrationStatus
from test_official_worker import finish, wait_until

from azure_durable_ext.cli.replay_check import load_app_module, registry_of
from azure_durable_ext.core.options import DurableTaskOptions

APP_HEADER = """
from azure_durable_ext.core.orchestration import Registry

registry = Registry()


def greet(city):
    return f"Hello {city}!"


registry.add_activity(greet, "greet")
"""

# Version 1.0.0 as deployed: greet Tokyo, then wait for "go", then greet Seattle.
DEPLOYED = APP_HEADER + """

def trip(ctx):
    first = yield ctx.call_activity("greet", "Tokyo")
    go = yield ctx.wait_for_external_event("go")
    second = yield ctx.call_activity("greet", "Seattle")
    return [first, go, second]


registry.add_orchestrator(trip, "Trip", "1.0.0")
"""

# The same version edited in place: a timer inserted before the first activity.
CHANGED = APP_HEADER + """
from datetime import timedelta


def trip(ctx):
    yield ctx.create_timer(timedelta(seconds=0))
    first = yield ctx.call_activity("greet", "Tokyo")
    go = yield ctx.wait_for_external_event("go")
    second = yield ctx.call_activity("greet", "Seattle")
    return [first, go, second]


registry.add_orchestrator(trip, "Trip", "1.0.0")
"""


def _app(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "function_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def _replay_check(app: Path, hub: str, connection_string: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AzureWebJobsStorage": connection_string}
    return subprocess.run(
        [sys.executable, "-m", "azure_durable_ext.cli.main", "replay-check", "--app", str(app), "--hub", hub,
         "--storage", "azure"],
        capture_output=True, text=True, env=env, timeout=120, cwd=app,
    )


def test_replay_check_gates_a_nondeterministic_deployment(
    tmp_path: Path, azurite: Any, make_sidecar: Any, client_for: Any
) -> None:
    if make_sidecar.kind != "azure":
        pytest.skip("replay-check --hub reads a hub in storage; in-memory storage dies with its sidecar")
    deployed = _app(tmp_path / "deployed", DEPLOYED)
    changed = _app(tmp_path / "changed", CHANGED)
    hub = f"Gate{time.monotonic_ns()}"
    options = DurableTaskOptions(hub_name=hub)

    sidecar = make_sidecar(registry=registry_of(load_app_module(str(deployed))), options=options)
    client = client_for(sidecar.address)
    waiting = client.schedule_new_orchestration("Trip", version="1.0.0")
    wait_until(
        lambda: any(e.HasField("taskCompleted") for e in sidecar.call(lambda: sidecar.host.hubs.default.service.get_history(waiting))),
        "the first activity's result in the history",
    )
    sidecar.stop()  # the instance is in flight, in storage only

    same = _replay_check(deployed, hub, azurite.connection_string)
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"{waiting}" in same.stdout and "OK" in same.stdout
    assert "1 instance(s) checked, 0 incompatible" in same.stdout

    gate = _replay_check(changed, hub, azurite.connection_string)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "NONDETERMINISTIC" in gate.stdout and waiting in gate.stdout
    assert "createTimer" in gate.stdout
    assert "1 instance(s) checked, 1 incompatible" in gate.stdout

    # Deployed anyway: the instance fails, naming the mismatch; it does not finish wrongly.
    redeployed = make_sidecar(registry=registry_of(load_app_module(str(changed))), options=options)
    client = client_for(redeployed.address)
    client.raise_orchestration_event(waiting, "go", data="now")
    state = finish(client, waiting)
    assert state.runtime_status is OrchestrationStatus.FAILED
    assert state.failure_details is not None
    assert "createTimer" in state.failure_details.message, state.failure_details.message
