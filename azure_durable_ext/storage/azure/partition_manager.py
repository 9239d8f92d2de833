"""The table partition manager: reads ``{Hub}Partitions``, applies ``partition_leases``'
decisions with ETag-conditional writes, and tells the service which control queues to poll.

It reads the table every ``acquire_interval`` (``busy_interval`` while a hand-over is under
way, at once after a lost ETag race). A partition leaves the polled set before its drain
starts, and its lease is released only after the drain (buffered messages put back, locked
episodes finished) is done. ``stop`` drains and releases every lease, so a stopping host
hands its partitions over at once; ``halt`` stops without a word (a crash, or a hub being
deleted), and the leases then expire.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.errors import StorageUnavailableError
from ...core.options import PartitionLeaseOptions
from ...core.tasks import cancel_and_wait
from .operations import StorageOperationCounter, brief_error, unavailable_as
from .partition_leases import (
    LeaseChange,
    LeaseRound,
    LeaseWrite,
    PartitionLease,
    held_partitions,
    plan_round,
    polled_partitions,
)

log = logging.getLogger(__name__)

#: After this many failed rounds in a row, retries wait the normal interval (fewer logs).
MAX_QUICK_RETRIES = 10


class PartitionOwner(Protocol):
    """What the manager drives: the service polling the control queues."""

    async def set_owned_partitions(self, partitions: frozenset[int]) -> None: ...

    async def drain_partition(self, partition: int) -> None: ...


def new_worker_id() -> str:
    """Unique per process (and per manager): host name, process id, random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class TablePartitionManager:
    """Claims, renews, balances, drains and releases partition leases for one worker."""

    def __init__(
        self,
        table: TableClient,
        control_queues: Sequence[str],
        owner: PartitionOwner,
        options: PartitionLeaseOptions,
        *,
        clock: Clock = SYSTEM_CLOCK,
        counter: StorageOperationCounter | None = None,
        worker_id: str | None = None,
        setting_name: str = "AzureWebJobsStorage",
    ) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.options = options
        self._table = table
        self._index = {name: i for i, name in enumerate(control_queues)}
        self._owner = owner
        self._clock = clock
        self._ops = counter or StorageOperationCounter()
        self._setting_name = setting_name
        self._rows: dict[str, PartitionLease] = {}
        self._polled: frozenset[str] = frozenset()
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def owned(self) -> frozenset[int]:
        """The partitions this worker polls now."""
        return frozenset(self._index[p] for p in self._polled)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """One round at once (so a lone host owns its partitions when ``start`` returns),
        then the background loop."""
        with unavailable_as(self._setting_name, "claiming partitions in the Partitions table"):
            try:
                await self.run_round()
            except asyncio.TimeoutError as exc:
                raise StorageUnavailableError(
                    f"{self._setting_name}: the Partitions table did not answer within "
                    f"{self.options.operation_timeout} s"
                ) from exc
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"partition manager {self.worker_id}")

    def start_when(self, asked: asyncio.Event) -> None:
        """Claim nothing until ``asked`` is set, then start as ``start`` does, in the
        background (a failing first round is logged and retried every ``acquire_interval``).
        The service passes the event its first request for orchestration work sets, so a
        process that never runs orchestrations leaves the partitions to those that do."""
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._start_when(asked), name=f"partition manager {self.worker_id}"
        )

    async def _start_when(self, asked: asyncio.Event) -> None:
        if not await self._first(asked):
            return
        log.info("worker %s: orchestration work was asked for; claiming partitions", self.worker_id)
        while True:
            try:
                with unavailable_as(self._setting_name, "claiming partitions in the Partitions table"):
                    await self.run_round()
                break
            except Exception as exc:
                _log_failed_round(self.worker_id, "first partition lease round failed", exc)
                if not await self._first(None, timeout=self.options.acquire_interval):
                    return
        log.info("worker %s owns partitions %s", self.worker_id, sorted(self.owned))
        await self._loop()

    async def _first(self, asked: asyncio.Event | None, timeout: float | None = None) -> bool:
        """Wait for ``asked`` (or ``timeout``); False when stopping came first."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if asked is not None:
            waits.append(asyncio.ensure_future(asked.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                await cancel_and_wait(waiting)
        return not self._stopping.is_set()

    async def stop(self) -> None:
        """Stop claiming, drain every owned partition and release its lease (hand-over)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await task
        if not self._rows:
            return  # never read the table (nothing asked for work): nothing to hand over
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.drain_timeout + 4 * self.options.operation_timeout
        failures = 0
        try:
            while True:
                failed = False
                try:
                    await self.run_round(shutting_down=True)
                except Exception as exc:
                    failed = True
                    # The first failure with its traceback; the retries (every busy_interval
                    # until the deadline) in one line each.
                    if failures == 0:
                        log.exception("worker %s: releasing partition leases failed; retrying", self.worker_id)
                    else:
                        log.warning("worker %s: releasing partition leases failed again (%s); retrying",
                                    self.worker_id, brief_error(exc))
                    failures += 1
                if not held_partitions(self._rows.values(), self.worker_id, self._clock.now()):
                    if failed:
                        log.warning("worker %s: partition leases not released (storage unreachable); they "
                                    "expired by themselves", self.worker_id)
                    else:
                        log.info("worker %s: released every partition lease", self.worker_id)
                    return
                if loop.time() >= deadline:
                    log.warning(
                        "worker %s: leases of %s not released in time; they expire by themselves",
                        self.worker_id, sorted(held_partitions(self._rows.values(), self.worker_id, self._clock.now())),
                    )
                    return
                await self._wait_for_drains(self.options.busy_interval)
        finally:
            await self._cancel_drains()
            await self._poll(frozenset())

    async def halt(self) -> None:
        """Stop at once without releasing anything (leases expire; messages come back)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        await self._cancel_drains()
        self._polled = frozenset()

    # -- one round ---------------------------------------------------------------------
    async def run_round(self, *, shutting_down: bool = False) -> tuple[LeaseRound, int]:
        """Read the table, decide, write; returns the decisions and how many writes lost
        an ETag race (the loop reads again at once then)."""
        await self._apply(self._rows.values(), frozenset())  # fence first: the read may be slow
        try:
            rows = await self.read_leases()
        except Exception:
            await self._apply(self._rows.values(), frozenset())  # still stop polling expired leases
            raise
        decided = plan_round(
            rows,
            self.worker_id,
            self._clock.now(),
            self.options,
            drained=frozenset(p for p, t in self._drains.items() if t.done()),
            shutting_down=shutting_down,
        )
        after = {r.partition: r for r in rows}
        results = await asyncio.gather(*(self.write_lease(w) for w in decided.writes), return_exceptions=True)
        conflicts = 0
        for write, result in zip(decided.writes, results):
            if isinstance(result, (ResourceModifiedError, ResourceExistsError)):
                conflicts += 1
                log.info("worker %s: %s of %s lost an ETag race", self.worker_id, write.change.value, write.before.partition)
            elif isinstance(result, Exception):
                log.warning("worker %s: %s of %s failed: %s", self.worker_id, write.change.value, write.before.partition, result)
                conflicts += 1
            elif isinstance(result, BaseException):
                raise result
            else:
                after[write.after.partition] = replace(write.after, etag=result)
                _log_change(self.worker_id, write)
        self._rows = after
        await self._apply(after.values(), decided.to_drain)
        return decided, conflicts

    async def read_leases(self) -> list[PartitionLease]:
        """Every control queue's row (a missing row as an unstored, empty lease)."""
        async def read_all() -> list[PartitionLease]:
            return [
                PartitionLease.from_entity(e, e.metadata.get("etag"))
                async for e in self._table.list_entities()
            ]

        self._ops.count("table", "lease-read")
        stored = {r.partition: r for r in await asyncio.wait_for(read_all(), self.options.operation_timeout)}
        # A row missing (new hub, or more partitions than before) is claimed by inserting it.
        return [stored.get(name, PartitionLease(name)) for name in self._index]

    async def write_lease(self, write: LeaseWrite) -> str | None:
        """Apply one decision, conditional on the ETag it was decided from; the new ETag."""
        entity = write.after.to_entity()
        if write.before.etag is None:
            self._ops.count("table", "lease-insert")
            call = self._table.create_entity(entity)
        else:
            self._ops.count("table", "lease-write")
            call = self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=write.before.etag, match_condition=MatchConditions.IfNotModified
            )
        meta = await asyncio.wait_for(call, self.options.operation_timeout)
        return meta.get("etag") if meta else None

    async def _apply(self, rows: Iterable[PartitionLease], to_drain: frozenset[str]) -> None:
        """Poll exactly the partitions the rows allow; drain the ones this worker gave up."""
        polled = polled_partitions(rows, self.worker_id, self._clock.now(), margin=self._fence_margin)
        given_up = self._polled - polled
        await self._poll(polled)
        for partition in polled & self._drains.keys():
            await cancel_and_wait(self._drains.pop(partition))  # polled again (a steal was withdrawn)
        for partition in (to_drain | given_up) - polled:
            if partition not in self._drains:
                self._drains[partition] = asyncio.get_running_loop().create_task(
                    self._drain(partition), name=f"drain {partition}"
                )
        for partition, task in list(self._drains.items()):
            row = self._rows.get(partition)
            if task.done() and (row is None or row.current_owner != self.worker_id):
                del self._drains[partition]  # handed over or lost: nothing left to release

    async def _poll(self, polled: frozenset[str]) -> None:
        if polled == self._polled:
            return
        if polled - self._polled:
            log.info("worker %s: now polling %s", self.worker_id, sorted(polled - self._polled))
        if self._polled - polled:
            log.info("worker %s: stopped polling %s", self.worker_id, sorted(self._polled - polled))
        self._polled = polled
        await self._owner.set_owned_partitions(self.owned)

    @property
    def _fence_margin(self) -> float:
        # A worker that cannot renew stops polling this long before its lease expires, so it
        # is quiet before any other worker (same clock) may claim the partition.
        return self.options.operation_timeout

    def _seconds_to_fence(self) -> float:
        """Seconds until the first polled lease must be given up unless renewed."""
        now = self._clock.now()
        expiries = [self._rows[p].expires_at for p in self._polled if p in self._rows]
        remaining = [(e - now).total_seconds() - self._fence_margin for e in expiries if e is not None]
        return max(0.0, min(remaining, default=float("inf")))

    async def _drain(self, partition: str) -> None:
        try:
            await asyncio.wait_for(self._owner.drain_partition(self._index[partition]), self.options.drain_timeout)
        except asyncio.TimeoutError:
            log.warning(
                "worker %s: %s still had locked episodes after %s s; releasing it anyway (their "
                "checkpoints will lose the ETag race and be retried by the next owner)",
                self.worker_id, partition, self.options.drain_timeout,
            )
        except Exception:
            log.exception(
                "worker %s: draining %s failed; releasing it anyway (its buffered messages "
                "reappear after their visibility timeout)", self.worker_id, partition,
            )

    async def _wait_for_drains(self, timeout: float) -> None:
        running = [t for t in self._drains.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        else:
            await asyncio.sleep(min(timeout, 0.05))  # a lost race: read again soon

    async def _cancel_drains(self) -> None:
        drains, self._drains = self._drains, {}
        for task in drains.values():
            await cancel_and_wait(task)

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            interval = self.options.acquire_interval
            try:
                with unavailable_as(self._setting_name, "renewing partition leases"):
                    decided, conflicts = await self.run_round()
                if decided.busy:
                    interval = self.options.busy_interval
                failures = failures + 1 if conflicts else 0
            except asyncio.TimeoutError:
                log.warning("worker %s: the Partitions table did not answer in %s s", self.worker_id,
                            self.options.operation_timeout)
                failures += 1
            except Exception as exc:
                _log_failed_round(self.worker_id, "partition lease round failed", exc)
                failures += 1
            if 0 < failures < MAX_QUICK_RETRIES:
                interval = 0.0
            if any(t.done() for t in self._drains.values()) and interval > self.options.busy_interval:
                interval = self.options.busy_interval
            # Wake in time to stop polling a lease that could not be renewed.
            interval = min(interval, self._seconds_to_fence())
            try:
                await asyncio.wait_for(self._stopping.wait(), interval)
            except asyncio.TimeoutError:
                continue


def _log_failed_round(worker: str, what: str, error: Exception) -> None:
    """Storage down or silent (e.g. Azurite restarting): one line per round, as a traceback
    would say nothing more; anything else with its traceback."""
    if isinstance(error, (StorageUnavailableError, asyncio.TimeoutError)):
        log.warning("worker %s: %s (%s); retrying", worker, what, brief_error(error))
    else:
        log.exception("worker %s: %s; retrying", worker, what)


def _log_change(worker: str, write: LeaseWrite) -> None:
    partition = write.after.partition
    if write.change is LeaseChange.RENEW:
        log.debug("worker %s: renewed %s until %s", worker, partition, write.after.expires_at)
    elif write.change is LeaseChange.RELEASE:
        log.info("worker %s: released %s to %s", worker, partition, write.after.current_owner or "nobody")
    elif write.change is LeaseChange.STEAL:
        log.info("worker %s: stealing %s from %s", worker, partition, write.before.current_owner)
    else:
        log.info("worker %s: %s %s", worker, write.change.value, partition)
