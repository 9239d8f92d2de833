"""Client CPU of a checkpoint's history batch: table_batch.submit_batch vs the SDK's
TableClient.submit_transaction, on Azurite (own process, free ports), same script, alternating.

Each unit is two TrackingStore-shaped batches on a new partition: create the sentinel with
one history row, then MERGE the sentinel with its ETag plus two history rows (REPLACE).
Prints process CPU per batch for each side and the ratio ours/SDK per round.
"""
from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options
from azure_durable_ext.storage.azure.table_batch import submit_batch

UNITS = 150
ROUNDS = 3
Send = Callable[[list[tuple[Any, ...]]], Awaitable[list[Any]]]


async def cpu_per_batch(send: Send) -> float:
    row = {"Name": "x" * 50, "Input": "y" * 200, "EventType": "TaskCompleted", "EventId": 3}
    replace = {"mode": UpdateMode.REPLACE}
    start = time.process_time()
    for _ in range(UNITS):
        pk = uuid.uuid4().hex
        sentinel = {"PartitionKey": pk, "RowKey": "sentinel", "IsCheckpointComplete": True,
                    "CheckpointCompletedTimestamp": datetime.now(timezone.utc)}
        first = await send([("create", sentinel), ("upsert", {**row, "PartitionKey": pk, "RowKey": f"{0:016X}"}, replace)])
        guard = {"mode": UpdateMode.MERGE, "etag": first[0]["etag"], "match_condition": MatchConditions.IfNotModified}
        await send([("update", sentinel, guard),
                    *[("upsert", {**row, "PartitionKey": pk, "RowKey": f"{j:016X}"}, replace) for j in (1, 2)]])
    return 1000 * (time.process_time() - start) / (2 * UNITS)


async def main() -> None:
    azurite = AzuriteProcess().start()
    try:
        async with TableServiceClient.from_connection_string(azurite.connection_string, **client_options()) as svc:
            name = "bench" + uuid.uuid4().hex[:10]
            table: TableClient = await svc.create_table(name)

            async def sdk(ops: list[tuple[Any, ...]]) -> list[Any]:
                return await table.submit_transaction(ops)

            async def ours(ops: list[tuple[Any, ...]]) -> list[Any]:
                return await submit_batch(table, ops)

            ratios = []
            for round_ in range(ROUNDS):
                order = [("sdk", sdk), ("ours", ours)] if round_ % 2 == 0 else [("ours", ours), ("sdk", sdk)]
                ms = {label: await cpu_per_batch(send) for label, send in order}
                ratios.append(ms["ours"] / ms["sdk"])
                print(f"round {round_ + 1}: SDK {ms['sdk']:.2f} ms CPU/batch, ours {ms['ours']:.2f}, ratio {ratios[-1]:.2f}")
            print(f"median ratio ours/SDK: {statistics.median(ratios):.2f}")
            await svc.delete_table(name)
            await table.close()
    finally:
        azurite.stop()


if __name__ == "__main__":
    logging.disable(logging.INFO)
    asyncio.run(main())
