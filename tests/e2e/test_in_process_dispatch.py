"""Orchestrations run in process (our replay executor behind the sidecar's dispatchers), on
the in-memory and Azure Storage providers; clients are the official durabletask client."""
from __future__ import annotations

import time
from typing import Any

import pytest
from durabletask.client import OrchestrationStatus
from in_process_scenarios import scenario_registry, versioned
from test_official_worker import finish, wait_until

from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.versions import VersionFailureStrategy, VersioningOptions, VersionMatchStrategy

WAIT = 60


@pytest.fixture
def env(make_sidecar: Any, client_for: Any) -> Any:
    sidecar = make_sidecar(registry=scenario_registry())
    return client_for(sidecar.address)


def test_activity_sequence(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration("hello_sequence"))
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state.failure_details
    assert state.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_fan_out_fan_in(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration("fan_out_fan_in", input=20))
    assert state.get_output() == sum(2 * i for i in range(20))


def test_timer(env: Any) -> None:
    assert finish(env, env.schedule_new_orchestration("sleepy", input=0.5)).get_output() == "woke up"


def test_external_event_custom_status_and_timeout(env: Any) -> None:
    waiting = env.schedule_new_orchestration("approval", input=None)
    wait_until(
        lambda: (s := env.get_orchestration_state(waiting)) is not None and s.get_custom_status() == {"stage": "waiting"},
        "the custom status",
    )
    env.raise_orchestration_event(waiting, "APPROVE", data="yes")
    assert finish(env, waiting).get_output() == "approved: yes"
    assert finish(env, env.schedule_new_orchestration("approval", input=0.3)).get_output() == "timed out"


def test_sub_orchestrations(env: Any) -> None:
    instance_id = env.schedule_new_orchestration("parent", input=5)
    state = finish(env, instance_id)
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state.failure_details
    assert state.get_output()["results"] == [11, 23]
    assert "child broke" in state.get_output()["caught"]
    assert env.get_orchestration_state(f"{instance_id}-named").get_output() == 23


def test_continue_as_new(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration("counter", input=0))
    assert (state.runtime_status, state.get_output()) == (OrchestrationStatus.COMPLETED, 3)


def test_retries(env: Any) -> None:
    key = f"in-process-{time.monotonic_ns()}"
    assert finish(env, env.schedule_new_orchestration("with_retries", input=key)).get_output() == "ok after 3"


def test_failure(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration("fails", input="kaboom"))
    assert state.runtime_status is OrchestrationStatus.FAILED
    assert "kaboom" in state.failure_details.message


def test_terminate_suspend_resume_restart(env: Any) -> None:
    doomed = env.schedule_new_orchestration("waits_forever")
    env.wait_for_orchestration_start(doomed, timeout=WAIT)
    env.terminate_orchestration(doomed, output="bye")
    state = finish(env, doomed)
    assert (state.runtime_status, state.get_output()) == (OrchestrationStatus.TERMINATED, "bye")

    paused = env.schedule_new_orchestration("waits_forever")
    env.wait_for_orchestration_start(paused, timeout=WAIT)
    env.suspend_orchestration(paused)
    wait_until(lambda: env.get_orchestration_state(paused).runtime_status is OrchestrationStatus.SUSPENDED, "suspend")
    env.raise_orchestration_event(paused, "Go", data=7)
    env.resume_orchestration(paused)
    assert finish(env, paused).get_output() == 7

    env.restart_orchestration(doomed)
    env.wait_for_orchestration_start(doomed, timeout=WAIT)
    env.raise_orchestration_event(doomed, "Go", data="again")
    wait_until(lambda: env.get_orchestration_state(doomed).runtime_status is OrchestrationStatus.COMPLETED, "restart")
    assert env.get_orchestration_state(doomed).get_output() == "again"


def _versions(*tags: str) -> Registry:
    registry = Registry()
    for tag in tags:
        registry.add_orchestrator(versioned(f"v{tag}"), name="Versioned", version=tag)
    return registry


@pytest.mark.parametrize(
    ("match", "failure", "expected"),
    [
        (VersionMatchStrategy.NONE, VersionFailureStrategy.FAIL, OrchestrationStatus.COMPLETED),
        (VersionMatchStrategy.STRICT, VersionFailureStrategy.FAIL, OrchestrationStatus.FAILED),
        (VersionMatchStrategy.CURRENT_OR_OLDER, VersionFailureStrategy.FAIL, OrchestrationStatus.FAILED),
        (VersionMatchStrategy.STRICT, VersionFailureStrategy.REJECT, OrchestrationStatus.PENDING),
        (VersionMatchStrategy.CURRENT_OR_OLDER, VersionFailureStrategy.REJECT, OrchestrationStatus.PENDING),
    ],
)
def test_in_process_versioning_of_a_newer_instance(
    make_sidecar: Any, client_for: Any, match: Any, failure: Any, expected: Any
) -> None:
    # The app runs 1.0 (and has 2.0's code registered too); an instance of 2.0 arrives.
    versioning = VersioningOptions(version="1.0", default_version="1.0", match_strategy=match, failure_strategy=failure)
    sidecar = make_sidecar(registry=_versions("1.0", "2.0"), versioning=versioning)
    client = client_for(sidecar.address)
    assert finish(client, client.schedule_new_orchestration("Versioned", version="1.0")).get_output()["code"] == "v1.0"
    newer = client.schedule_new_orchestration("Versioned", version="2.0")
    if expected is OrchestrationStatus.PENDING:
        time.sleep(1.0)
        assert client.get_orchestration_state(newer).runtime_status is OrchestrationStatus.PENDING
        return
    state = finish(client, newer)
    assert state.runtime_status is expected
    if expected is OrchestrationStatus.FAILED:
        assert state.failure_details.error_type == "VersionMismatch"
    else:
        assert state.get_output() == {"code": "v2.0", "instance_version": "2.0"}


def test_v1_instance_finishes_on_v1_after_the_app_restarts_with_v2_as_default(make_sidecar: Any, client_for: Any) -> None:
    hub = f"Restart{time.monotonic_ns()}"
    v1_app = DurableTaskOptions(hub_name=hub, default_version="1.0")
    sidecar = make_sidecar(registry=_versions("1.0"), options=v1_app)
    client = client_for(sidecar.address)
    old = client.schedule_new_orchestration("Versioned", input="wait")  # no version: the default, 1.0
    client.wait_for_orchestration_start(old, timeout=WAIT)
    assert client.get_orchestration_state(old).runtime_status is OrchestrationStatus.RUNNING

    # Redeploy: both versions side by side, 2.0 is now the default for new starts.
    v2_app = DurableTaskOptions(hub_name=hub, default_version="2.0")
    sidecar.replace_host(make_sidecar.host_maker(v2_app, registry=_versions("1.0", "2.0"), same_storage_as=sidecar))
    client = client_for(sidecar.address)
    new = client.schedule_new_orchestration("Versioned", input="now")
    client.raise_orchestration_event(old, "Go")
    assert finish(client, old).get_output() == {"code": "v1.0", "instance_version": "1.0"}
    assert finish(client, new).get_output() == {"code": "v2.0", "instance_version": "2.0"}


def test_timer_fires_after_the_sidecar_restarts(make_sidecar: Any, client_for: Any) -> None:
    if make_sidecar.kind != "azure":
        pytest.skip("in-memory storage does not outlive its sidecar")
    options = DurableTaskOptions(hub_name=f"Timer{time.monotonic_ns()}")
    first = make_sidecar(registry=scenario_registry(), options=options)
    client = client_for(first.address)
    instance_id = client.schedule_new_orchestration("sleepy", input=3)
    wait_until(lambda: any(e.HasField("timerCreated") for e in _history(first, instance_id)), "the timer")
    first.stop()  # the timer is pending in storage only now

    second = make_sidecar(registry=scenario_registry(), options=options)
    state = finish(client_for(second.address), instance_id)
    assert (state.runtime_status, state.get_output()) == (OrchestrationStatus.COMPLETED, "woke up")


def _history(sidecar: Any, instance_id: str) -> list[Any]:
    service = sidecar.host.hubs.default.service
    return sidecar.call(lambda: service.get_history(instance_id))


def test_recursive_terminate_reaches_the_child(env: Any) -> None:
    parent_id = env.schedule_new_orchestration("waits_on_child")
    child_id = f"{parent_id}-child"
    wait_until(
        lambda: (s := env.get_orchestration_state(child_id)) is not None
        and s.runtime_status is OrchestrationStatus.RUNNING,
        "the child to start",
    )
    env.terminate_orchestration(parent_id, output="stop all", recursive=True)
    assert finish(env, parent_id).runtime_status is OrchestrationStatus.TERMINATED
    assert finish(env, child_id).runtime_status is OrchestrationStatus.TERMINATED


def test_scheduled_start_waits_pending_until_due(env: Any) -> None:
    from datetime import datetime, timedelta, timezone

    due = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    instance_id = env.schedule_new_orchestration("hello_sequence", start_at=due)
    assert env.get_orchestration_state(instance_id).runtime_status is OrchestrationStatus.PENDING
    state = finish(env, instance_id)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.last_updated_at.replace(tzinfo=timezone.utc) >= due - timedelta(milliseconds=50)
