"""HTTP starts through the whole dev host path vs the same start issued directly over gRPC.

HTTP path: POST /api/orchestrators/HelloOrchestration -> front door -> FunctionRpc
InvocationRequest + forwarded HTTP request -> worker pipeline -> HttpStart -> gRPC
StartInstance -> sidecar -> Azure Storage (Azurite). Direct: the same StartInstance from
GrpcDurableTaskClient to the same sidecar, in the same run. Rounds alternate the two sides
so both see the same background load (and within a round they alternate in batches of 25
starts, 100 at concurrency 32). Two scenarios: "quiet" (``--no-dispatch``: the
instances stay Pending, the start path alone) and "busy" (the started orchestrations run on
the worker meanwhile, competing for the same 2 cores and the same Azurite).

    .venv/bin/python bench/http_start.py [--count 50] [--rounds 4] [--storage azure|memory] [--quiet-only] [--cpu]

Prints requests/s, p50 and p99 per side at concurrency 1 and 32, HTTP/direct ratios, and the
spread of the p50 ratio over the rounds (the CPU is shared, so single runs vary). ``--cpu``
adds the CPU time per request of the dev host and of its worker process (from /proc, read
between the timed runs), which varies less than wall-clock times on a shared machine.
Goals: HTTP p50 <= 1.3x direct p50; HTTP p50 <= 30 ms at concurrency 1 on Azurite.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "function_app_sample"
ORCHESTRATOR = "HelloOrchestration"


class DevHostProcess:
    """``durable-ext start`` in a subprocess (its own CPU, as the Functions host would be)."""

    def __init__(
        self, storage: str, connection_string: str | None, *, dispatch: bool = True, worker_args: tuple[str, ...] = ()
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if connection_string:
            env["AzureWebJobsStorage"] = connection_string  # the environment wins over local.settings.json
        self.process = subprocess.Popen(
            [sys.executable, "-m", "azure_durable_ext.cli.main", "start", str(SAMPLE), "--port", "0", "--storage", storage,
             *([] if dispatch else ["--no-dispatch"]), *(f"--worker-arg={a}" for a in worker_args)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        text = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text += line
            if "Press Ctrl+C" in line:
                break
        http = re.search(r"HttpStart: \[[A-Z,]+\] (http://127\.0\.0\.1:\d+)/", text)
        grpc_address = re.search(r"sidecar on (127\.0\.0\.1:\d+)", text)
        if not http or not grpc_address:
            self.stop()
            raise RuntimeError(f"the dev host did not start:\n{text}")
        self.base_url = http.group(1)
        self.grpc_address = grpc_address.group(1)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time (user + system) used so far by the dev host and by its worker process."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        workers = [pid for pid in children if b"worker_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        return _cpu_of(self.process.pid), sum(_cpu_of(int(pid)) for pid in workers)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def measure(call: Callable[[], Awaitable[None]], count: int, concurrency: int) -> tuple[float, list[float]]:
    """Run ``count`` calls with ``concurrency`` callers; (calls/s, latencies in ms)."""
    latencies: list[float] = []
    remaining = count

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return count / (time.perf_counter() - began), latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(host: DevHostProcess, count: int, rounds: int, cpu: bool = False, batch: int = 25) -> None:
    from azure_durable_ext.client import GrpcDurableTaskClient

    url = f"{host.base_url}/api/orchestrators/{ORCHESTRATOR}"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session, GrpcDurableTaskClient(
        host.grpc_address, task_hub="SampleHub", connection_name="AzureWebJobsStorage"
    ) as client:

        async def http_start() -> None:
            async with session.post(url) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"HTTP start answered {response.status}")

        async def direct_start() -> None:
            await client.schedule_new_orchestration_instance(ORCHESTRATOR, version="2.0.0")

        sides = {"http": http_start, "direct": direct_start}
        for side in sides.values():  # warm-up: connections, worker imports, storage tables
            await measure(side, 10, 2)
        print(f"{'concurrency':>11} {'side':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
              + (f" {'host CPU ms/req':>16} {'worker CPU ms/req':>18}" if cpu else ""))
        for concurrency in (1, 32):
            results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in sides}
            used = {name: [0.0, 0.0] for name in sides}
            round_ratios: list[float] = []
            n = count if concurrency == 1 else count * 4
            per_batch = max(concurrency, batch if concurrency == 1 else batch * 4)
            for _ in range(rounds):
                round_latencies: dict[str, list[float]] = {name: [] for name in sides}
                round_seconds = dict.fromkeys(sides, 0.0)
                # Within a round the sides alternate batch by batch (A B, B A, ...), so load
                # drifting on the shared machine hits both alike.
                for index in range(max(1, n // per_batch)):
                    for name in list(sides) if index % 2 == 0 else list(sides)[::-1]:
                        before = host.cpu_seconds() if cpu else (0.0, 0.0)
                        began = time.perf_counter()
                        _, latencies = await measure(sides[name], per_batch, concurrency)
                        round_seconds[name] += time.perf_counter() - began
                        if cpu:
                            after = host.cpu_seconds()
                            used[name][0] += after[0] - before[0]
                            used[name][1] += after[1] - before[1]
                        round_latencies[name].extend(latencies)
                for name in sides:
                    results[name][0].append(len(round_latencies[name]) / round_seconds[name])
                    results[name][1].extend(round_latencies[name])
                round_ratios.append(percentile(round_latencies["http"], 50) / percentile(round_latencies["direct"], 50))
            summary = {}
            for name, (rates, latencies) in results.items():
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                summary[name] = (statistics.median(rates), p50, p99)
                per_request = [1000 * seconds / len(latencies) for seconds in used[name]]
                print(f"{concurrency:>11} {name:>7} {summary[name][0]:>8.1f} {p50:>8.1f} {p99:>8.1f}"
                      + (f" {per_request[0]:>16.2f} {per_request[1]:>18.2f}" if cpu else ""))
            h, d = summary["http"], summary["direct"]
            print(f"{concurrency:>11} {'ratio':>7} {h[0] / d[0]:>8.2f} {h[1] / d[1]:>8.2f} {h[2] / d[2]:>8.2f}"
                  "   (http / direct)")
            spread = sorted(round_ratios)
            print(f"{concurrency:>11} {'rounds':>7}   p50 ratio per round: min {spread[0]:.2f}, median "
                  f"{statistics.median(spread):.2f}, max {spread[-1]:.2f} ({len(spread)} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50, help="starts per side per round at concurrency 1 (x4 at 32)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds alternating the sides (each round's p50 ratio shows the spread)")
    parser.add_argument("--batch", type=int, default=25,
                        help="starts per batch at concurrency 1 (x4 at 32); within a round the sides alternate batch by batch")
    parser.add_argument("--storage", choices=("azure", "memory"), default="azure")
    parser.add_argument("--http-proxying", action="store_true",
                        help="the worker serves HTTP itself and the dev host forwards each request to it (default: "
                             "the request travels inside the invocation, RpcHttp)")
    parser.add_argument("--quiet-only", action="store_true", help="skip the busy scenario")
    parser.add_argument("--cpu", action="store_true",
                        help="also print CPU time per request of the dev host and its worker (Linux /proc)")
    args = parser.parse_args()
    worker_args = ("--http-proxying",) if args.http_proxying else ()
    for dispatch in (False,) if args.quiet_only else (False, True):
        # A fresh Azurite per scenario: the busy one must not inherit the quiet one's
        # Pending instances (same hub), or its dispatchers run that backlog meanwhile.
        azurite = None
        if args.storage == "azure":
            from azure_durable_ext.storage.azure.azurite import AzuriteProcess

            azurite = AzuriteProcess().start()
        try:
            host = DevHostProcess(args.storage, azurite.connection_string if azurite else None, dispatch=dispatch,
                                  worker_args=worker_args)
            try:
                print(f"\n== {'busy: the started orchestrations run on the worker meanwhile' if dispatch else 'quiet: starts only (--no-dispatch)'}"
                      f"\ndev host {host.base_url} (sidecar {host.grpc_address}), storage {args.storage}, {os.cpu_count()} cores")
                asyncio.run(run(host, args.count, args.rounds, args.cpu, args.batch))
            finally:
                host.stop()
        finally:
            if azurite is not None:
                azurite.stop()

if __name__ == "__main__":
    main()
