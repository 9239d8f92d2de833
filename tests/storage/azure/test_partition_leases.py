"""Partition lease rules without I/O (``partition_leases``), lease options and their host.json keys."""
from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext.config import parse_durable_options
from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.core.options import AzureStorageOptions, PartitionLeaseOptions
from azure_durable_ext.storage.azure.partition_leases import (
    LeaseChange,
    PartitionLease,
    held_partitions,
    plan_round,
    polled_partitions,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
OPTS = PartitionLeaseOptions()
QUEUES = [f"hub-control-0{i}" for i in range(4)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def owned_by(owner: str, partition: str, *, since: float = 0.0, **changes: object) -> PartitionLease:
    lease = PartitionLease(
        partition, current_owner=owner, owned_since=at(since), last_renewal=at(since),
        expires_at=at(since + OPTS.lease_interval), etag="e",
    )
    return dataclasses.replace(lease, **changes)  # type: ignore[arg-type]


def test_lease_defaults_are_durable_task_azure_storage_s() -> None:
    assert AzureStorageOptions().partition_leases == OPTS
    assert (OPTS.acquire_interval, OPTS.renew_interval, OPTS.lease_interval, OPTS.claim_interval) == (10, 10, 30, 60)
    assert (OPTS.busy_interval, OPTS.operation_timeout) == (1, 2)
    assert AzureStorageOptions().use_table_partition_management is True


def test_host_json_sets_lease_timings_and_refuses_bad_ones() -> None:
    options = parse_durable_options({"extensions": {"durableTask": {"storageProvider": {
        "partitionLeases": {"acquireInterval": "00:00:02", "renewInterval": 1.5, "leaseInterval": "00:00:09"},
    }}}})
    leases = options.storage.partition_leases
    assert (leases.acquire_interval, leases.renew_interval, leases.lease_interval) == (2, 1.5, 9)
    assert leases.claim_interval == 60, "keys left out keep their defaults"
    with pytest.raises(ConfigurationError, match=r"storageProvider.partitionLeases: .*renewInterval must be shorter"):
        parse_durable_options({"extensions": {"durableTask": {"storageProvider": {
            "partitionLeases": {"renewInterval": 40},
        }}}})
    with pytest.raises(ConfigurationError, match=r"partitionLeases.busyInterval"):
        parse_durable_options({"extensions": {"durableTask": {"storageProvider": {
            "partitionLeases": {"busyInterval": "soon"},
        }}}})
    with pytest.raises(ConfigurationError, match="drainTimeout must be positive"):
        parse_durable_options({"extensions": {"durableTask": {"storageProvider": {
            "partitionLeases": {"drainTimeout": 0},
        }}}})


def test_empty_and_missing_rows_are_claimed_for_one_minute() -> None:
    rows = [PartitionLease(q) for q in QUEUES[:2]] + [PartitionLease(q, etag="e") for q in QUEUES[2:]]
    decided = plan_round(rows, "w1", T0, OPTS)
    assert [w.change for w in decided.writes] == [LeaseChange.CLAIM] * 4
    for write in decided.writes:
        assert (write.after.current_owner, write.after.next_owner, write.after.is_draining) == ("w1", None, False)
        assert write.after.expires_at == at(60) and write.after.owned_since == T0
        assert write.after.etag == write.before.etag, "each write is conditional on what was read"


def test_renewal_every_renew_interval_extends_by_the_lease_interval() -> None:
    rows = [owned_by("w1", q) for q in QUEUES]
    assert plan_round(rows, "w1", at(2), OPTS).writes == [], "not due yet"
    decided = plan_round(rows, "w1", at(10), OPTS)
    assert {w.change for w in decided.writes} == {LeaseChange.RENEW}
    assert all(w.after.expires_at == at(40) and w.after.last_renewal == at(10) for w in decided.writes)
    assert polled_partitions(rows, "w1", at(10)) == set(QUEUES)


def test_expired_leases_are_claimed_and_live_ones_are_not() -> None:
    rows = [owned_by("dead", QUEUES[0]), owned_by("w2", QUEUES[1], since=20)]
    decided = plan_round(rows, "w1", at(OPTS.lease_interval), OPTS)
    assert [(w.change, w.before.partition) for w in decided.writes] == [
        (LeaseChange.CLAIM, QUEUES[0])
    ], "the dead owner's lease is claimable at its expiry; w2's is live (one each, no steal)"


def test_a_new_worker_steals_its_share_from_the_busiest() -> None:
    rows = [owned_by("w1", q) for q in QUEUES]
    decided = plan_round(rows, "w2", at(1), OPTS)
    assert [(w.change, w.after.next_owner) for w in decided.writes] == [(LeaseChange.STEAL, "w2")] * 2
    assert decided.busy and not decided.to_drain
    assert all(w.after.current_owner == "w1" for w in decided.writes), "the owner keeps it until it drains"


def test_three_workers_settle_at_two_one_one() -> None:
    rows = [owned_by("w1", QUEUES[0]), owned_by("w1", QUEUES[1]), owned_by("w1", QUEUES[2]), owned_by("w2", QUEUES[3])]
    steals = plan_round(rows, "w3", at(1), OPTS).writes
    assert [w.before.partition for w in steals] == [QUEUES[0]], "w3 takes one from w1 (3 >= 0 + 2)"
    balanced = [owned_by("w1", QUEUES[0]), owned_by("w1", QUEUES[1]), owned_by("w2", QUEUES[2]), owned_by("w3", QUEUES[3])]
    for me in ("w1", "w2", "w3"):
        assert not [w for w in plan_round(balanced, me, at(1), OPTS).writes if w.change is LeaseChange.STEAL]


def test_a_stolen_lease_drains_then_goes_straight_to_the_thief() -> None:
    row = owned_by("w1", QUEUES[0], next_owner="w2")
    draining = plan_round([row], "w1", at(1), OPTS)
    assert [w.change for w in draining.writes] == [LeaseChange.DRAIN]
    assert draining.to_drain == {QUEUES[0]} and draining.writes[0].after.is_draining
    assert polled_partitions([draining.writes[0].after], "w1", at(1)) == set(), "not polled while draining"
    released = plan_round([draining.writes[0].after], "w1", at(2), OPTS, drained=frozenset({QUEUES[0]}))
    (write,) = released.writes
    assert write.change is LeaseChange.RELEASE
    after = write.after
    assert (after.current_owner, after.next_owner, after.is_draining) == ("w2", None, False)
    assert after.expires_at == at(2 + OPTS.lease_interval)
    assert polled_partitions([after], "w2", at(3)) == {QUEUES[0]}


def test_shutdown_drains_releases_everything_and_withdraws_own_steals() -> None:
    rows = [owned_by("w1", QUEUES[0]), owned_by("w1", QUEUES[1], next_owner="w2"), owned_by("w3", QUEUES[2], next_owner="w1")]
    first = plan_round(rows, "w1", at(1), OPTS, shutting_down=True)
    changes = {w.before.partition: w.change for w in first.writes}
    assert changes == {QUEUES[0]: LeaseChange.DRAIN, QUEUES[1]: LeaseChange.DRAIN, QUEUES[2]: LeaseChange.WITHDRAW}
    stored = {w.before.partition: w.after for w in first.writes}
    second = plan_round(list(stored.values()), "w1", at(2), OPTS, drained=frozenset(QUEUES[:2]), shutting_down=True)
    released = {w.after.partition: w.after.current_owner for w in second.writes}
    assert released == {QUEUES[0]: None, QUEUES[1]: "w2"}
    assert held_partitions([w.after for w in second.writes], "w1", at(2)) == set()


def test_others_steal_from_a_worker_that_is_shutting_down() -> None:
    rows = [owned_by("w1", QUEUES[0], is_draining=True)]
    (write,) = plan_round(rows, "w2", at(1), OPTS).writes
    assert (write.change, write.after.next_owner) == (LeaseChange.STEAL, "w2")


def test_a_worker_that_cannot_renew_stops_polling_before_its_lease_expires() -> None:
    row = owned_by("w1", QUEUES[0])
    margin = OPTS.operation_timeout
    assert polled_partitions([row], "w1", at(OPTS.lease_interval - margin - 0.1), margin=margin) == {QUEUES[0]}
    assert polled_partitions([row], "w1", at(OPTS.lease_interval - margin), margin=margin) == set()


class _Table:
    """An in-memory table with ETags, enough to run many workers' rounds against each other."""

    def __init__(self) -> None:
        self.rows: dict[str, PartitionLease] = {}
        self._etags = itertools.count(1)

    def read(self) -> list[PartitionLease]:
        return [self.rows.get(q, PartitionLease(q)) for q in QUEUES]

    def write(self, before: PartitionLease, after: PartitionLease) -> bool:
        stored = self.rows.get(before.partition)
        if (stored.etag if stored else None) != before.etag:
            return False
        self.rows[after.partition] = dataclasses.replace(after, etag=str(next(self._etags)))
        return True


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_workers_taking_turns_converge_to_a_balanced_exclusive_split(workers: int) -> None:
    table = _Table()
    names = [f"w{i}" for i in range(workers)]
    now = T0
    for step in range(60):
        now += timedelta(seconds=1)
        me = names[step % workers]
        decided = plan_round(table.read(), me, now, OPTS, drained=frozenset(QUEUES))
        for write in decided.writes:
            table.write(write.before, write.after)
        polled = [polled_partitions(table.read(), w, now) for w in names]
        assert all(not (a & b) for a, b in itertools.combinations(polled, 2)), f"step {step}: {polled}"
    counts = sorted(len(polled_partitions(table.read(), w, now)) for w in names)
    expected = {2: [2, 2], 3: [1, 1, 2], 5: [0, 1, 1, 1, 1]}[workers]
    assert counts == expected
