"""Ctrl-C on ``durable-ext start`` (a real subprocess on Azurite): the request in flight gets
its answer, the storage service stops and releases every partition lease, exit code 0."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.data.tables import TableClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess

TEST_APP = Path(__file__).parent / "test_app"


class StartCommand:
    """``durable-ext start`` in a subprocess; its output is collected on a thread."""

    def __init__(self, app_dir: Path, connection_string: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AzureWebJobsStorage": connection_string}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "azure_durable_ext.cli.main", "start", str(app_dir), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "Press Ctrl+C" in line:
                self.ready.set()
        self.ready.set()  # ended: whoever waits sees the output

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, needle: str, attempts: int = 600) -> None:
        for _ in range(attempts):
            if needle in self.text or self.process.poll() is not None:
                break
            time.sleep(0.05)
        assert needle in self.text, self.text

    def finish(self) -> int:
        try:
            code = self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        return code


def lease_owners(connection_string: str, hub: str) -> list[str | None]:
    with TableClient.from_connection_string(connection_string, table_name=f"{hub}Partitions") as table:
        return [entity.get("CurrentOwner") or None for entity in table.list_entities()]


def test_ctrl_c_drains_the_request_in_flight_and_releases_the_leases(tmp_path: Path, azurite: AzuriteProcess) -> None:
    hub = f"C{uuid.uuid4().hex[:16]}"
    app_dir = tmp_path / "app"
    shutil.copytree(TEST_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (app_dir / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {"hubName": hub}}}))
    command = StartCommand(app_dir, azurite.connection_string)
    try:
        assert command.ready.wait(120), command.text
        match = re.search(r"slow: \[GET\] (http://127\.0\.0\.1:\d+)/api/slow/", command.text)
        assert match, command.text
        # The dev host holds the partitions while it runs (so the check after exit means something).
        for _ in range(600):
            if any(lease_owners(azurite.connection_string, hub)):
                break
            time.sleep(0.05)
        assert any(lease_owners(azurite.connection_string, hub)), "the dev host never claimed a partition"
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(_get, f"{match.group(1)}/api/slow/1500")
            command.wait_for_line("Executing 'Functions.slow'")
            command.process.send_signal(signal.SIGINT)
            assert in_flight.result(60) == (200, "slept 1500")
    finally:
        if command.process.poll() is None:
            command.process.send_signal(signal.SIGINT)
        code = command.finish()
    text = command.text
    assert code == 0, text
    assert "stopping (draining in-flight invocations)" in text
    assert "Executed 'Functions.slow' (Succeeded" in text
    assert "Traceback" not in text
    # The worker is spawned without fork(): grpc's fork hook would print "Other threads are
    # currently calling into gRPC, skipping fork() handlers" (fork_posix.cc) on the console.
    assert "fork" not in text, text
    owners = lease_owners(azurite.connection_string, hub)
    assert owners and not any(owners), owners  # every lease released, none left to expire


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, response.read().decode()
