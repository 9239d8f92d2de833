"""extendedSessionsEnabled with the official durabletask worker (in-memory and Azure Storage):
what runs without sessions runs the same with them, including the messages that reach an
instance while its session waits (events, terminate, suspend/resume, timers, children)."""
from __future__ import annotations

from typing import Any

import pytest
from durabletask.client import OrchestrationStatus
from scenarios import ACTIVITIES, ORCHESTRATORS, approval, counter, fan_out_fan_in, hello_sequence, parent, sleepy
from scenarios import waits_forever
from test_official_worker import WAIT, finish, wait_until

from azurite_fixture import unique_hub_name

from azure_durable_ext.core.options import DurableTaskOptions


@pytest.fixture
def env(make_sidecar: Any, workers: Any, client_for: Any) -> Any:
    options = DurableTaskOptions(
        hub_name=unique_hub_name("S"), extended_sessions_enabled=True,
        max_concurrent_orchestrator_functions=8,
    )
    sidecar = make_sidecar(options=options)
    workers.start(sidecar.address, orchestrators=ORCHESTRATORS, activities=ACTIVITIES)
    return client_for(sidecar.address)


def test_sequences_fan_out_and_timers_run_in_sessions(env: Any) -> None:
    ids = [env.schedule_new_orchestration(hello_sequence) for _ in range(3)]
    fan = env.schedule_new_orchestration(fan_out_fan_in, input=10)
    nap = env.schedule_new_orchestration(sleepy, input=0.5)
    for instance_id in ids:
        assert finish(env, instance_id).get_output() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert finish(env, fan).get_output() == sum(2 * i for i in range(10))
    assert finish(env, nap).get_output() == "woke up"


def test_children_and_continue_as_new(env: Any) -> None:
    state = finish(env, env.schedule_new_orchestration(parent, input=5))
    assert state.runtime_status is OrchestrationStatus.COMPLETED, state.failure_details
    assert state.get_output()["results"] == [11, 23]
    again = finish(env, env.schedule_new_orchestration(counter, input=0))
    assert (again.get_output(), again.get_input()) == (3, 3)


def test_an_event_reaches_an_instance_waiting_in_its_session(env: Any) -> None:
    instance_id = env.schedule_new_orchestration(approval, input=None)
    wait_until(
        lambda: (s := env.get_orchestration_state(instance_id)) is not None and s.get_custom_status() == {"stage": "waiting"},
        "the custom status",
    )
    env.raise_orchestration_event(instance_id, "approve", data="yes")
    assert finish(env, instance_id).get_output() == "approved: yes"


def test_terminate_suspend_and_resume_reach_a_waiting_session(env: Any) -> None:
    stopped = env.schedule_new_orchestration(waits_forever)
    env.wait_for_orchestration_start(stopped, timeout=WAIT)
    env.terminate_orchestration(stopped, output="stop now")
    state = finish(env, stopped)
    assert (state.runtime_status, state.get_output()) == (OrchestrationStatus.TERMINATED, "stop now")

    paused = env.schedule_new_orchestration(waits_forever)
    env.wait_for_orchestration_start(paused, timeout=WAIT)
    env.suspend_orchestration(paused)
    wait_until(lambda: env.get_orchestration_state(paused).runtime_status is OrchestrationStatus.SUSPENDED, "suspension")
    env.raise_orchestration_event(paused, "Go", data=42)
    env.resume_orchestration(paused)
    state = finish(env, paused)
    assert (state.runtime_status, state.get_output()) == (OrchestrationStatus.COMPLETED, 42)
