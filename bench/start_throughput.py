"""StartInstance calls per second: our sidecar vs the durabletask.testing in-memory sidecar.

Both sidecars run in their own subprocess (so neither competes with the client threads for
this process's GIL), both bound to 127.0.0.1 on a free port, both alive for the whole run.
The same official ``durabletask`` TaskHubGrpcClient code drives both: one client per thread,
1 and 16 threads, a warm-up, then batches of starts that alternate between the sides (A B,
B A, ...), so drifting load on a shared machine hits both alike: whole runs of one side after
the other gave medians 0.8-1.0 for the same code here, interleaved batches agree within a
few percent. Prints calls/s and sidecar CPU per start side by side, ours/theirs over all
batches, and the median and interquartile range of the per-batch ratios.

    .venv/bin/python bench/start_throughput.py [--count 6000] [--batch 200] [--with-dispatchers] [--floor] [--registration]

``--registration`` also runs our listener with its RPCs added as registered methods
(``add_registered_method_handlers``), the way it served them before: grpc.aio then waits
on one future per registered method for every incoming call (see
``protocol.sidecar_rpc.register_servicers``).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

from _support import SidecarProcess, announce_port, serve_commands, serve_durabletask_testing

SIDES = ("ours", "theirs")
#: Trivial StartInstance servers (answer at once, store nothing): what the gRPC stack alone
#: costs per call on grpc.aio + our loop (ours) and on grpc's thread-pool server (theirs).
FLOOR_SIDES = ("floor-aio", "floor-sync")
#: Our listener with the RPCs as registered methods (the baseline of --registration).
REGISTERED_SIDE = "ours-registered"


# -- servers (run in the subprocess) -------------------------------------------------------


def serve_ours(with_dispatchers: bool, registered: bool = False) -> None:
    from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener

    prefer_classic_listener()  # before grpc loads, as the durable-ext commands do
    from azure_durable_ext.core.options import DurableTaskOptions
    from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
    from azure_durable_ext.sidecar.host import SidecarHost, run_host_loop
    from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
    from azure_durable_ext.storage.memory import InMemoryOrchestrationService

    if registered:
        from azure_durable_ext.protocol import sidecar_rpc
        from azure_durable_ext.sidecar import listener

        def register_as_registered_methods(server: Any, servicers: Any) -> None:
            server.add_registered_method_handlers(
                sidecar_rpc.SERVICE_NAME, sidecar_rpc.merged_method_handlers(*servicers)
            )

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
    if kind == "floor-aio":
        from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener

        prefer_classic_listener()  # our stack: grpc's listener as the durable-ext commands pick it
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
    ``threads`` clients, after ``warmup`` of them."""
    from durabletask.client import TaskHubGrpcClient

    clients = [TaskHubGrpcClient(host_address=address) for _ in range(threads)]
    try:
        _start_batch(clients, max(warmup, threads), "warm")
        cpu_before = cpu() if cpu else 0.0
        began = time.perf_counter()
        _start_batch(clients, count, {"n": 1})
        elapsed = time.perf_counter() - began
        cpu_used = (cpu() if cpu else 0.0) - cpu_before
        done = max(1, count // threads) * threads
        return done / elapsed, cpu_used * 1000 / done
    finally:
        for c in clients:
            c.close()


def _start_batch(clients: list[Any], count: int, input: Any) -> None:
    """``count`` starts spread over ``clients``, one thread each."""
    per_client = max(1, count // len(clients))

    def work(client: Any) -> None:
        for _ in range(per_client):
            client.schedule_new_orchestration("HelloOrchestration", input=input, version="1.2.0")

    pool = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def run_interleaved(
    sidecars: dict[str, SidecarProcess], threads: int, count: int, batch: int, warmup: int
) -> dict[str, tuple[float, float, list[float]]]:
    """{side: (starts/s, sidecar CPU ms per start, seconds per batch)}: ``count`` starts per
    side in batches of ``batch``, alternating between the sides batch by batch."""
    from durabletask.client import TaskHubGrpcClient

    sides = list(sidecars)
    clients = {side: [TaskHubGrpcClient(host_address=sidecars[side].address) for _ in range(threads)] for side in sides}
    try:
        for side in sides:
            _start_batch(clients[side], max(warmup, threads), "warm")
        batch = max(batch, threads)
        done = (batch // threads) * threads
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        cpu: dict[str, float] = dict.fromkeys(sides, 0.0)
        for index in range(max(1, count // batch)):
            for side in sides if index % 2 == 0 else sides[::-1]:
                cpu_before, began = sidecars[side].cpu_seconds(), time.perf_counter()
                _start_batch(clients[side], batch, {"n": 1})
                seconds[side].append(time.perf_counter() - began)
                cpu[side] += sidecars[side].cpu_seconds() - cpu_before
        return {
            side: (done * len(seconds[side]) / sum(seconds[side]), cpu[side] * 1000 / (done * len(seconds[side])), seconds[side])
            for side in sides
        }
    finally:
        for side_clients in clients.values():
            for client in side_clients:
                client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=SIDES + FLOOR_SIDES + (REGISTERED_SIDE,), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=6000, help="measured starts per side and concurrency")
    parser.add_argument("--batch", type=int, default=200, help="starts per batch (sides alternate batch by batch)")
    parser.add_argument("--warmup", type=int, default=400)
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

    pairs = [("ours", "theirs")] + ([("floor-aio", "floor-sync")] if args.floor else [])
    pairs += [("ours", REGISTERED_SIDE)] if args.registration else []
    results: dict[tuple[int, str, str], dict[str, tuple[float, float, list[float]]]] = {}
    extra = ["--with-dispatchers"] if args.with_dispatchers else []
    for threads in args.concurrency:
        # Each pair alive at once and interleaved; pairs run one after the other.
        for mine, other in pairs:
            with SidecarProcess(__file__, mine, extra if mine == "ours" else []) as a, SidecarProcess(
                __file__, other, extra if other == REGISTERED_SIDE else []
            ) as b:
                results[(threads, mine, other)] = run_interleaved(
                    {mine: a, other: b}, threads, args.count, args.batch, args.warmup
                )

    ours_kind = "listener + dispatchers" if args.with_dispatchers else "listener"
    print(f"StartInstance throughput: {args.count} starts per side and concurrency in batches of {args.batch}, "
          f"the two sides alternating batch by batch; ours = {ours_kind} + memory")
    print(f"{'callers':>8} {'ours':>8} {'durabletask.testing':>20} {'ratio':>7} {'batch median':>13}"
          f" {'batch IQR':>11}   sidecar CPU ms/start ours | theirs")
    for mine, other in pairs:
        if mine == "floor-aio":
            print("transport floor (trivial handlers): grpc.aio on our loop vs grpc thread-pool server")
        elif other == REGISTERED_SIDE:
            print("our listener: RPCs through one generic handler (ours) vs as registered methods (right column)")
        for threads in args.concurrency:
            rate_a, cpu_a, seconds_a = results[(threads, mine, other)][mine]
            rate_b, cpu_b, seconds_b = results[(threads, mine, other)][other]
            per_batch = sorted(b / a for a, b in zip(seconds_a, seconds_b))
            quartiles = statistics.quantiles(per_batch, n=4) if len(per_batch) > 1 else per_batch * 3
            print(f"{threads:>8} {rate_a:>8.0f} {rate_b:>20.0f} {rate_a / rate_b:>7.2f} {statistics.median(per_batch):>13.2f}"
                  f" {quartiles[0]:>5.2f}-{quartiles[-1]:.2f}   {cpu_a:>10.3f} | {cpu_b:.3f}")


if __name__ == "__main__":
    main()
