"""Azure Storage provider efficiency on Azurite: start rate, storage transactions, idle latency.

Starts its own Azurite (127.0.0.1, free ports, temp folder, --disableTelemetry). Our
sidecar runs in a subprocess of this script (the Azure Storage provider, the operation
counter in ``service.counter``); gRPC clients in this process drive it.

(a) StartInstance/s with 16 concurrent callers through our sidecar (listener only: nothing
    consumes the starts, so its control-queue pollers, which wait for a first request for
    orchestration work, receive nothing), twice: the official ``durabletask`` client in 16 threads (one
    client each), and our async GrpcDurableTaskClient in 16 coroutines (one channel, the
    raw baseline's shape); against a raw baseline measured in the same round, just before
    and just after ours (averaged): the storage operations one start needs, one queue send
    + one table insert with the same message body and row, issued directly with the async
    Azure SDK (the provider's client options) by 16 coroutines in one process. Goal: ours
    >= 0.7 x raw.
(b) Storage transactions per start and per completed 3-activity orchestration (in-process
    orchestrator, sidecar with dispatchers), counted by the provider, by kind, next to the
    itemized DurableTask.AzureStorage flow (FACTS section 4). Empty control/work-item polls
    are counted apart: they depend on idle time, not on the work. Goal: fewer.
(c) Idle-system start-to-first-dispatch latency: idle hub (pollers backed off for
    ``--idle`` seconds, maxQueuePollingInterval at its 30 s default), then one start; the
    time from the StartInstance call until the orchestrator function first runs (same
    CLOCK_MONOTONIC in both processes), p50/p99 over ``--samples`` starts, next to the raw
    chain the same path needs at the storage (send + insert, then one receive). Goal:
    p50 <= 50 ms.

    .venv/bin/python bench/storage_efficiency.py [--rounds 5] [--count 800] [--samples 30] [--only a b c]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent import futures
from typing import Any

from _support import SidecarProcess, announce_port, spread
from start_throughput import run_starts

START_CALLERS = 16
GOAL_START_RATIO = 0.7
GOAL_P50_MS = 50.0
ORCHESTRATIONS = 40

# -- the DurableTask.AzureStorage flow, itemized (FACTS sections 1 and 4) ----------------------
#: One start (CreateTaskOrchestrationAsync): storage transactions in the order it makes them.
DTFX_START = (
    ("read the instance row (dedupe, Generation)", 1),
    ("send ExecutionStarted to the control queue", 1),
    ("insert / replace the Pending instance row", 1),
)
#: One orchestrator episode (extended sessions off, as the Durable default).
DTFX_EPISODE = (
    ("receive the control-queue batch", 1),
    ("query the history", 1),
    ("history batch + sentinel", 1),
    ("update the instance row", 1),
    ("delete the consumed message", 1),
)
#: One activity, besides the episodes it causes.
DTFX_ACTIVITY = (
    ("send the work item to the work-item queue", 1),
    ("receive it", 1),
    ("delete it", 1),
    ("send the result to the control queue", 1),
)


def dtfx_orchestration(activities: int) -> tuple[int, int, int, int]:
    """(start, episodes x ops, activities x ops, total) for a sequence of ``activities``:
    one episode for the start and one per result."""
    start = sum(n for _, n in DTFX_START)
    episodes = (activities + 1) * sum(n for _, n in DTFX_EPISODE)
    per_activity = activities * sum(n for _, n in DTFX_ACTIVITY)
    return start, episodes, per_activity, start + episodes + per_activity


# -- the app (runs in the sidecar subprocess) ------------------------------------------------
DISPATCHED: dict[str, float] = {}


def say_hello(ctx: Any, city: str) -> str:
    return f"Hello {city}!"


def hello_sequence(ctx: Any, _: Any) -> Any:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield ctx.call_activity("say_hello", input=city)))
    return results


def first_dispatch(ctx: Any, _: Any) -> str:
    if not ctx.is_replaying:
        DISPATCHED.setdefault(ctx.instance_id, time.clock_gettime(time.CLOCK_MONOTONIC))
    return "dispatched"


def serve(side: str, connection_string: str) -> None:
    """Our sidecar on Azurite: ``starts`` = listener only, ``full`` = with dispatchers
    running the app in process. Commands on stdin: ``counts``, ``dispatched <id>``, ``stop``."""
    from azure_durable_ext.sidecar.grpc_listener_engine import prefer_classic_listener

    prefer_classic_listener()  # before grpc loads, as the durable-ext commands do
    from azure_durable_ext.core.options import AzureStorageOptions, DurableTaskOptions
    from azure_durable_ext.core.orchestration import Registry
    from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host
    from azure_durable_ext.sidecar.host import SidecarHost, run_host_loop
    from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
    from azure_durable_ext.storage.azure.connection import parse_connection_string
    from azure_durable_ext.storage.azure.message_queue import MessageQueue
    from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

    empty_polls: Counter[str] = Counter()
    receive = MessageQueue.receive

    async def counting_receive(self: MessageQueue, *args: Any, **kwargs: Any) -> Any:
        # Bench-side only: tells empty polls from receives that carried work.
        got = await receive(self, *args, **kwargs)
        if not got:
            empty_polls["workitems" if self.name.endswith("-workitems") else "control"] += 1
        return got

    MessageQueue.receive = counting_receive  # type: ignore[method-assign]

    async def run() -> None:
        hub_name = f"Eff{uuid.uuid4().hex[:10]}"
        options = DurableTaskOptions(hub_name=hub_name, storage=AzureStorageOptions())
        service = AzureStorageOrchestrationService(
            parse_connection_string(connection_string, "AzureWebJobsStorage"), hub_name=hub_name, options=options.storage
        )
        hubs = TaskHubRegistry([TaskHub.create(options, service)])
        if side == "full":
            registry = Registry()
            registry.add_orchestrator(hello_sequence, "hello_sequence")
            registry.add_orchestrator(first_dispatch, "first_dispatch")
            registry.add_activity(say_hello, "say_hello")
            host = build_sidecar_host(hubs, registry=registry)
        else:
            host = SidecarHost(hubs)
        await service.create_task_hub()
        port = await host.start()
        announce_port(port)

        def commands() -> None:
            for line in sys.stdin:
                command, _, arg = line.strip().partition(" ")
                if command == "counts":
                    counts = service.counter.snapshot()
                    counts.update({f"empty-poll.{k}": v for k, v in empty_polls.items()})
                    print(json.dumps(counts), flush=True)
                elif command == "dispatched":
                    print(json.dumps(DISPATCHED.get(arg)), flush=True)
                elif command == "stop":
                    return

        await asyncio.get_running_loop().run_in_executor(None, commands)
        await host.stop(grace=0)
        await service.delete_task_hub()
        await service.stop()

    run_host_loop(run())


# -- driver side -----------------------------------------------------------------------------
def ask(sidecar: SidecarProcess, command: str) -> Any:
    assert sidecar.proc.stdin is not None and sidecar.proc.stdout is not None
    sidecar.proc.stdin.write(command + "\n")
    sidecar.proc.stdin.flush()
    return json.loads(sidecar.proc.stdout.readline())


def split_counts(counts: dict[str, int]) -> tuple[Counter[str], Counter[str]]:
    """(work, background) of counted operations: background = empty polls (taken out of
    ``queue.receive``) and partition-lease calls, which depend on elapsed time, not on the
    work; the hub's admin calls are left out."""
    work: Counter[str] = Counter()
    background: Counter[str] = Counter()
    for kind, n in counts.items():
        if kind.startswith("empty-poll."):
            work["queue.receive"] -= n
            background[kind] += n
        elif kind.startswith("table.lease"):
            background[kind] += n
        elif not kind.endswith(".admin"):
            work[kind] += n
    return +work, background


def per_unit(ops: Counter[str], units: int) -> str:
    return ", ".join(f"{k} {v / units:.2f}" for k, v in sorted(ops.items()))


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def start_sample() -> tuple[str, dict[str, Any]]:
    """A real start message body and Pending row, as the provider writes them."""
    from datetime import datetime, timezone

    from google.protobuf import timestamp_pb2, wrappers_pb2

    from azure_durable_ext._proto import pb
    from azure_durable_ext.core.model import TaskMessage
    from azure_durable_ext.storage.azure.instance_codec import state_to_row
    from azure_durable_ext.storage.azure.instance_start import pending_state
    from azure_durable_ext.storage.azure.message_codec import MessageData, encode_message

    instance_id, execution_id = uuid.uuid4().hex, uuid.uuid4().hex
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    event = pb.HistoryEvent(
        eventId=-1,
        timestamp=stamp,
        executionStarted=pb.ExecutionStartedEvent(
            name="HelloOrchestration",
            version=wrappers_pb2.StringValue(value="1.2.0"),
            input=wrappers_pb2.StringValue(value='{"n": 1}'),
            orchestrationInstance=pb.OrchestrationInstance(
                instanceId=instance_id, executionId=wrappers_pb2.StringValue(value=execution_id)
            ),
        ),
    )
    message = TaskMessage(instance_id, execution_id, event)
    row = state_to_row(pending_state(message, datetime.now(timezone.utc)), "EffRaw")
    return encode_message(MessageData(message=message)), row


@contextlib.asynccontextmanager
async def raw_queue_and_table(connection_string: str) -> AsyncIterator[tuple[Any, Any]]:
    """A fresh queue and table of the raw baseline, on SDK clients built with the options
    the provider uses (same timeouts, retries, proxy lookup); deleted afterwards."""
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue.aio import QueueServiceClient

    from azure_durable_ext.storage.azure.connection import client_options

    name = "raw" + uuid.uuid4().hex[:12]
    async with QueueServiceClient.from_connection_string(connection_string, **client_options()) as queues, \
            TableServiceClient.from_connection_string(connection_string, **client_options()) as tables:
        queue = queues.get_queue_client(name)
        await queue.create_queue()
        table = await tables.create_table(name)
        try:
            yield queue, table
        finally:
            await queue.delete_queue()
            await tables.delete_table(name)


async def raw_starts(connection_string: str, count: int, warmup: int, callers: int) -> float:
    """Send + insert pairs/s issued directly with the async SDK by ``callers`` coroutines."""
    body, row = start_sample()
    async with raw_queue_and_table(connection_string) as (queue, table):

        async def caller(n: int) -> None:
            for _ in range(n):
                await queue.send_message(body, time_to_live=-1)
                await table.create_entity({**row, "PartitionKey": uuid.uuid4().hex})

        await asyncio.gather(*(caller(max(1, warmup // callers)) for _ in range(callers)))
        per_caller = count // callers
        began = time.perf_counter()
        await asyncio.gather(*(caller(per_caller) for _ in range(callers)))
        return per_caller * callers / (time.perf_counter() - began)


async def raw_dispatch_chain(connection_string: str, samples: int) -> list[float]:
    """ms of send + insert then one receive (the storage steps from a start to its first
    episode's messages), one at a time."""
    body, row = start_sample()
    out = []
    async with raw_queue_and_table(connection_string) as (queue, table):
        for _ in range(samples + 3):
            began = time.perf_counter()
            await queue.send_message(body, time_to_live=-1)
            await table.create_entity({**row, "PartitionKey": uuid.uuid4().hex})
            got = [m async for m in queue.receive_messages(messages_per_page=32, max_messages=32)]
            out.append((time.perf_counter() - began) * 1000)
            for m in got:
                await queue.delete_message(m)
    return out[3:]


async def async_client_starts(address: str, count: int, warmup: int, callers: int) -> float:
    """StartInstance calls/s from ``callers`` coroutines sharing one channel of our async
    GrpcDurableTaskClient (the raw baseline's shape: one process, one event loop)."""
    from azure_durable_ext import GrpcDurableTaskClient, TaskName

    name = TaskName("HelloOrchestration", "1.2.0")
    async with GrpcDurableTaskClient(address) as client:

        async def caller(n: int) -> None:
            for _ in range(n):
                await client.schedule_new_orchestration_instance(name, {"n": 1})

        await asyncio.gather(*(caller(max(1, warmup // callers)) for _ in range(callers)))
        per_caller = count // callers
        began = time.perf_counter()
        await asyncio.gather(*(caller(per_caller) for _ in range(callers)))
        return per_caller * callers / (time.perf_counter() - began)


def run_orchestrations(sidecar: SidecarProcess, count: int) -> tuple[dict[str, int], float]:
    """Start ``count`` hello sequences at once, wait for all; (operations by kind, seconds)."""
    from durabletask.client import OrchestrationStatus, TaskHubGrpcClient

    client = TaskHubGrpcClient(host_address=sidecar.address)
    try:
        warm = client.schedule_new_orchestration("hello_sequence")
        client.wait_for_orchestration_completion(warm, timeout=120)
        time.sleep(1.0)  # the warm-up's last deletes land before the count starts
        before = sidecar.counts()
        began = time.perf_counter()
        ids = [client.schedule_new_orchestration("hello_sequence") for _ in range(count)]
        with futures.ThreadPoolExecutor(8) as pool:
            states = list(pool.map(lambda i: client.wait_for_orchestration_completion(i, timeout=300), ids))
        elapsed = time.perf_counter() - began
        time.sleep(1.0)  # the last episode's message deletes follow its row write
        after = sidecar.counts()
    finally:
        client.close()
    bad = [s for s in states if s is None or s.runtime_status is not OrchestrationStatus.COMPLETED]
    if bad:
        raise RuntimeError(f"{len(bad)} orchestrations did not complete: {bad[:3]}")
    return delta(after, before), elapsed


def run_idle_latency(sidecar: SidecarProcess, samples: int, idle: float) -> tuple[list[float], list[float]]:
    """(start-to-first-dispatch ms, StartInstance call ms) of ``samples`` starts on an idle hub."""
    from durabletask.client import TaskHubGrpcClient

    client = TaskHubGrpcClient(host_address=sidecar.address)
    dispatch_ms: list[float] = []
    call_ms: list[float] = []
    try:
        for n in range(samples + 1):
            time.sleep(idle)
            instance_id = f"idle-{n}-{uuid.uuid4().hex[:6]}"
            began = time.clock_gettime(time.CLOCK_MONOTONIC)
            client.schedule_new_orchestration("first_dispatch", instance_id=instance_id)
            returned = time.clock_gettime(time.CLOCK_MONOTONIC)
            deadline = returned + 60
            while (at := ask(sidecar, f"dispatched {instance_id}")) is None:
                if time.clock_gettime(time.CLOCK_MONOTONIC) > deadline:
                    raise RuntimeError(f"{instance_id} was not dispatched within 60 s")
                time.sleep(0.002)
            if n:  # the first one also waits for partition leases and warms caches
                dispatch_ms.append((at - began) * 1000)
                call_ms.append((returned - began) * 1000)
    finally:
        client.close()
    return dispatch_ms, call_ms


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("starts", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--connection-string", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (a) and (b)")
    parser.add_argument("--count", type=int, default=800, help="measured starts per round in (a)")
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--orchestrations", type=int, default=ORCHESTRATIONS)
    parser.add_argument("--samples", type=int, default=30, help="idle starts measured in (c)")
    parser.add_argument("--idle", type=float, default=3.0, help="idle seconds before each start in (c)")
    parser.add_argument("--only", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"])
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.connection_string)
    logging.disable(logging.WARNING)  # the SDK logs every call at INFO

    from azure_durable_ext.storage.azure.azurite import AzuriteProcess

    script = os.path.abspath(__file__)
    with AzuriteProcess() as azurite:
        cs = azurite.connection_string
        ours_rates: list[float] = []
        async_rates: list[float] = []
        raw_rates: list[float] = []
        per_start: list[dict[str, int]] = []
        per_orch: list[tuple[dict[str, int], float]] = []
        for round_no in range(args.rounds):
            if "a" in args.only:
                with SidecarProcess(script, "starts", ["--connection-string", cs]) as sidecar:
                    # The raw rate brackets ours (before and after, averaged) so that load
                    # drifting on this shared machine hits both sides alike.
                    raw_before = asyncio.run(raw_starts(cs, args.count, args.warmup, START_CALLERS))
                    before = sidecar.counts()
                    rate, _ = run_starts(sidecar.address, START_CALLERS, args.count, args.warmup)
                    ours_rates.append(rate)
                    per_start.append(delta(sidecar.counts(), before))
                    async_rates.append(
                        asyncio.run(async_client_starts(sidecar.address, args.count, args.warmup, START_CALLERS))
                    )
                    raw_after = asyncio.run(raw_starts(cs, args.count, args.warmup, START_CALLERS))
                    raw_rates.append((raw_before + raw_after) / 2)
            if "b" in args.only:
                with SidecarProcess(script, "full", ["--connection-string", cs]) as sidecar:
                    per_orch.append(run_orchestrations(sidecar, args.orchestrations))
        latency: tuple[list[float], list[float]] | None = None
        chain: list[float] = []
        if "c" in args.only:
            with SidecarProcess(script, "full", ["--connection-string", cs]) as sidecar:
                latency = run_idle_latency(sidecar, args.samples, args.idle)
            chain = asyncio.run(raw_dispatch_chain(cs, args.samples))

    print(f"Azure Storage provider on Azurite (this machine: {os.cpu_count()} cores, shared); "
          f"{args.rounds} round(s)")
    if ours_rates:
        # run_starts: warm-up of max(1, warmup // callers) per caller, then count // callers each.
        started = START_CALLERS * (max(1, args.warmup // START_CALLERS) + args.count // START_CALLERS)
        report_starts(ours_rates, async_rates, raw_rates, per_start, started)
    if per_orch:
        report_orchestrations(per_orch, args.orchestrations)
    if latency is not None:
        report_latency(*latency, chain, args.idle)


def report_starts(
    ours: list[float], ours_async: list[float], raw: list[float], per_start: list[dict[str, int]], started: int
) -> None:
    ratios = [o / r for o, r in zip(ours, raw)]
    async_ratios = [o / r for o, r in zip(ours_async, raw)]
    print(f"\n(a) StartInstance/s, {START_CALLERS} concurrent callers, over gRPC to our sidecar (listener + Azure "
          f"provider, no dispatchers), against the raw SDK in the same round")
    print(f"    {'':<48}{'best':>7}{'median':>8}{'spread':>16}{'ratio/raw (median)':>20}")
    rows = (
        ("ours, official durabletask client, 16 threads", ours, ratios),
        ("ours, our async client, 16 coroutines", ours_async, async_ratios),
        ("raw SDK: send + insert, 16 coroutines (*)", raw, None),
    )
    for label, rates, paired in rows:
        ratio = f"{statistics.median(paired):.2f} ({spread(paired)})" if paired else ""
        print(f"    {label:<48}{max(rates):>7.0f}{statistics.median(rates):>8.0f}{spread(rates):>16}{ratio:>20}")
    print("    (*) per round, the mean of a raw run just before and one just after ours")
    for label, paired in (("official client", ratios), ("our async client", async_ratios)):
        verdict = "met" if statistics.median(paired) >= GOAL_START_RATIO else "NOT met"
        print(f"    per-round ratio, {label}: {', '.join(f'{r:.2f}' for r in paired)} "
              f"(goal >= {GOAL_START_RATIO} of raw: {verdict} on the median)")
    ops: Counter[str] = Counter()
    background: Counter[str] = Counter()
    for counts in per_start:
        work, idle = split_counts(counts)
        ops.update(work)
        background.update(idle)
    # Nothing consumes these starts: the pollers' receives buffer them, no episode follows.
    received = ops.pop("queue.receive", 0)
    n = started * len(per_start)
    dtfx = sum(k for _, k in DTFX_START)
    total = sum(ops.values()) / n
    print(f"\n(b) storage transactions per start: ours {total:.2f} ({per_unit(ops, n)})")
    print(f"    DurableTask.AzureStorage: {dtfx} = " + " + ".join(f"{what} {k}" for what, k in DTFX_START))
    print(f"    ratio ours/DTFx {total / dtfx:.2f} (goal: fewer); meanwhile in the background per start: "
          f"queue.receive {received / n:.3f} (pollers; none without dispatchers), {per_unit(background, n)}")


def report_orchestrations(runs: list[tuple[dict[str, int], float]], count: int) -> None:
    ops: Counter[str] = Counter()
    background: Counter[str] = Counter()
    for counts, _ in runs:
        work, idle = split_counts(counts)
        ops.update(work)
        background.update(idle)
    n = count * len(runs)
    total = sum(ops.values()) / n
    rates = [count / seconds for _, seconds in runs]
    start, episodes, activities, dtfx_total = dtfx_orchestration(3)
    print(f"\n(b) storage transactions per completed 3-activity orchestration ({count} started together, "
          f"in-process orchestrator; {len(runs)} run(s), {spread(rates)} orchestrations/s)")
    print(f"    ours:                     {total:6.2f}  ({per_unit(ops, n)})")
    print(f"    background (not counted): {sum(background.values()) / n:6.2f}  ({per_unit(background, n)})")
    print(f"    DurableTask.AzureStorage: {dtfx_total:6d}  = start {start} + 4 episodes x "
          f"{sum(k for _, k in DTFX_EPISODE)} ({', '.join(w for w, _ in DTFX_EPISODE)}) = {episodes}"
          f" + 3 activities x {sum(k for _, k in DTFX_ACTIVITY)} ({', '.join(w for w, _ in DTFX_ACTIVITY)})"
          f" = {activities}; its empty polls and leases not counted either")
    print(f"    ratio ours/DTFx {total / dtfx_total:.2f} (goal: fewer); ours' table.get are the driving client's "
          f"WaitForInstanceCompletion reads (a first read, one more when the completion wakes it)")


def report_latency(dispatch: list[float], call: list[float], chain: list[float], idle: float) -> None:
    p50, p99 = statistics.median(dispatch), pct(dispatch, 99)
    raw50, raw99 = statistics.median(chain), pct(chain, 99)
    verdict = "met" if p50 <= GOAL_P50_MS else "NOT met"
    print(f"\n(c) idle start-to-first-dispatch, {len(dispatch)} starts, each after {idle:.0f} s idle "
          f"(maxQueuePollingInterval 30 s)")
    print(f"    {'':<40}{'p50 ms':>8}{'p99 ms':>8}{'min':>7}{'max':>7}")
    print(f"    {'ours: StartInstance -> orchestrator runs':<40}{p50:>8.1f}{p99:>8.1f}{min(dispatch):>7.1f}{max(dispatch):>7.1f}")
    print(f"    {'  of which the StartInstance call':<40}{statistics.median(call):>8.1f}{pct(call, 99):>8.1f}"
          f"{min(call):>7.1f}{max(call):>7.1f}")
    print(f"    {'raw SDK: send + insert, then receive':<40}{raw50:>8.1f}{raw99:>8.1f}{min(chain):>7.1f}{max(chain):>7.1f}")
    print(f"    ratio ours/raw p50 {p50 / raw50:.2f}; goal p50 <= {GOAL_P50_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
