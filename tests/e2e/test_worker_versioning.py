"""Versioned orchestrations with the official worker: every match strategy and failure
strategy, work-item filters, and REJECT handing the work to a worker that can run it."""
from __future__ import annotations

import time
from typing import Any

import pytest
from durabletask.client import OrchestrationStatus
from durabletask.worker import VersionFailureStrategy, VersioningOptions, VersionMatchStrategy
from scenarios import versioned

WAIT = 60
NONE, STRICT, CURRENT = VersionMatchStrategy.NONE, VersionMatchStrategy.STRICT, VersionMatchStrategy.CURRENT_OR_OLDER
REJECT, FAIL = VersionFailureStrategy.REJECT, VersionFailureStrategy.FAIL


def worker_options(version: str, match: VersionMatchStrategy, failure: VersionFailureStrategy) -> VersioningOptions:
    return VersioningOptions(version=version, default_version=version, match_strategy=match, failure_strategy=failure)


def start(client: Any, version: str | None) -> str:
    return client.schedule_new_orchestration("Versioned", version=version)


def finish(client: Any, instance_id: str) -> Any:
    state = client.wait_for_orchestration_completion(instance_id, timeout=WAIT)
    assert state is not None
    return state


def still_pending(client: Any, instance_id: str, seconds: float = 1.5) -> bool:
    """The instance stays Pending for ``seconds`` (it is never run)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get_orchestration_state(instance_id).runtime_status is not OrchestrationStatus.PENDING:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def sidecar(make_sidecar: Any) -> Any:
    return make_sidecar()


@pytest.mark.parametrize("failure", [REJECT, FAIL])
def test_match_none_runs_every_version(sidecar: Any, workers: Any, client_for: Any, failure: Any) -> None:
    workers.start(sidecar.address, orchestrators=[versioned("v1")], versioning=worker_options("1.0", NONE, failure))
    client = client_for(sidecar.address)
    for version in ("0.5", "1.0", "2.0", None):
        state = finish(client, start(client, version))
        assert state.runtime_status is OrchestrationStatus.COMPLETED
        assert state.get_output() == {"code": "v1", "instance_version": version}


@pytest.mark.parametrize(
    ("match", "accepted", "refused"),
    [(STRICT, ["1.0"], ["0.9", "1.1"]), (CURRENT, ["0.9", "1.0", None], ["1.1", "2.0"])],
)
def test_fail_strategy_fails_versions_the_worker_does_not_accept(
    sidecar: Any, workers: Any, client_for: Any, match: Any, accepted: list[Any], refused: list[str]
) -> None:
    workers.start(sidecar.address, orchestrators=[versioned("v1")], versioning=worker_options("1.0", match, FAIL))
    client = client_for(sidecar.address)
    for version in accepted:
        assert finish(client, start(client, version)).runtime_status is OrchestrationStatus.COMPLETED
    for version in refused:
        state = finish(client, start(client, version))
        assert state.runtime_status is OrchestrationStatus.FAILED
        assert state.failure_details.error_type == "VersionMismatch"


@pytest.mark.parametrize(("match", "newer_version"), [(STRICT, "2.0"), (CURRENT, "2.0")])
def test_reject_keeps_the_instance_until_a_worker_that_accepts_it_connects(
    sidecar: Any, workers: Any, client_for: Any, match: Any, newer_version: str
) -> None:
    workers.start(sidecar.address, orchestrators=[versioned("v1")], versioning=worker_options("1.0", match, REJECT))
    client = client_for(sidecar.address)
    assert finish(client, start(client, "1.0")).get_output()["code"] == "v1"
    waiting = start(client, newer_version)
    assert still_pending(client, waiting)  # offered, rejected, put back: never run
    workers.start(
        sidecar.address, orchestrators=[versioned("v2")], versioning=worker_options(newer_version, match, REJECT)
    )
    state = finish(client, waiting)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.get_output() == {"code": "v2", "instance_version": newer_version}


def test_work_item_filters_keep_unmatched_instances_pending(sidecar: Any, workers: Any, client_for: Any) -> None:
    # STRICT + filters: the worker's filters list its version, so the sidecar never offers it
    # anything else (no reject round trips at all).
    workers.start(
        sidecar.address, orchestrators=[versioned("v1")], versioning=worker_options("1.0", STRICT, REJECT), filters=True
    )
    client = client_for(sidecar.address)
    assert finish(client, start(client, "1.0")).get_output()["code"] == "v1"
    waiting = start(client, "2.0")
    unknown = client.schedule_new_orchestration("NobodyRunsThis")
    assert still_pending(client, waiting) and still_pending(client, unknown, 0.2)
    workers.start(
        sidecar.address, orchestrators=[versioned("v2")], versioning=worker_options("2.0", STRICT, REJECT), filters=True
    )
    assert finish(client, waiting).get_output() == {"code": "v2", "instance_version": "2.0"}
    assert client.get_orchestration_state(unknown).runtime_status is OrchestrationStatus.PENDING
