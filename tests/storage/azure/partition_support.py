"""Shared helpers of the partition lease tests: fast lease timings, an ownership monitor and
a reader of the ``{Hub}Partitions`` table."""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from azure.data.tables.aio import TableClient

from azure_durable_ext.core.options import PartitionLeaseOptions
from azure_durable_ext.storage.azure.partition_leases import PartitionLease
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

#: Short timings so hand-overs and expiries happen within seconds.
FAST_LEASES = PartitionLeaseOptions(
    acquire_interval=0.3,
    renew_interval=0.8,
    lease_interval=3.0,
    claim_interval=3.0,
    busy_interval=0.1,
    operation_timeout=1.0,
    drain_timeout=5.0,
)


async def start_running(service: AzureStorageOrchestrationService) -> None:
    """Start ``service`` as a process that runs orchestrations does: started, then asking for
    orchestration work once (a dispatcher's first request), which has it claim partitions."""
    await service.start()
    assert await service.lock_next_orchestration(0.0) is None


def polled(service: AzureStorageOrchestrationService) -> frozenset[int]:
    """Partitions a started service may hand out work from: its owned set (once its
    partition manager runs; before, the default is every partition) plus any poller alive."""
    owned = service.owned_partitions if service.partition_manager is not None else frozenset()
    return owned | frozenset(service._pollers)


@dataclass
class OwnershipMonitor:
    """Samples the live workers every few milliseconds and records any partition polled by
    two of them at once (the invariant every step must keep)."""

    workers: dict[str, Callable[[], frozenset[int]]]
    violations: list[str] = field(default_factory=list)
    samples: int = 0

    @classmethod
    def of_services(cls, services: dict[str, AzureStorageOrchestrationService]) -> "OwnershipMonitor":
        return cls({name: (lambda s=s: polled(s)) for name, s in services.items()})

    def check(self) -> None:
        self.samples += 1
        for (a, pa), (b, pb) in itertools.combinations(self.workers.items(), 2):
            both = pa() & pb()
            if both:
                self.violations.append(f"partitions {sorted(both)} polled by {a} and {b}")

    async def run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(0.005)


async def read_leases(table: TableClient) -> dict[str, PartitionLease]:
    return {
        e["RowKey"]: PartitionLease.from_entity(e, e.metadata.get("etag")) async for e in table.list_entities()
    }


async def eventually(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline (correctness, not speed)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def split(services: Iterable[AzureStorageOrchestrationService]) -> list[int]:
    return sorted(len(s.owned_partitions) for s in services)
