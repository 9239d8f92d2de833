"""The storage-bound ceiling of a scenario on Azure Storage (Azurite here), and the
DurableTask.AzureStorage operation counts to compare ours with.

``probe_rates`` measures, in the same run as the scenarios, how many operations per second
of each kind one Python process gets from the storage account with the Azure SDK (its CPU
included, as the sidecar pays it): queue send / receive / delete / update, table batch /
upsert / query. ``ceiling`` turns a scenario's operations per unit (by kind, as the sidecar
counted them) into the units/s the storage alone would allow if every operation ran at
that measured rate: 1 / sum(ops of kind k per unit / rate of k).
"""
from __future__ import annotations

import asyncio
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

PROBE_SECONDS = 1.0
PROBE_CONCURRENCY = 16
#: Entities per probed table batch: a typical episode's history rows + sentinel.
PROBE_BATCH_SIZE = 4

#: Counted kinds that were not probed, measured as the probed kind closest in cost.
_NEAREST = {
    "table.insert": "table.upsert",
    "table.replace": "table.upsert",
    "table.delete": "table.upsert",
    "table.lease-insert": "table.upsert",
    "table.lease-write": "table.upsert",
    "table.lease-read": "table.query",
    "table.get": "table.query",
    "blob.upload": "queue.send",
    "blob.download": "queue.receive",
    "blob.delete": "queue.delete",
    "blob.list": "table.query",
}


async def _run_for(seconds: float, concurrency: int, op: Callable[[int], Awaitable[bool | None]]) -> float:
    """Operations/s of ``op`` run by ``concurrency`` coroutines for ``seconds`` (a coroutine
    stops early when ``op`` answers False: nothing left to do, not counted)."""
    done = 0
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            if await op(next(counter)) is False:
                return
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.perf_counter() - began)


async def _probe(connection_string: str, seconds: float, concurrency: int) -> dict[str, float]:
    from azure.data.tables.aio import TableServiceClient
    from azure.storage.queue.aio import QueueServiceClient

    # The sidecar's own batch codec, as its checkpoints pay for it.
    from azure_durable_ext.storage.azure.table_batch import submit_batch

    name = "probe" + uuid.uuid4().hex[:12]
    rates: dict[str, float] = {}
    async with QueueServiceClient.from_connection_string(connection_string) as queues, \
            TableServiceClient.from_connection_string(connection_string) as tables:
        queue = queues.get_queue_client(name)
        await queue.create_queue()
        table = await tables.create_table(name)
        try:
            rates["queue.send"] = await _run_for(seconds, concurrency, lambda i: queue.send_message(f'{{"n": {i}}}'))
            received: list = []

            async def receive(_: int) -> None:
                # One round trip, as the provider receives (messages_per_page = max_messages).
                async for message in queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=300):
                    received.append(message)

            rates["queue.receive"] = await _run_for(seconds / 2, 4, receive)
            updates = iter(range(len(received)))

            async def update(_: int) -> bool:
                index = next(updates, None)
                if index is None:
                    return False
                received[index] = await queue.update_message(received[index], visibility_timeout=300)
                return True

            rates["queue.update"] = await _run_for(seconds / 2, concurrency, update)
            deletes = iter(list(received))

            async def delete(_: int) -> bool:
                message = next(deletes, None)
                if message is None:
                    return False
                await queue.delete_message(message)
                return True

            rates["queue.delete"] = await _run_for(seconds, concurrency, delete)

            async def upsert(i: int) -> None:
                await table.upsert_entity({"PartitionKey": f"p{i % 64}", "RowKey": "", "Status": "Running", "N": i})

            rates["table.upsert"] = await _run_for(seconds, concurrency, upsert)

            async def batch(i: int) -> None:
                await submit_batch(table, [
                    ("upsert", {"PartitionKey": f"b{i}", "RowKey": f"{row:016X}", "EventType": "TaskCompleted", "N": i})
                    for row in range(PROBE_BATCH_SIZE)
                ])

            rates["table.batch"] = await _run_for(seconds, concurrency, batch)

            async def query(i: int) -> None:
                async for _ in table.query_entities("PartitionKey eq @pk", parameters={"pk": f"b{i % 64}"}):
                    pass

            rates["table.query"] = await _run_for(seconds, concurrency, query)
        finally:
            await queue.delete_queue()
            await tables.delete_table(name)
    return rates


def probe_rates(connection_string: str, *, seconds: float = PROBE_SECONDS, concurrency: int = PROBE_CONCURRENCY) -> dict[str, float]:
    """Operations/s by kind (``queue.send``...) one process gets from the account now."""
    return asyncio.run(_probe(connection_string, seconds, concurrency))


def rate_of(kind: str, rates: Mapping[str, float]) -> float:
    """The measured rate for a counted kind (its nearest probed kind, else the median)."""
    if kind in rates:
        return rates[kind]
    nearest = _NEAREST.get(kind)
    return rates[nearest] if nearest in rates else statistics.median(rates.values())


def ceiling(ops_per_unit: Mapping[str, float], rates: Mapping[str, float]) -> float:
    """Units/s the storage allows for this mix of operations per unit."""
    seconds = sum(n / rate_of(kind, rates) for kind, n in ops_per_unit.items() if n > 0)
    return 1.0 / seconds if seconds > 0 else float("inf")


def mix_rate(ops_per_unit: Mapping[str, float], rates: Mapping[str, float]) -> float:
    """The raw operation rate of this mix: operations/s at the ceiling."""
    return sum(ops_per_unit.values()) * ceiling(ops_per_unit, rates)


# -- the DurableTask.AzureStorage flow, counted ---------------------------------------------------
#
# Per activity: send to the work-item queue, receive it, delete it, send the result to the
# control queue, delete the result message there (5). Per orchestrator episode: receive the
# control-queue batch, read the history, write the history batch (with the sentinel), update
# the instance row (4). Per start: insert the instance row, send ExecutionStarted, delete it
# after its episode (3). Per external event: send it and delete it (2). Episodes: one per
# result in a sequence; a fan-in takes results in batches of up to 32 (the control queue's
# receive size), the most favourable case for that flow; each event raised at an idle
# orchestration is its own episode.
DTFX_PER_ACTIVITY = 5
DTFX_PER_EPISODE = 4
DTFX_PER_START = 3
DTFX_PER_EVENT = 2


def dtfx_ops(activities: int, episodes: int, starts: int, events: int = 0) -> int:
    return (
        activities * DTFX_PER_ACTIVITY + episodes * DTFX_PER_EPISODE + starts * DTFX_PER_START + events * DTFX_PER_EVENT
    )
