"""grpc's listener choice: set before grpc loads, only when grpc knows it, never over the user's."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from azure_durable_ext.sidecar.grpc_listener_engine import (
    CLASSIC_LISTENER_SETTING,
    EXPERIMENTS_VARIABLE,
    LISTENER_EXPERIMENT,
    grpc_knows_experiment,
    prefer_classic_listener,
)


def _python(code: str, **env_changes: str | None) -> str:
    """Run ``code`` in a fresh interpreter (grpc not loaded yet); its stdout."""
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Unknown experiment" not in result.stderr
    return result.stdout.strip()


def test_the_installed_grpc_lists_the_listener_experiment() -> None:
    # If a grpc release drops the experiment, the listener choice silently stops applying
    # (prefer_classic_listener does nothing); this says so instead.
    assert grpc_knows_experiment(LISTENER_EXPERIMENT)
    assert not grpc_knows_experiment("no_such_experiment_anywhere")


def test_fresh_process_gets_the_classic_listener_setting() -> None:
    code = (
        "import os, sys\n"
        "from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener\n"
        "print(prefer_classic_listener(), os.environ.get('GRPC_EXPERIMENTS'), 'grpc' in sys.modules)\n"
    )
    assert _python(code, GRPC_EXPERIMENTS=None) == f"True {CLASSIC_LISTENER_SETTING} False"


@pytest.mark.parametrize("users_value", ["", "event_engine_client"])
def test_a_users_setting_is_left_alone(users_value: str) -> None:
    env = {EXPERIMENTS_VARIABLE: users_value}
    assert prefer_classic_listener(env) is False
    assert env == {EXPERIMENTS_VARIABLE: users_value}


def test_too_late_once_grpc_is_loaded() -> None:
    import grpc  # noqa: F401 - loaded in this process, as in a Functions worker

    env: dict[str, str] = {}
    assert prefer_classic_listener(env) is False
    assert env == {}


def test_every_durable_ext_command_runs_with_it() -> None:
    code = "import os\nimport azure_durable_ext.cli.main\nprint(os.environ.get('GRPC_EXPERIMENTS'))\n"
    assert _python(code, GRPC_EXPERIMENTS=None) == CLASSIC_LISTENER_SETTING
    assert _python(code, GRPC_EXPERIMENTS="event_engine_client") == "event_engine_client"


def _extension(folder: Path, content: bytes, name: str = "cygrpc.cpython-311-x86_64-linux-gnu.so") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(content)
    return folder


def test_experiment_found_only_as_a_whole_c_string(tmp_path: Path) -> None:
    wanted = LISTENER_EXPERIMENT
    assert grpc_knows_experiment(wanted, _extension(tmp_path / "a", b"\x7fELF\0" + wanted.encode() + b"\0rest"))
    # Only as the tail of a longer name, or without its terminator: not the experiment.
    assert not grpc_knows_experiment(wanted, _extension(tmp_path / "b", b"\0use_" + wanted.encode() + b"\0"))
    assert not grpc_knows_experiment(wanted, _extension(tmp_path / "c", b"\0" + wanted.encode() + b"_v2\0"))
    # A later whole occurrence still counts after a tail one.
    both = b"\0x" + wanted.encode() + b"\0" + wanted.encode() + b"\0"
    assert grpc_knows_experiment(wanted, _extension(tmp_path / "d", both))
    # Stub files beside the extension and empty files are not read as the extension.
    assert not grpc_knows_experiment(wanted, _extension(tmp_path / "e", b"\0" + wanted.encode() + b"\0", "cygrpc.pyi"))
    assert not grpc_knows_experiment(wanted, _extension(tmp_path / "f", b""))
