"""Start and stop a local Azurite storage emulator (tests, ``durable-ext`` dev runs).

Azurite always runs on 127.0.0.1, with a temporary data folder and ``--disableTelemetry``
(it otherwise tries to reach the internet).

Each data folder holds an owner file naming the process that started Azurite and Azurite's
own process. A start first removes the folders whose owner is gone (killed before its stop
ran), ending the Azurite process still running from such a folder, so killed test runs and
dev hosts do not pile up data and emulators.
"""
from __future__ import annotations

import json
import logging
import os
import signal
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
_DATA_PREFIX = "azurite-"
#: In every data folder we create: {"owner": pid that started Azurite, "azurite": its pid}.
OWNER_FILE = ".azure-durable-ext-owner"


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
        remove_abandoned_data()
        self._location = tempfile.mkdtemp(prefix=_DATA_PREFIX)
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
        owner = {"owner": os.getpid(), "azurite": self._process.pid}
        Path(self._location, OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
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


def remove_abandoned_data(temp_dir: str | None = None) -> int:
    """Remove the Azurite data folders in ``temp_dir`` (default: the system's) whose owner
    process is gone, first ending the Azurite process still running from one; returns how
    many were removed. Folders without our owner file, or whose owner runs, are left alone.
    POSIX only: elsewhere nothing is removed."""
    if os.name != "posix":
        return 0
    root = Path(temp_dir or tempfile.gettempdir())
    removed = 0
    for folder in root.glob(_DATA_PREFIX + "*"):
        owner = _read_owner(folder / OWNER_FILE)
        if owner is None or _alive(owner["owner"]):
            continue
        azurite = owner["azurite"]
        if _alive(azurite):
            if not _runs_from(azurite, folder):
                continue  # the pid was reused by some other process: nothing of ours to end
            _end(azurite)
            if _alive(azurite):
                log.warning("Azurite process %d of the abandoned folder %s did not stop", azurite, folder)
                continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed += 1
            log.info("removed Azurite data left by process %d, which is gone: %s", owner["owner"], folder)
    return removed


def _read_owner(path: Path) -> dict[str, int] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("owner", "azurite")):
        return None
    return {"owner": data["owner"], "azurite": data["azurite"]}


def _alive(pid: int) -> bool:
    """True while ``pid`` is a process that has not exited (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: signal 0 is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _runs_from(pid: int, folder: Path) -> bool:
    """True when ``pid``'s command line names ``folder`` (Linux /proc; False elsewhere)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(str(folder)) in arguments


def _end(pid: int, timeout: float = 10.0) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def ensure_development_storage(connection_string: str | None) -> AzuriteProcess | None:
    """For ``UseDevelopmentStorage=true`` with nothing on 10000-10002, start Azurite there.

    Returns the started process (the caller stops it), or None when nothing was started.
    """
    if not is_development_storage(connection_string):
        return None
    if any(port_open(p) for p in DEV_PORTS.values()):
        return None
    return AzuriteProcess(standard_ports=True).start()
