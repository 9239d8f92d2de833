"""Start and stop a local Azurite storage emulator (tests, ``durable-ext`` dev runs).

Azurite always runs on 127.0.0.1, with a temporary data folder and ``--disableTelemetry``
(it otherwise tries to reach the internet).
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ...core.errors import StorageUnavailableError
from .connection import DEV_PORTS, development_connection_string, is_development_storage

log = logging.getLogger(__name__)
_HOST = "127.0.0.1"
_PORT_ATTEMPTS = 5


class _PortTaken(Exception):
    """Azurite exited because a chosen port was taken meanwhile."""


def find_azurite() -> str:
    """Path of the ``azurite`` executable: node_modules next to the repo/cwd, else PATH."""
    here = Path(__file__).resolve()
    candidates = [p / "node_modules" / ".bin" / "azurite" for p in (Path.cwd(), *here.parents)]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("azurite")
    if found:
        return found
    raise StorageUnavailableError(
        "Azurite was not found (looked for node_modules/.bin/azurite and on PATH); install it with "
        "`npm install azurite`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = _HOST, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class AzuriteProcess:
    """One Azurite process (blob, queue and table services) with its own data folder."""

    def __init__(self, *, standard_ports: bool = False, executable: str | None = None) -> None:
        self._executable = executable
        self._standard = standard_ports
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._location: str | None = None

    @property
    def connection_string(self) -> str:
        if not self.ports:
            raise StorageUnavailableError("Azurite is not running")
        return development_connection_string(_HOST, self.ports)

    def start(self, timeout: float = 30.0) -> "AzuriteProcess":
        """Launch Azurite and wait until its three ports accept connections.

        Free ports are picked before Azurite binds them, so another process may take one in
        between: that case is retried with new ports a few times.
        """
        if self._process is not None:
            return self
        attempts = 1 if self._standard else _PORT_ATTEMPTS
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except _PortTaken as exc:
                log.warning("Azurite could not bind (%s); retrying with other ports", exc)
                if attempt == attempts - 1:
                    raise StorageUnavailableError(f"Azurite could not bind its ports: {exc}") from exc
        raise StorageUnavailableError("Azurite did not start")

    def _start_once(self, timeout: float) -> "AzuriteProcess":
        self.ports = dict(DEV_PORTS) if self._standard else {s: _free_port() for s in DEV_PORTS}
        self._location = tempfile.mkdtemp(prefix="azurite-")
        return self._launch(timeout)

    def _launch(self, timeout: float) -> "AzuriteProcess":
        exe = self._executable or find_azurite()
        assert self._location is not None
        args = [
            exe,
            "--blobHost", _HOST, "--blobPort", str(self.ports["blob"]),
            "--queueHost", _HOST, "--queuePort", str(self.ports["queue"]),
            "--tableHost", _HOST, "--tablePort", str(self.ports["table"]),
            "--location", self._location,
            "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent",
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while not all(port_open(p) for p in self.ports.values()):
            if self._process.poll() is not None:
                err = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
                self.stop()
                if "EADDRINUSE" in err:
                    raise _PortTaken(err.strip()[:300])
                raise StorageUnavailableError(f"Azurite exited at start-up: {err.strip()[:500]}")
            if time.monotonic() > deadline:
                self.stop()
                raise StorageUnavailableError(f"Azurite did not open its ports within {timeout:.0f} s")
            time.sleep(0.1)
        log.info("Azurite started on %s (data in %s)", self.ports, self._location)
        return self

    def exit_code(self) -> int | None:
        """The exit code once the process ended on its own; None while it runs (or when it
        was never started or was stopped)."""
        proc = self._process
        return proc.poll() if proc is not None else None

    def restart(self, downtime: float = 0.0, timeout: float = 30.0) -> None:
        """Stop the process (it saves its data on the way out) and start it again on the
        same ports and data folder after ``downtime`` seconds: a storage outage, data kept."""
        if self._process is None or self._location is None:
            raise StorageUnavailableError("Azurite is not running")
        self._end_process()
        time.sleep(downtime)
        try:
            self._launch(timeout)
        except _PortTaken as exc:
            raise StorageUnavailableError(f"Azurite could not bind its ports again: {exc}") from exc

    def stop(self) -> None:
        """Kill the process and remove its data folder. Idempotent."""
        self._end_process()
        location, self._location = self._location, None
        if location:
            shutil.rmtree(location, ignore_errors=True)

    def _end_process(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()

    def __enter__(self) -> "AzuriteProcess":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def ensure_development_storage(connection_string: str | None) -> AzuriteProcess | None:
    """For ``UseDevelopmentStorage=true`` with nothing on 10000-10002, start Azurite there.

    Returns the started process (the caller stops it), or None when nothing was started.
    """
    if not is_development_storage(connection_string):
        return None
    if any(port_open(p) for p in DEV_PORTS.values()):
        return None
    return AzuriteProcess(standard_ports=True).start()
