"""What the benchmark scripts share: sidecars in subprocesses, their CPU time, and the
``durabletask.testing`` baseline sidecar.

A sidecar subprocess is the bench script itself run with ``--serve SIDE``: it prints
``PORT n`` once listening on 127.0.0.1, then reads commands from its stdin, one a line:
``counts`` (answers one JSON line: storage operations so far, ``{}`` when not counted) and
``stop`` (or end of input). Each side runs in its own process so that neither competes with
the driving client's threads for one GIL.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent import futures


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` used so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SidecarProcess:
    """One sidecar subprocess of a bench script (see the module docstring)."""

    def __init__(self, script: str, side: str, extra: Sequence[str] = (), *, profile_to: str | None = None) -> None:
        args = [sys.executable, script, "--serve", side, *extra]
        if profile_to:
            args[1:1] = ["-m", "cProfile", "-o", profile_to]
        self.side = side
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"{side} sidecar did not start: {line!r}")
        self.address = f"127.0.0.1:{int(line.split()[1])}"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def counts(self) -> dict[str, int]:
        """Storage operations the sidecar counted so far, by ``service.operation``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("counts\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.wait(30)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "SidecarProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def announce_port(port: int) -> None:
    print(f"PORT {port}", flush=True)


def serve_commands(counts: Callable[[], dict[str, int]] = dict) -> None:
    """Answer stdin commands until ``stop`` or end of input (blocking; run it in a thread
    when an event loop must keep going)."""
    for line in sys.stdin:
        command = line.strip()
        if command == "counts":
            print(json.dumps(counts()), flush=True)
        elif command == "stop":
            return


def serve_durabletask_testing(max_workers: int = 32) -> None:
    """The baseline: the ``durabletask.testing`` in-memory backend on a gRPC server bound to
    127.0.0.1 only (its own ``start()`` would bind every interface)."""
    import grpc
    from durabletask.internal.orchestrator_service_pb2_grpc import add_TaskHubSidecarServiceServicer_to_server
    from durabletask.testing import InMemoryOrchestrationBackend

    backend = InMemoryOrchestrationBackend()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    add_TaskHubSidecarServiceServicer_to_server(backend, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    announce_port(port)
    try:
        serve_commands()
    finally:
        backend.stop(0)
        server.stop(0).wait()


def paired_ratios(ours: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """ours/theirs of each round (rounds alternate which side goes first)."""
    return [o / t for o, t in zip(ours, theirs)]


def spread(values: Sequence[float]) -> str:
    """``min-max`` of a series, for honest reporting of noisy runs."""
    return f"{min(values):.2f}-{max(values):.2f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
