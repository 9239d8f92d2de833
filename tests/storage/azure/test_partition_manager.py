"""Table partition manager on Azurite: 2-3 services sharing one task hub in this process.

An ``OwnershipMonitor`` samples every service's polled partitions throughout each test: no
partition may ever be polled by two live services at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from datetime import datetime, timezone

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables.aio import TableClient
from azurite_fixture import make_azure_service, unique_hub_name
from partition_support import FAST_LEASES, OwnershipMonitor, eventually, polled, read_leases, split, start_running

from azure_durable_ext.core.options import PartitionLeaseOptions
from azure_durable_ext.core.status import RUNNING_STATES
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import development_connection_string
from azure_durable_ext.storage.azure.partition_leases import LeaseChange, plan_round
from azure_durable_ext.storage.azure.partition_manager import TablePartitionManager
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import start_message  # noqa: E402

ALL = frozenset(range(4))


@contextlib.asynccontextmanager
async def shared_hub(
    azurite: AzuriteProcess, names: list[str], leases: PartitionLeaseOptions = FAST_LEASES
) -> AsyncIterator[
    tuple[dict[str, AzureStorageOrchestrationService], OwnershipMonitor]
]:
    """Services (not started) on one new hub, a running ownership monitor; all stopped after."""
    hub = unique_hub_name("P")
    services = {n: make_azure_service(azurite, hub_name=hub, partition_leases=leases) for n in names}
    monitor = OwnershipMonitor.of_services(services)
    watcher = asyncio.get_running_loop().create_task(monitor.run())
    try:
        yield services, monitor
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for service in services.values():
            await service.stop()
        cleanup = make_azure_service(azurite, hub_name=hub)
        try:
            await cleanup.delete_task_hub()
        finally:
            await cleanup.stop()


def _table(service: AzureStorageOrchestrationService) -> TableClient:
    return service._hub.resources.partitions


def _owner(service: AzureStorageOrchestrationService) -> str:
    assert service.partition_manager is not None
    return service.partition_manager.worker_id


async def test_two_services_split_four_partitions_keep_them_and_hand_over_on_stop(azurite: AzuriteProcess) -> None:
    async with shared_hub(azurite, ["a", "b"]) as (services, monitor):
        a, b = services["a"], services["b"]
        await a.start()
        assert a.owned_partitions == frozenset() and await read_leases(_table(a)) == {}, "nothing asked for work yet"
        assert await a.lock_next_orchestration(0.0) is None

        async def a_owns_all() -> bool:
            return a.owned_partitions == ALL

        await eventually("a lone worker claiming every partition once it asks for work", a_owns_all)
        await start_running(b)

        async def split_two_two() -> bool:
            return split([a, b]) == [2, 2] and a.owned_partitions | b.owned_partitions == ALL

        await eventually("a 2/2 split", split_two_two)
        rows = await read_leases(_table(a))
        assert sorted(rows) == [f"{a.names.hub.lower()}-control-0{i}" for i in range(4)]
        for i, name in enumerate(a.names.control_queues):
            expected = _owner(a) if i in a.owned_partitions else _owner(b)
            row = rows[name]
            assert (row.current_owner, row.next_owner, row.is_draining) == (expected, None, False)

        # Renewal keeps them: wait until every lease has been renewed past the expiry it
        # had at the split (without renewals they would have expired by then).
        first_expiry = {name: row.expires_at for name, row in rows.items()}
        owners_at_split = (a.owned_partitions, b.owned_partitions)

        async def renewed_past_first_expiry() -> bool:
            now = await read_leases(_table(a))
            return all(r.last_renewal is not None and r.last_renewal > first_expiry[n] for n, r in now.items())

        await eventually("every lease renewed beyond its first expiry", renewed_past_first_expiry)
        assert (a.owned_partitions, b.owned_partitions) == owners_at_split
        later = await read_leases(_table(a))
        assert {n: r.current_owner for n, r in later.items()} == {n: r.current_owner for n, r in rows.items()}

        # A graceful stop releases at once: when stop returns, no row names a any more.
        a_id = _owner(a)
        await a.stop()
        del monitor.workers["a"]
        released = await read_leases(_table(b))
        assert all(r.current_owner != a_id for r in released.values()), released

        async def b_owns_all() -> bool:
            return b.owned_partitions == ALL

        await eventually("b owning every partition after a stopped", b_owns_all)
        taken = await read_leases(_table(b))
        assert all(r.current_owner == _owner(b) and r.next_owner is None for r in taken.values())
        monitor.check()
    assert monitor.violations == [] and monitor.samples > 0


async def test_three_services_balance_and_a_silent_one_is_taken_over_after_expiry(azurite: AzuriteProcess) -> None:
    async with shared_hub(azurite, ["a", "b", "c"]) as (services, monitor):
        a, b, c = services.values()
        await asyncio.gather(start_running(a), start_running(b), start_running(c))

        async def balanced() -> bool:
            return split([a, b, c]) == [1, 1, 2] and a.owned_partitions | b.owned_partitions | c.owned_partitions == ALL

        await eventually("a 2/1/1 split", balanced)
        c_partitions = c.owned_partitions
        c_id = _owner(c)
        before = await read_leases(_table(a))
        c_expiry = max(r.expires_at for r in before.values() if r.current_owner == c_id and r.expires_at)

        # c stays alive but its table calls go nowhere: it cannot renew. It must stop polling
        # on its own before its leases expire, and a and b claim them after the expiry.
        assert c.partition_manager is not None
        c.partition_manager._table = TableClient.from_connection_string(
            development_connection_string(ports={"blob": 1, "queue": 1, "table": _closed_port()}),
            c.names.partitions_table,
        )

        async def c_silent_and_others_own_all() -> bool:
            return not c.owned_partitions and a.owned_partitions | b.owned_partitions == ALL

        cut_off = c.partition_manager
        try:
            await eventually("a and b owning c's partitions", c_silent_and_others_own_all)
            after = await read_leases(_table(a))
            for i in c_partitions:
                row = after[a.names.control_queue(i)]
                assert row.current_owner in (_owner(a), _owner(b))
                assert row.owned_since is not None and row.owned_since >= c_expiry, "taken only after expiry"

            async def balanced_again() -> bool:
                return split([a, b]) == [2, 2]

            await eventually("a 2/2 split between the two left", balanced_again)
        finally:
            await cut_off.halt()
            await cut_off._table.close()
    assert monitor.violations == [] and monitor.samples > 0


async def test_two_workers_claiming_the_same_rows_from_the_same_read_have_one_winner_each(
    azurite: AzuriteProcess,
) -> None:
    async with shared_hub(azurite, ["a", "b"]) as (services, monitor):
        a, b = services["a"], services["b"]
        await a.create_task_hub()
        managers = [
            TablePartitionManager(_table(s), s.names.control_queues, s, FAST_LEASES, worker_id=name)
            for name, s in services.items()
        ]
        monitor.workers = {m.worker_id: (lambda m=m: m.owned) for m in managers}
        for fresh in (True, False):
            rows = await managers[0].read_leases()
            now = datetime.now(timezone.utc)
            if not fresh:
                # At the leases' expiry both workers, from the same read, claim all four again.
                now = max(r.expires_at for r in rows if r.expires_at)
            plans = [plan_round(rows, m.worker_id, now, FAST_LEASES) for m in managers]
            assert all([w.change for w in p.writes] == [LeaseChange.CLAIM] * 4 for p in plans)
            results = await asyncio.gather(
                *(m.write_lease(w) for m, p in zip(managers, plans) for w in p.writes), return_exceptions=True
            )
            for row_index in range(4):
                outcome = [results[row_index], results[4 + row_index]]
                wins = [r for r in outcome if isinstance(r, str)]
                losses = [r for r in outcome if isinstance(r, (ResourceExistsError, ResourceModifiedError))]
                assert (len(wins), len(losses)) == (1, 1), outcome
            stored = await managers[0].read_leases()
            assert {r.current_owner for r in stored} <= {"a", "b"}
        for m in managers:
            await m.run_round()
        assert not (managers[0].owned & managers[1].owned)
        assert managers[0].owned | managers[1].owned == ALL
        monitor.check()
        for m in managers:
            await m.stop()
    assert monitor.violations == []


async def test_a_stolen_partition_is_drained_before_release_and_its_work_moves(azurite: AzuriteProcess) -> None:
    patient = dataclasses.replace(FAST_LEASES, drain_timeout=60.0)
    async with shared_hub(azurite, ["a", "b"], patient) as (services, monitor):
        a, b = services["a"], services["b"]
        await a.start()
        first = [f"moving{i}" for i in range(40) if a.names.partition_of(f"moving{i}") == 0][:3]
        for iid in first:
            await a.create_instance(start_message(iid), RUNNING_STATES)
        held = await a.lock_next_orchestration(5.0)
        assert held is not None and a.names.partition_of(held.instance_id) == 0
        others = [f"other{i}" for i in range(12)]
        for iid in others:
            await a.create_instance(start_message(iid), RUNNING_STATES)
        await start_running(b)  # steals the first two partitions of a: control-00 and control-01
        row0 = a.names.control_queue(0)

        async def partition_1_moved_and_0_waits_for_the_lock() -> bool:
            rows = await read_leases(_table(a))
            return b.owned_partitions == {1} and rows[row0].is_draining

        await eventually("control-01 handed over, control-00 draining", partition_1_moved_and_0_waits_for_the_lock)
        rows = await read_leases(_table(a))
        assert (rows[row0].current_owner, rows[row0].next_owner) == (_owner(a), _owner(b)), "kept while locked"
        assert 0 not in polled(a) and 0 not in polled(b)
        await a.abandon_orchestration(held)

        async def split_done() -> bool:
            return a.owned_partitions == {2, 3} and b.owned_partitions == {0, 1}

        await eventually("the 2/2 split once the episode ended", split_done)
        seen: set[str] = set()
        for service in (a, b):
            while (item := await service.lock_next_orchestration(1.0)) is not None:
                assert service.names.partition_of(item.instance_id) in service.owned_partitions
                seen.add(item.instance_id)
                await service.abandon_orchestration(item, delay=60)
        assert seen == set(first) | set(others), "every buffered start reached its partition's owner"
    assert monitor.violations == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_without_table_partition_management_one_service_polls_everything(
    azurite: AzuriteProcess, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_azure_service(azurite, use_table_partition_management=False)
    try:
        with caplog.at_level(logging.INFO, logger="azure_durable_ext.storage.azure.service"):
            await service.start()
        assert "useTablePartitionManagement is false: this process polls all 4 partitions" in caplog.text
        assert service.partition_manager is None
        assert service.owned_partitions == ALL and set(service._pollers) == ALL
        assert await read_leases(_table(service)) == {}, "no lease rows are written"
    finally:
        try:
            await service.delete_task_hub()
        finally:
            await service.stop()


@pytest.mark.timeout(60)
async def test_a_stop_with_storage_gone_gives_up_by_its_deadline_logging_one_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    own = AzuriteProcess()  # this test stops its storage: not the session's Azurite
    own.start()
    service = make_azure_service(own, partition_leases=FAST_LEASES, partition_count=2)
    try:
        await service.create_task_hub()
        await start_running(service)
        async def owns_both() -> bool:
            return service.owned_partitions == frozenset({0, 1})

        await eventually("the service owns both partitions", owns_both)
    finally:
        own.stop()
    caplog.set_level(logging.INFO, logger="azure_durable_ext.storage.azure.partition_manager")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await service.stop()
    deadline = FAST_LEASES.drain_timeout + 4 * FAST_LEASES.operation_timeout
    assert loop.time() - began < deadline + 10, "stop gives up once its deadline passed"
    failures = [r for r in caplog.records if "releasing partition leases failed" in r.getMessage()]
    assert len(failures) >= 2, "it retried"
    assert [r.exc_info is not None for r in failures] == [True] + [False] * (len(failures) - 1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("expire" in m and "by themselves" in m for m in messages), "says the leases were left to expire"
    assert not any("released every partition lease" in m for m in messages)
