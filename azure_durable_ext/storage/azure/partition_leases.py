"""Partition lease rules of the table partition manager, without I/O.

One ``{Hub}Partitions`` row per control queue (PartitionKey "", RowKey = the queue's name),
with DurableTask.AzureStorage's columns: CurrentOwner, NextOwner, OwnedSince, LastRenewal,
ExpiresAt, IsDraining. One round of a worker reads every row and decides, per row:

- **claim** a row that is empty, expired, or released to this worker: CurrentOwner = me,
  ExpiresAt = now + ``claim_interval``;
- **renew** an own row nobody is stealing, once half of ``renew_interval`` has passed since
  the last renewal: ExpiresAt = now + ``lease_interval``;
- **steal** (balance): while this worker holds fewer than ceil(rows / live workers), set
  NextOwner = me on a row of the most-loaded worker holding at least two more than this one
  (such transfers lower the spread every time, so the workers settle); also steal from a
  worker that is shutting down (IsDraining with no NextOwner);
- **drain** an own row someone steals (or every own row when shutting down): IsDraining =
  true, stop polling it, keep renewing it until the local work of that partition is done;
- **release** a drained row: CurrentOwner = NextOwner (a direct hand-over, the new owner's
  lease starting now) or empty; a worker shutting down also withdraws its own pending steals.

Every write is conditional on the row's ETag; a write that loses to another worker's is
not applied and the worker reads again. A worker polls a partition only while its row says
CurrentOwner = me, no NextOwner, not draining and not expired by the worker's own clock, so
a worker that cannot renew stops on its own before anyone else may claim the partition.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ...core.options import PartitionLeaseOptions

#: All rows share one PartitionKey (as in DurableTask.AzureStorage's TablePartitionLease).
LEASE_PARTITION_KEY = ""


@dataclass(frozen=True, slots=True)
class PartitionLease:
    """One row of ``{Hub}Partitions``; ``etag`` is None for a row not stored yet."""

    partition: str
    current_owner: str | None = None
    next_owner: str | None = None
    owned_since: datetime | None = None
    last_renewal: datetime | None = None
    expires_at: datetime | None = None
    is_draining: bool = False
    etag: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_entity(self) -> dict[str, Any]:
        """The table entity (unset columns are left out: a table stores no nulls)."""
        entity: dict[str, Any] = {"PartitionKey": LEASE_PARTITION_KEY, "RowKey": self.partition}
        columns = {
            "CurrentOwner": self.current_owner,
            "NextOwner": self.next_owner,
            "OwnedSince": self.owned_since,
            "LastRenewal": self.last_renewal,
            "ExpiresAt": self.expires_at,
        }
        entity.update({k: v for k, v in columns.items() if v is not None})
        entity["IsDraining"] = self.is_draining
        return entity

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any], etag: str | None) -> "PartitionLease":
        return cls(
            partition=str(entity["RowKey"]),
            current_owner=entity.get("CurrentOwner") or None,
            next_owner=entity.get("NextOwner") or None,
            owned_since=entity.get("OwnedSince"),
            last_renewal=entity.get("LastRenewal"),
            expires_at=entity.get("ExpiresAt"),
            is_draining=bool(entity.get("IsDraining", False)),
            etag=etag,
        )


class LeaseChange(enum.Enum):
    """What a write does to a row (for logs and tests)."""

    CLAIM = "claim"
    RENEW = "renew"
    STEAL = "steal"
    DRAIN = "drain"
    RELEASE = "release"
    WITHDRAW = "withdraw"  # a worker shutting down gives up the steals it had started


@dataclass(frozen=True, slots=True)
class LeaseWrite:
    """One ETag-conditional write: replace ``before`` (insert when it has no ETag) by ``after``."""

    change: LeaseChange
    before: PartitionLease
    after: PartitionLease


@dataclass(frozen=True, slots=True)
class LeaseRound:
    """The decisions of one round."""

    writes: list[LeaseWrite] = field(default_factory=list)
    #: Own rows this worker must not poll and whose local work must be finished (drained).
    to_drain: frozenset[str] = frozenset()
    #: True while draining or waiting for a hand-over: read again soon.
    busy: bool = False


@dataclass(slots=True)
class _Plan:
    me: str
    now: datetime
    timings: PartitionLeaseOptions
    rows: dict[str, PartitionLease]
    writes: dict[str, LeaseWrite] = field(default_factory=dict)
    to_drain: set[str] = field(default_factory=set)
    busy: bool = False

    def current(self, partition: str) -> PartitionLease:
        write = self.writes.get(partition)
        return write.after if write is not None else self.rows[partition]

    def write(self, change: LeaseChange, after: PartitionLease) -> None:
        before = self.rows[after.partition]
        self.writes[after.partition] = LeaseWrite(change, before, replace(after, etag=before.etag))

    def claimed(self, row: PartitionLease) -> PartitionLease:
        return replace(
            row,
            current_owner=self.me,
            next_owner=None,
            owned_since=self.now,
            last_renewal=self.now,
            expires_at=self.now + timedelta(seconds=self.timings.claim_interval),
            is_draining=False,
        )

    def renewed(self, row: PartitionLease, *, draining: bool) -> PartitionLease:
        return replace(
            row,
            last_renewal=self.now,
            expires_at=self.now + timedelta(seconds=self.timings.lease_interval),
            is_draining=draining,
        )

    def renewal_due(self, row: PartitionLease) -> bool:
        # Half the interval: a round that comes a little early still renews.
        return row.last_renewal is None or (self.now - row.last_renewal).total_seconds() >= (
            self.timings.renew_interval / 2
        )


def plan_round(
    rows: Sequence[PartitionLease],
    me: str,
    now: datetime,
    timings: PartitionLeaseOptions,
    *,
    drained: frozenset[str] = frozenset(),
    shutting_down: bool = False,
) -> LeaseRound:
    """Decide this round's writes for worker ``me`` from the rows just read.

    ``drained``: own rows whose local work is finished (safe to release). A row missing from
    the table should be passed as ``PartitionLease(name)`` (no ETag): claiming it inserts it.
    """
    plan = _Plan(me, now, timings, {r.partition: r for r in rows})
    for row in rows:
        if row.current_owner == me and not row.expired(now):
            _keep_or_hand_over(plan, row, drained, shutting_down)
        elif shutting_down:
            if row.next_owner == me:
                plan.write(LeaseChange.WITHDRAW, replace(row, next_owner=None))
        elif _claimable(row, me, now):
            plan.write(LeaseChange.CLAIM, plan.claimed(row))
        elif row.next_owner == me:
            plan.busy = True  # waiting for the owner to drain and hand it over
        elif row.is_draining and row.next_owner is None:
            plan.write(LeaseChange.STEAL, replace(row, next_owner=me))  # its owner is stopping
            plan.busy = True
    if not shutting_down:
        _balance(plan)
    return LeaseRound(writes=list(plan.writes.values()), to_drain=frozenset(plan.to_drain), busy=plan.busy)


def _claimable(row: PartitionLease, me: str, now: datetime) -> bool:
    empty = row.current_owner is None and row.next_owner in (None, me)
    return empty or row.expired(now)


def _keep_or_hand_over(plan: _Plan, row: PartitionLease, drained: frozenset[str], shutting_down: bool) -> None:
    if row.next_owner is None and not shutting_down:
        if row.is_draining or plan.renewal_due(row):
            # (A row left draining, e.g. a thief withdrew its steal: take it up again.)
            plan.write(LeaseChange.RENEW, plan.renewed(row, draining=False))
        return
    plan.to_drain.add(row.partition)
    plan.busy = True
    if row.partition in drained:
        plan.write(LeaseChange.RELEASE, _released(plan, row))
    elif not row.is_draining:
        plan.write(LeaseChange.DRAIN, plan.renewed(row, draining=True))
    elif plan.renewal_due(row):
        plan.write(LeaseChange.RENEW, plan.renewed(row, draining=True))


def _released(plan: _Plan, row: PartitionLease) -> PartitionLease:
    heir = row.next_owner
    if heir is None:
        return replace(row, current_owner=None, is_draining=False)
    return replace(
        row,
        current_owner=heir,
        next_owner=None,
        owned_since=plan.now,
        last_renewal=plan.now,
        expires_at=plan.now + timedelta(seconds=plan.timings.lease_interval),
        is_draining=False,
    )


def _balance(plan: _Plan) -> None:
    """Steal from over-loaded workers until this one holds its share (see module docs)."""
    held: dict[str, list[str]] = {}
    mine = 0
    for partition in plan.rows:
        row = plan.current(partition)
        if row.expired(plan.now) or row.current_owner is None:
            continue
        owner = row.next_owner or row.current_owner
        if owner == plan.me:
            mine += 1
        else:
            held.setdefault(owner, [])
            if row.next_owner is None and not row.is_draining:
                held[owner].append(partition)  # stealable: not already moving
            else:
                held[owner].append("")  # counts for its next owner, but is not stealable
    target = math.ceil(len(plan.rows) / (len(held) + 1))
    while mine < target:
        donors = [w for w in sorted(held) if len(held[w]) >= mine + 2 and any(held[w])]
        if not donors:
            return
        donor = max(donors, key=lambda w: len(held[w]))
        partition = next(p for p in held[donor] if p)
        held[donor].remove(partition)
        plan.write(LeaseChange.STEAL, replace(plan.current(partition), next_owner=plan.me))
        plan.busy = True
        mine += 1


def polled_partitions(rows: Iterable[PartitionLease], me: str, now: datetime, *, margin: float = 0.0) -> frozenset[str]:
    """The rows whose control queues ``me`` may poll now: own, not moving, and valid for at
    least ``margin`` more seconds."""
    soon = now + timedelta(seconds=margin)
    return frozenset(
        r.partition
        for r in rows
        if r.current_owner == me and r.next_owner is None and not r.is_draining and not r.expired(soon)
    )


def held_partitions(rows: Iterable[PartitionLease], me: str, now: datetime) -> frozenset[str]:
    """The rows ``me`` still holds (polled or draining): a shutdown is done when none is left."""
    return frozenset(r.partition for r in rows if r.current_owner == me and not r.expired(now))
