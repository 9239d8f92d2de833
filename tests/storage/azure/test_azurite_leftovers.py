"""Azurite data folders and emulators left behind by owners killed before their stop ran."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from azure_durable_ext.storage.azure.azurite import OWNER_FILE, AzuriteProcess, _alive, port_open, remove_abandoned_data

pytestmark = pytest.mark.skipif(os.name != "posix", reason="owner checks use POSIX process signals")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _folder(root: Path, name: str, owner: object | None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "__queue__.json").write_text("{}")
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner if isinstance(owner, str) else json.dumps(owner))
    return folder


def test_only_folders_of_owners_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    abandoned = _folder(tmp_path, "azurite-abandoned", {"owner": dead, "azurite": _dead_pid()})
    in_use = _folder(tmp_path, "azurite-in-use", {"owner": os.getpid(), "azurite": _dead_pid()})
    unmarked = _folder(tmp_path, "azurite-unmarked", None)
    unreadable = _folder(tmp_path, "azurite-unreadable", "{not json")
    wrong_shape = _folder(tmp_path, "azurite-wrong-shape", {"owner": "1"})
    other = _folder(tmp_path, "other-abandoned", {"owner": dead, "azurite": dead})

    assert remove_abandoned_data(str(tmp_path)) == 1
    assert not abandoned.exists()
    for kept in (in_use, unmarked, unreadable, wrong_shape, other):
        assert kept.exists(), kept


def test_a_live_pid_that_is_not_the_folders_azurite_is_left_alone(tmp_path: Path) -> None:
    # The owner is gone but the recorded Azurite pid now belongs to some other process
    # (here: a sleeping Python): it must not be signalled, and the folder stays.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = _folder(tmp_path, "azurite-reused-pid", {"owner": _dead_pid(), "azurite": bystander.pid})
        assert remove_abandoned_data(str(tmp_path)) == 0
        assert folder.exists()
        assert bystander.poll() is None, "the bystander was not signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_the_azurite_of_a_killed_owner_is_ended_and_its_data_removed(tmp_path: Path) -> None:
    # A real owner: a child process starts Azurite, reports it, and is killed (SIGKILL), so
    # its stop never runs and the emulator keeps running as an orphan.
    script = textwrap.dedent("""
        import json, sys, time
        from azure_durable_ext.storage.azure.azurite import AzuriteProcess
        process = AzuriteProcess().start()
        print(json.dumps({"location": process._location, "pid": process._process.pid, "ports": process.ports}), flush=True)
        time.sleep(120)
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
    finally:
        owner.kill()
        owner.wait()
    folder, azurite_pid = Path(started["location"]), started["pid"]
    assert folder.parent == tmp_path and (folder / OWNER_FILE).exists()
    assert all(port_open(p) for p in started["ports"].values()), "the orphaned emulator still serves"

    assert remove_abandoned_data(str(tmp_path)) == 1
    assert not folder.exists()
    deadline = time.monotonic() + 10
    while any(port_open(p) for p in started["ports"].values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(port_open(p) for p in started["ports"].values()), "the orphaned emulator was ended"
    # Gone or a zombie awaiting its new parent's reaping (what reparenting gives here).
    assert not _alive(azurite_pid)


def test_starting_azurite_clears_abandoned_folders_and_marks_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    abandoned = _folder(tmp_path, "azurite-abandoned", {"owner": _dead_pid(), "azurite": _dead_pid()})
    with AzuriteProcess() as process:
        assert not abandoned.exists()
        location = process._location
        assert location is not None
        owner = json.loads(Path(location, OWNER_FILE).read_text())
        assert owner["owner"] == os.getpid() and owner["azurite"] == process._process.pid  # type: ignore[union-attr]
        # Our own running folder survives another start's sweep.
        assert remove_abandoned_data(str(tmp_path)) == 0 and Path(location).exists()
    assert not Path(location).exists()
