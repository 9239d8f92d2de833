"""Replayed code that disagrees with history fails loudly, naming the step."""
from __future__ import annotations

from datetime import timedelta

from orch_history import History, kinds

from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.status import OrchestrationStatus


def _registry(fn, name="Workflow") -> Registry:
    registry = Registry()
    registry.add_orchestrator(fn, name)
    return registry


def original(ctx):
    a = yield ctx.call_activity("A")
    b = yield ctx.call_activity("B")
    return [a, b]


def _history_after_two_steps() -> History:
    """History recorded by ``original``: A done, B scheduled."""
    history = History("Workflow")
    registry = _registry(original)
    history.run(registry)
    history.complete_task(1, '"a"').run(registry)
    return history


def _replay_with(fn) -> object:
    history = _history_after_two_steps()
    return history.complete_task(2, '"b"').run(_registry(fn))


def _assert_nondeterministic(result, *fragments: str) -> None:
    assert result.status is OrchestrationStatus.FAILED
    assert result.failure.error_type == "NonDeterminismError"
    for fragment in fragments:
        assert fragment in result.failure.message, result.failure.message
    assert kinds(result) == [(kinds(result)[0][0], "completeOrchestration")]


def test_unchanged_code_replays_cleanly():
    result = _replay_with(original)
    assert result.status is OrchestrationStatus.COMPLETED


def test_renamed_activity():
    def renamed(ctx):
        yield ctx.call_activity("A")
        yield ctx.call_activity("C")

    _assert_nondeterministic(_replay_with(renamed), "history step 2", "taskScheduled 'B'", "scheduleTask 'C'")


def test_activity_name_case_change_is_not_a_mismatch():
    def recased(ctx):
        yield ctx.call_activity("a")
        yield ctx.call_activity("b")

    assert _replay_with(recased).status is OrchestrationStatus.COMPLETED


def test_different_kind_of_action():
    def timer_instead(ctx):
        yield ctx.call_activity("A")
        yield ctx.create_timer(timedelta(seconds=1))

    _assert_nondeterministic(
        _replay_with(timer_instead), "history step 2", "taskScheduled 'B'", "produced a createTimer action"
    )


def test_history_event_without_any_matching_action():
    def stops_early(ctx):
        yield ctx.call_activity("A")
        return "done early"

    # The code now completes at step 2 instead of scheduling B.
    _assert_nondeterministic(_replay_with(stops_early), "history step 2", "completeOrchestration")


def test_action_removed_before_the_end_of_history():
    def waits_for_event(ctx):
        yield ctx.wait_for_external_event("Never")

    _assert_nondeterministic(
        _replay_with(waits_for_event), "history step 1", "taskScheduled 'A'", "produced no action with id 1"
    )


def _recorded_then_replayed(recorder, replayer, next_event) -> object:
    """Record one episode with ``recorder``, add ``next_event``, replay with ``replayer``."""
    history = History("Workflow")
    history.run(_registry(recorder))
    next_event(history)
    return history.run(_registry(replayer))


def _call_child(child_name):
    def parent(ctx):
        yield ctx.call_sub_orchestrator(child_name)
        yield ctx.call_activity("A")

    return parent


def _send(event_name):
    def sender(ctx):
        ctx.send_event("other", event_name)
        yield ctx.call_activity("A")

    return sender


def test_sub_orchestration_renamed():
    result = _recorded_then_replayed(_call_child("ChildV1"), _call_child("ChildV2"), lambda h: h.complete_sub(1, None))
    _assert_nondeterministic(result, "subOrchestrationInstanceCreated 'ChildV1'", "createSubOrchestration 'ChildV2'")


def test_timer_replaced_by_activity():
    def with_timer(ctx):
        yield ctx.create_timer(timedelta(minutes=1))

    def with_activity(ctx):
        yield ctx.call_activity("A")

    result = _recorded_then_replayed(with_timer, with_activity, lambda h: h.fire_timer(1))
    _assert_nondeterministic(result, "history step 1", "timerCreated", "produced a scheduleTask action 'A'")


def test_send_event_renamed():
    result = _recorded_then_replayed(_send("Ping"), _send("Pong"), lambda h: h.complete_task(2, None))
    _assert_nondeterministic(result, "eventSent 'Ping'", "sendEvent 'Pong'")


def test_nondeterminism_drops_the_new_actions_of_the_untrusted_replay():
    def extra_parallel(ctx):
        yield ctx.task_all([ctx.call_activity("X"), ctx.call_activity("A")])

    result = _replay_with(extra_parallel)
    assert [a.WhichOneof("orchestratorActionType") for a in result.actions] == ["completeOrchestration"]
