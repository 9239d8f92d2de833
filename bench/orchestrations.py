"""Orchestrations end to end: our sidecar (in-memory, Azurite) vs the durabletask.testing sidecar.

Every side runs in its own subprocess, bound to 127.0.0.1 on a free port; the same official
``durabletask`` worker and client code (in this process) drives each side. Our in-memory
sidecar and the durabletask.testing one are alive at once, each with its own worker, and each
scenario runs on one and then on the other (who goes first alternates), so drifting load on
this shared machine hits both alike; the Azurite side runs its scenarios on its own:

  (a) 200 hello-sequence orchestrations (3 activities each), start to finish;
  (b) one orchestration fanning out/in over 100 activities;
  (c) one orchestration calling 50 activities in sequence;
  (d) 100 external events raised into one waiting orchestration.

Printed side by side with ratios ours/theirs, the published Durable Functions per-instance
figures for context, and on Azurite: the storage operations each scenario used per activity
(per event for (d)), the same count for the DurableTask.AzureStorage flow (the model in
``_storage_ceiling``), the raw operation rate of that mix measured against the same Azurite
in the same round, and the fraction of the storage-bound ceiling reached (the rate reached
divided by the raw rate over the operations needed).

    .venv/bin/python bench/orchestrations.py [--rounds 3] [--no-azurite]

Our sidecar runs with maxConcurrentOrchestratorFunctions = maxConcurrentActivityFunctions =
100 (a host.json setting; the durabletask.testing sidecar has no such limit and the worker
takes 100 x cores); BENCH_MAX_CONCURRENT=N sets another value, 0 keeps the Durable default
(10 x cores). BENCH_EXTENDED_SESSIONS=1 runs our side with extendedSessionsEnabled (default
off, as in Durable Functions).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

from _storage_ceiling import ceiling, dtfx_ops, mix_rate, probe_rates
from _support import SidecarProcess, announce_port, median, paired_ratios, serve_commands, serve_durabletask_testing, spread

SIDES = ("ours-memory", "theirs", "ours-azurite")
SCENARIOS = ("a", "b", "c", "d")
LABELS = {
    "a": "(a) 200 hello sequences, orchestrations/s",
    "b": "(b) fan-out/in 100, activities/s",
    "c": "(c) 50 in sequence, activities/s",
    "d": "(d) 100 events into one, events/s",
}
UNITS = {"a": 200 * 3, "b": 100, "c": 50, "d": 100}  # storage-counted work units per scenario
PUBLISHED = {
    "a": "Netherite HelloSequence5 50-300/s",
    "b": "DF Azure Storage fan-out 100/s",
    "c": "DF Azure Storage sequential 5/s",
    "d": "DF Azure Storage events 50/s",
}
#: Activities (events for (d)) per reported unit: (a) reports orchestrations of 3 activities.
PER_REPORTED = {"a": 3, "b": 1, "c": 1, "d": 1}
#: Storage operations per unit in the DurableTask.AzureStorage flow (see _storage_ceiling).
DTFX_PER_UNIT = {
    "a": dtfx_ops(activities=3, episodes=4, starts=1) / 3,
    "b": dtfx_ops(activities=100, episodes=1 + -(-100 // 32), starts=1) / 100,
    "c": dtfx_ops(activities=50, episodes=51, starts=1) / 50,
    "d": dtfx_ops(activities=0, episodes=101, starts=1, events=100) / 100,
}
MAX_CONCURRENT = int(os.environ.get("BENCH_MAX_CONCURRENT", "100"))
EXTENDED_SESSIONS = os.environ.get("BENCH_EXTENDED_SESSIONS", "") not in ("", "0")

# -- the app ----------------------------------------------------------------------------------


def say_hello(ctx: Any, name: str) -> str:
    return f"Hello {name}!"


def double(ctx: Any, value: int) -> int:
    return value * 2


def hello_sequence(ctx: Any, _: Any) -> Any:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield ctx.call_activity(say_hello, input=city)))
    return results


def fan_out_fan_in(ctx: Any, count: int) -> Any:
    from durabletask import task

    values = yield task.when_all([ctx.call_activity(double, input=i) for i in range(count)])
    return sum(values)


def chain(ctx: Any, count: int) -> Any:
    total = 0
    for i in range(count):
        total += yield ctx.call_activity(double, input=i)
    return total


def event_sink(ctx: Any, count: int) -> Any:
    received = 0
    for _ in range(count):
        yield ctx.wait_for_external_event("tick")
        received += 1
    return received


# -- sidecars (each in its own subprocess) -------------------------------------------------------


def serve_ours(storage: str, connection_string: str | None) -> None:
    from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener

    prefer_classic_listener()  # before grpc loads, as the durable-ext commands do
    import asyncio

    from azure_durable_ext.core.options import DurableTaskOptions
    from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
    from azure_durable_ext.sidecar.host import run_host_loop
    from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry

    async def run() -> None:
        limits = {} if not MAX_CONCURRENT else {
            "max_concurrent_orchestrator_functions": MAX_CONCURRENT, "max_concurrent_activity_functions": MAX_CONCURRENT
        }
        options = DurableTaskOptions(hub_name=f"Bench{os.getpid()}", extended_sessions_enabled=EXTENDED_SESSIONS, **limits)
        counter = None
        if storage == "azurite":
            from azure_durable_ext.core.options import AzureStorageOptions
            from azure_durable_ext.storage.azure.connection import parse_connection_string
            from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

            account = parse_connection_string(connection_string or "", "AzureWebJobsStorage")
            service: Any = AzureStorageOrchestrationService(
                account, hub_name=options.hub_name, options=AzureStorageOptions(max_queue_polling_interval=1.0)
            )
            counter = service.counter
        else:
            from azure_durable_ext.storage.memory import InMemoryOrchestrationService

            service = InMemoryOrchestrationService()
        host = build_sidecar_host(TaskHubRegistry([TaskHub.create(options, service)]), port=0)
        announce_port(await host.start())
        counts = counter.snapshot if counter is not None else dict
        await asyncio.get_running_loop().run_in_executor(None, serve_commands, counts)
        await host.stop(grace=0)
        if storage == "azurite":
            await service.delete_task_hub()
            await service.stop()  # deleting opened clients again

    run_host_loop(run())


# -- scenarios ---------------------------------------------------------------------------------


Result = tuple[float, dict[str, float], float]


class SideDriver:
    """The official worker and client on one sidecar; ``measure`` runs one scenario."""

    def __init__(self, sidecar: SidecarProcess) -> None:
        from durabletask.client import TaskHubGrpcClient
        from durabletask.worker import TaskHubGrpcWorker

        self.sidecar = sidecar
        self.worker = TaskHubGrpcWorker(host_address=sidecar.address)
        for fn in (hello_sequence, fan_out_fan_in, chain, event_sink):
            self.worker.add_orchestrator(fn)
        for fn in (say_hello, double):
            self.worker.add_activity(fn)
        self.worker.start()
        self.client = TaskHubGrpcClient(host_address=sidecar.address)
        try:
            wait(self.client, self.client.schedule_new_orchestration(hello_sequence))  # warm-up
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.client.close()
        self.worker.stop()

    def measure(self, key: str) -> Result:
        """(rate, storage operations per unit by kind, sidecar CPU ms per unit) of scenario ``key``."""
        before, cpu_before = self.sidecar.counts(), self.sidecar.cpu_seconds()
        rate = getattr(self, f"scenario_{key}")()
        cpu = self.sidecar.cpu_seconds() - cpu_before
        after = self.sidecar.counts()
        ops = {kind: (n - before.get(kind, 0)) / UNITS[key] for kind, n in after.items() if n != before.get(kind, 0)}
        return rate, ops, cpu * 1000 / UNITS[key]

    def scenario_a(self) -> float:
        began = time.perf_counter()
        ids = [self.client.schedule_new_orchestration(hello_sequence) for _ in range(200)]
        with futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: wait(self.client, i), ids))
        return 200 / (time.perf_counter() - began)

    def _single(self, fn: Any, n: int) -> float:
        began = time.perf_counter()
        wait(self.client, self.client.schedule_new_orchestration(fn, input=n))
        return n / (time.perf_counter() - began)

    def scenario_b(self) -> float:
        return self._single(fan_out_fan_in, 100)

    def scenario_c(self) -> float:
        return self._single(chain, 50)

    def scenario_d(self) -> float:
        instance_id = self.client.schedule_new_orchestration(event_sink, input=100)
        self.client.wait_for_orchestration_start(instance_id, timeout=60)
        began = time.perf_counter()
        for i in range(100):
            self.client.raise_orchestration_event(instance_id, "tick", data=i)
        wait(self.client, instance_id)
        return 100 / (time.perf_counter() - began)


def run_side(sidecar: SidecarProcess) -> dict[str, Result]:
    """{scenario: Result} of every scenario, in order, on one sidecar."""
    driver = SideDriver(sidecar)
    try:
        return {key: driver.measure(key) for key in SCENARIOS}
    finally:
        driver.close()


def run_pair_interleaved(first: SidecarProcess, second: SidecarProcess, flip: bool) -> dict[str, tuple[Result, Result]]:
    """Both sidecars (and a worker on each) alive at once; each scenario runs on one, then
    on the other (who goes first alternates by scenario, and ``flip`` swaps it), so
    drifting load on a shared machine hits both sides alike."""
    drivers = [SideDriver(first)]
    try:
        drivers.append(SideDriver(second))
        results: dict[str, tuple[Result, Result]] = {}
        for index, key in enumerate(SCENARIOS):
            order = [0, 1] if (index % 2 == 0) != flip else [1, 0]
            measured = {i: drivers[i].measure(key) for i in order}
            results[key] = (measured[0], measured[1])
        return results
    finally:
        for driver in drivers:
            driver.close()


def profile_path(args: argparse.Namespace, side: str) -> str | None:
    return os.path.join(args.profile_dir, f"{side}.prof") if args.profile_dir else None


def wait(client: Any, instance_id: str) -> None:
    from durabletask.client import OrchestrationStatus

    state = client.wait_for_orchestration_completion(instance_id, timeout=300)
    if state is None or state.runtime_status is not OrchestrationStatus.COMPLETED:
        raise RuntimeError(f"{instance_id} did not complete: {state}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--connection-string", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-azurite", action="store_true", help="skip the Azurite column")
    parser.add_argument("--only", nargs="+", choices=SIDES, help="run only these sides")
    parser.add_argument("--profile-dir", help="write each sidecar's cProfile output here")
    args = parser.parse_args()
    if args.serve == "theirs":
        return serve_durabletask_testing(max_workers=32)
    if args.serve:
        return serve_ours(args.serve.split("-", 1)[1], args.connection_string)
    logging.disable(logging.WARNING)  # the SDK logs every call; both sides pay it, it drowns the table

    sides = args.only or [s for s in SIDES if not (args.no_azurite and s == "ours-azurite")]
    azurite = None
    if "ours-azurite" in sides:
        from azure_durable_ext.storage.azure.azurite import AzuriteProcess

        azurite = AzuriteProcess()
        azurite.start()
    runs: dict[tuple[str, str], list[Result]] = {}
    probes: list[dict[str, float]] = []
    try:
        paired = {"ours-memory", "theirs"} <= set(sides)
        alone = [side for side in sides if not (paired and side in ("ours-memory", "theirs"))]
        for round_no in range(args.rounds):
            if paired:
                with SidecarProcess(__file__, "ours-memory", profile_to=profile_path(args, "ours-memory")) as ours, \
                        SidecarProcess(__file__, "theirs", profile_to=profile_path(args, "theirs")) as theirs:
                    for key, (mine, other) in run_pair_interleaved(ours, theirs, flip=round_no % 2 == 1).items():
                        runs.setdefault(("ours-memory", key), []).append(mine)
                        runs.setdefault(("theirs", key), []).append(other)
            for side in alone:
                connection = azurite.connection_string if azurite and side == "ours-azurite" else None
                extra = ["--connection-string", connection] if connection else []
                if connection:
                    probes.append(probe_rates(connection))  # the raw rates, right before the side runs
                with SidecarProcess(__file__, side, extra, profile_to=profile_path(args, side)) as sidecar:
                    for key, result in run_side(sidecar).items():
                        runs.setdefault((side, key), []).append(result)
    finally:
        if azurite is not None:
            azurite.stop()
    report(sides, runs, probes, args.rounds)


def report(
    sides: list[str], runs: dict[tuple[str, str], list[Result]], probes: list[dict[str, float]], rounds: int
) -> None:
    limit = MAX_CONCURRENT or "Durable default (10 x cores)"
    print(f"Orchestrations end to end, official durabletask worker + client, {rounds} round(s), best run per "
          f"side; ratio = median (min-max) of the per-round ratios; our maxConcurrent*Functions = {limit}"
          f"{'; our extendedSessionsEnabled = true' if EXTENDED_SESSIONS else ''}")
    if "ours-memory" in sides and "theirs" in sides:
        in_memory_table(runs)
    if "ours-azurite" in sides:
        azurite_table(runs, probes)


def in_memory_table(runs: dict[tuple[str, str], list[Result]]) -> None:
    print(f"{'scenario':<44}{'ours mem':>10}{'dt.testing':>12}{'ratio':>16}   published (context)")
    for key in SCENARIOS:
        ours = [r[0] for r in runs[("ours-memory", key)]]
        theirs = [r[0] for r in runs[("theirs", key)]]
        paired = paired_ratios(ours, theirs)
        print(f"{LABELS[key]:<44}{max(ours):>10.1f}{max(theirs):>12.1f}{median(paired):>6.2f} ({spread(paired)})"
              f"   {PUBLISHED[key]}")
    print("sidecar CPU ms per unit (median), ours mem | dt.testing: " + ", ".join(
        f"{k}={median([r[2] for r in runs[('ours-memory', k)]]):.2f}|{median([r[2] for r in runs[('theirs', k)]]):.2f}"
        for k in SCENARIOS))


def azurite_table(runs: dict[tuple[str, str], list[Result]], probes: list[dict[str, float]]) -> None:
    print()
    print("On Azurite (ops/unit: storage operations per activity, per event for (d); DTFx: the "
          "DurableTask.AzureStorage flow's count; raw ops/s: this mix measured on the same Azurite, same round;")
    print("ceiling = raw ops/s / ops per unit; best and median of the per-round fractions of it)")
    print(f"{'scenario':<44}{'ours azurite':>13}{'ops/unit':>9}{'DTFx':>6}{'raw ops/s':>10}{'ceiling':>9}"
          f"{'of ceiling':>12}")
    for key in SCENARIOS:
        results = runs[("ours-azurite", key)]
        fractions, ceilings, raws = [], [], []
        for (rate, ops, _), rates in zip(results, probes):
            top = ceiling(ops, rates) / PER_REPORTED[key]
            ceilings.append(top)
            raws.append(mix_rate(ops, rates))
            fractions.append(rate / top)
        ops_per_unit = median([sum(r[1].values()) for r in results])
        print(f"{LABELS[key]:<44}{max(r[0] for r in results):>13.1f}{ops_per_unit:>9.2f}{DTFX_PER_UNIT[key]:>6.2f}"
              f"{median(raws):>10.0f}{median(ceilings):>9.1f}{max(fractions):>6.0%} /{median(fractions):>4.0%}")
    last = {key: runs[("ours-azurite", key)][-1][1] for key in SCENARIOS}
    print("storage operations per unit by kind (last round): ")
    for key in SCENARIOS:
        print(f"  ({key}) " + ", ".join(f"{kind} {n:.2f}" for kind, n in sorted(last[key].items(), key=lambda x: -x[1])))
    print("raw rates by kind (ops/s, median of rounds): " + ", ".join(
        f"{kind} {median([p[kind] for p in probes]):.0f}" for kind in probes[0]))

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
