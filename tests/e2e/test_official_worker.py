"""The official durabletask worker connected to our sidecar runs every orchestration feature
(in-memory and Azure Storage providers)."""
from __future__ import annotations

import time
from typing import Any

import pytest
from durabletask.client import OrchestrationStatus
from scenarios import ACTIVITIES, ORCHESTRATORS, approval, counter, fails, fan_out_fan_in, hello_sequence
from scenarios import parent, sleepy, waits_forever, with_retries

WAIT = 60


@pytest.fixture
def env(make_sidecar: Any, workers: Any, client_for: Any) -> Any:
    sidecar = make_sidecar()
    workers.start(sidecar.address, orchestrators=ORCHESTRATORS, activities=ACTIVITIES)
    return client_for(sidecar.address)


def finish(client: Any, instance_id: str, timeout: float = WAIT) -> Any:
    state = client.wait_for_orchestration_completion(instance_id, timeout=timeout)
    assert state is not None, f"{instance_id} did not finish"
    return state


def wait_until(predicate: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_activity_sequence(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(hello_sequence))
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_fan_out_fan_in(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(fan_out_fan_in, input=20))
    assert state.get_output() == sum(2 * i for i in range(20))


def test_timer_fires(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(sleepy, input=0.5))
    assert state.get_output() == "woke up"


def test_external_event_and_custom_status(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(approval, input=None)
    wait_until(
        lambda: (s := env.get_orchestration_state(instance_id)) is not None and s.get_custom_status() == {"stage": "waiting"},
        "the custom status",
    )
    env.raise_orchestration_event(instance_id, "approve", data="yes")  # names match case-insensitively
    state = finish(env, instance_id)
    assert state.get_output() == "approved: yes"
    assert state.get_custom_status() == {"stage": "waiting"}


def test_external_event_timeout(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(approval, input=0.3))
    assert state.get_output() == "timed out"


def test_sub_orchestrations(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(parent, input=5)
    state = finish(env, instance_id)
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state.failure_details
    output = state.get_output()
    assert output["results"] == [11, 23]
    assert "child broke" in output["caught"]
    named = env.get_orchestration_state(f"{instance_id}-named")
    assert named is not None and named.runtime_status is OrchestrationStatus.COMPLETED
    assert named.get_output() == 23


def test_continue_as_new(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(counter, input=0))
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.get_output() == 3
    assert state.get_input() == 3


def test_retries(env: Any) -> None:
    key = f"retry-{time.monotonic_ns()}"
    state = finish(env, env.schedule_new_orchestration(with_retries, input=key))
    assert state.get_output() == "ok after 3"


def test_failure_details(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(fails, input="kaboom"))
    assert state.runtime_status is OrchestrationStatus.FAILED
    assert "kaboom" in state.failure_details.message


def test_terminate(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(waits_forever)
    env.wait_for_orchestration_start(instance_id, timeout=WAIT)
    env.terminate_orchestration(instance_id, output="stop now")
    state = finish(env, instance_id)
    assert state.runtime_status is OrchestrationStatus.TERMINATED
    assert state.get_output() == "stop now"


def test_suspend_and_resume(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(waits_forever)
    env.wait_for_orchestration_start(instance_id, timeout=WAIT)
    env.suspend_orchestration(instance_id)
    wait_until(lambda: env.get_orchestration_state(instance_id).runtime_status is OrchestrationStatus.SUSPENDED, "suspension")
    env.raise_orchestration_event(instance_id, "Go", data=42)
    time.sleep(0.3)  # give the event a chance to be (wrongly) delivered while suspended
    assert env.get_orchestration_state(instance_id).runtime_status is OrchestrationStatus.SUSPENDED
    env.resume_orchestration(instance_id)
    state = finish(env, instance_id)
    assert state.runtime_status is OrchestrationStatus.COMPLETED
    assert state.get_output() == 42


def test_restart(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(hello_sequence)
    first = finish(env, instance_id)
    env.restart_orchestration(instance_id)
    wait_until(
        lambda: (s := env.get_orchestration_state(instance_id)) is not None and s.created_at >= first.created_at
        and s.runtime_status is OrchestrationStatus.COMPLETED and s.last_updated_at > first.last_updated_at,
        "the restarted run to complete",
    )
    assert env.get_orchestration_state(instance_id).get_output() == first.get_output()


def test_rewind_reruns_only_the_failed_activity(env: Any) -> None:
    from scenarios import rewindable

    key = f"rewind-{time.monotonic_ns()}"
    instance_id = env.schedule_new_orchestration(rewindable, input=key)
    assert finish(env, instance_id).runtime_status is OrchestrationStatus.FAILED
    env.rewind_orchestration(instance_id, reason="fixed it")
    wait_until(lambda: env.get_orchestration_state(instance_id).runtime_status is OrchestrationStatus.COMPLETED, "rewind")
    assert env.get_orchestration_state(instance_id).get_output() == ["Hello before!", "ok on attempt 2"]
