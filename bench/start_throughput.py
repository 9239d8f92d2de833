"""StartInstance calls per second: our sidecar vs the durabletask.testing in-memory sidecar.

Both sidecars run in their own subprocess (so neither competes with the client threads for
this process's GIL), both bound to 127.0.0.1 on a free port. The same official
``durabletask`` TaskHubGrpcClient code drives both: one client per thread, 1 and 16 threads,
a warm-up, then a fixed number of starts. Prints calls/s side by side and ours/theirs.

    .venv/bin/python bench/start_throughput.py [--count 2000] [--rounds 3] [--with-dispatchers] [--floor] [--registration]

``--registration`` also runs our listener with its RPCs added as registered methods
(``add_registered_method_handlers``), the way it served them before: grpc.aio then waits
on one future per registered method for every incoming call (see
``protocol.sidecar_rpc.register_servicers``).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

from _support import SidecarProcess, announce_port, median, paired_ratios, serve_commands, serve_durabletask_testing, spread

SIDES = ("ours", "theirs")
#: Trivial StartInstance servers (answer at once, store nothing): what the gRPC stack alone
#: costs per call on grpc.aio + our loop (ours) and on grpc's thread-pool server (theirs).
FLOOR_SIDES = ("floor-aio", "floor-sync")
#: Our listener with the RPCs as registered methods (the baseline of --registration).
REGISTERED_SIDE = "ours-registered"


# -- servers (run in the subprocess) -------------------------------------------------------


def serve_ours(with_dispatchers: bool, registered: bool = False) -> None:
    from azure_durable_ext.core.options import DurableTaskOptions
    from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
    from azure_durable_ext.sidecar.host import SidecarHost, run_host_loop
    from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
    from azure_durable_ext.storage.memory import InMemoryOrchestrationService

    if registered:
        from azure_durable_ext.protocol import sidecar_rpc
        from azure_durable_ext.sidecar import listener

        def register_as_registered_methods(server: Any, servicers: Any) -> None:
            merged: dict[str, Any] = {}
            for servicer in servicers:
                for name, handler in sidecar_rpc.method_handlers(servicer).items():
                    merged.setdefault(name, handler)
            server.add_registered_method_handlers(sidecar_rpc.SERVICE_NAME, merged)

        listener.register_servicers = register_as_registered_methods  # type: ignore[assignment]

    async def run() -> None:
        options = DurableTaskOptions()
        hubs = TaskHubRegistry([TaskHub.create(options, InMemoryOrchestrationService())])
        # With dispatchers it is what `durable-ext sidecar` runs (work waits for workers).
        host = build_sidecar_host(hubs, port=0) if with_dispatchers else SidecarHost(hubs, port=0)
        announce_port(await host.start())
        await asyncio.get_running_loop().run_in_executor(None, serve_commands)
        await host.stop(grace=0)

    run_host_loop(run())


class _TrivialStarts:
    """Answers StartInstance at once: the transport floor."""

    def StartInstance(self, request: Any, context: Any) -> Any:
        from azure_durable_ext._proto import pb

        return pb.CreateInstanceResponse(instanceId=request.instanceId)


class _TrivialAsyncStarts:
    async def StartInstance(self, request: Any, context: Any) -> Any:
        return _TrivialStarts.StartInstance(self, request, context)  # type: ignore[arg-type]


def serve_floor(kind: str) -> None:
    import grpc

    from azure_durable_ext.protocol.sidecar_rpc import register_servicers
    from azure_durable_ext.sidecar.host import run_host_loop

    if kind == "floor-sync":
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        register_servicers(server, [_TrivialStarts()])
        announce_port(server.add_insecure_port("127.0.0.1:0"))
        server.start()
        serve_commands()
        server.stop(0).wait()
        return

    async def run() -> None:
        server = grpc.aio.server()
        register_servicers(server, [_TrivialAsyncStarts()])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        announce_port(port)
        await asyncio.get_running_loop().run_in_executor(None, serve_commands)
        await server.stop(0)

    run_host_loop(run())


# -- client side ---------------------------------------------------------------------------


def run_starts(address: str, threads: int, count: int, warmup: int, cpu: "Callable[[], float] | None" = None) -> tuple[float, float]:
    """(starts/s, sidecar CPU ms per start) of ``count`` StartInstance calls spread over
    ``threads`` clients."""
    from durabletask.client import TaskHubGrpcClient

    clients = [TaskHubGrpcClient(host_address=address) for _ in range(threads)]
    try:
        per_thread = count // threads
        barrier = threading.Barrier(threads + 1)

        def work(client: TaskHubGrpcClient) -> None:
            for _ in range(max(1, warmup // threads)):
                client.schedule_new_orchestration("HelloOrchestration", input="warm", version="1.2.0")
            barrier.wait()
            for _ in range(per_thread):
                client.schedule_new_orchestration("HelloOrchestration", input={"n": 1}, version="1.2.0")
            barrier.wait()

        pool = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in pool:
            t.start()
        barrier.wait()
        cpu_before = cpu() if cpu else 0.0
        began = time.perf_counter()
        barrier.wait()
        elapsed = time.perf_counter() - began
        cpu_used = (cpu() if cpu else 0.0) - cpu_before
        for t in pool:
            t.join()
        done = per_thread * threads
        return done / elapsed, cpu_used * 1000 / done
    finally:
        for c in clients:
            c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=SIDES + FLOOR_SIDES + (REGISTERED_SIDE,), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=2000, help="measured starts per run")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--with-dispatchers", action="store_true",
                        help="run our side as `durable-ext sidecar` does, dispatchers included")
    parser.add_argument("--floor", action="store_true",
                        help="also measure the transport floor: trivial handlers on grpc.aio vs grpc sync")
    parser.add_argument("--registration", action="store_true",
                        help="also run our listener with its RPCs as registered methods (the old way)")
    args = parser.parse_args()
    if args.serve in FLOOR_SIDES:
        return serve_floor(args.serve)
    if args.serve in ("ours", REGISTERED_SIDE):
        return serve_ours(args.with_dispatchers, registered=args.serve == REGISTERED_SIDE)
    if args.serve == "theirs":
        return serve_durabletask_testing(max_workers=16)
    # The SDK logs every start at INFO; both sides pay the same, but it drowns the table.
    logging.getLogger("durabletask-client").setLevel(logging.WARNING)
    logging.disable(logging.INFO)

    rates: dict[tuple[str, int], list[float]] = {}
    cpu_ms: dict[tuple[str, int], list[float]] = {}
    for round_no in range(args.rounds):
        for threads in args.concurrency:
            # Alternate which side goes first so drifting machine load hits both alike.
            sides = SIDES + (FLOOR_SIDES if args.floor else ()) + ((REGISTERED_SIDE,) if args.registration else ())
            for side in sides if round_no % 2 == 0 else sides[::-1]:
                extra = ["--with-dispatchers"] if args.with_dispatchers and side in ("ours", REGISTERED_SIDE) else []
                with SidecarProcess(__file__, side, extra) as sidecar:
                    rate, ms = run_starts(sidecar.address, threads, args.count, args.warmup, sidecar.cpu_seconds)
                rates.setdefault((side, threads), []).append(rate)
                cpu_ms.setdefault((side, threads), []).append(ms)

    ours_kind = "listener + dispatchers" if args.with_dispatchers else "listener"
    print(f"StartInstance throughput: {args.count} starts per run, {args.rounds} rounds, "
          f"best run per side (calls/s), median of the per-round ratios; ours = {ours_kind} + memory")
    print(f"{'callers':>8} {'ours':>8} {'durabletask.testing':>20} {'best ratio':>11} {'median ratio':>13}"
          f" {'ratio spread':>13}   median sidecar CPU ms/start ours | theirs")
    pairs = [("ours", "theirs")] + ([("floor-aio", "floor-sync")] if args.floor else [])
    pairs += [("ours", REGISTERED_SIDE)] if args.registration else []
    for mine, other in pairs:
        if mine == "floor-aio":
            print("transport floor (trivial handlers): grpc.aio on our loop vs grpc thread-pool server")
        elif other == REGISTERED_SIDE:
            print("our listener: RPCs through one generic handler (ours) vs as registered methods (right column)")
        for threads in args.concurrency:
            ours, theirs = rates[(mine, threads)], rates[(other, threads)]
            paired = paired_ratios(ours, theirs)
            print(f"{threads:>8} {max(ours):>8.0f} {max(theirs):>20.0f} {max(ours) / max(theirs):>11.2f}"
                  f" {median(paired):>13.2f} {spread(paired):>13}"
                  f"   {median(cpu_ms[(mine, threads)]):>10.3f} | {median(cpu_ms[(other, threads)]):.3f}")

if __name__ == "__main__":
    main()
