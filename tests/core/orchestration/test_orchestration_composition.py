"""task_all / task_any semantics and waits that find their event already buffered."""
from __future__ import annotations

import json
from datetime import timedelta

from orch_history import History, kinds

from azure_durable_ext.core.errors import TaskFailedError
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.orchestration.tasks import Task, WhenAllTask, WhenAnyTask
from azure_durable_ext.core.status import OrchestrationStatus


def _registry(fn) -> Registry:
    registry = Registry()
    registry.add_orchestrator(fn)
    return registry


def test_task_all_raises_the_first_failure_only_after_every_task_finished():
    def fan(ctx):
        try:
            yield ctx.task_all([ctx.call_activity("A"), ctx.call_activity("B")])
        except TaskFailedError as exc:
            return exc.details.message

    history = History("fan")
    registry = _registry(fan)
    history.run(registry)
    assert history.fail_task(1, message="A broke").run(registry).actions == []  # B still running
    done = history.fail_task(2, message="B broke").run(registry)
    assert done.completion.result.value == '"A broke"'


def test_task_any_returns_the_first_task_even_when_it_failed():
    def race(ctx):
        first = ctx.call_activity("A")
        second = ctx.call_activity("B")
        winner = yield ctx.task_any([first, second])
        return [winner is first, winner.is_failed]

    history = History("race")
    registry = _registry(race)
    history.run(registry)
    done = history.fail_task(1).complete_task(2, "1").run(registry)
    assert json.loads(done.completion.result.value) == [True, True]


def test_wait_with_timeout_on_a_buffered_event_creates_no_timer():
    def late_waiter(ctx):
        yield ctx.call_activity("Prepare")
        value = yield ctx.wait_for_external_event("Go", timeout=timedelta(minutes=1))
        return value

    history = History("late_waiter")
    registry = _registry(late_waiter)
    history.run(registry)
    history.raise_event("go", '"early"').run(registry)
    done = history.complete_task(1, None).run(registry)
    assert kinds(done) == [(2, "completeOrchestration")]
    assert done.completion.result.value == '"early"'


def test_suspension_recorded_in_past_events_is_replayed():
    def two_steps(ctx):
        yield ctx.call_activity("A")
        yield ctx.call_activity("B")

    history = History("two_steps")
    registry = _registry(two_steps)
    history.run(registry)
    assert history.suspend().complete_task(1, None).run(registry).status is OrchestrationStatus.SUSPENDED
    assert history.raise_event("ignored", None).run(registry).status is OrchestrationStatus.SUSPENDED
    resumed = history.resume().run(registry)
    assert kinds(resumed) == [(2, "scheduleTask")]


def test_composites_of_already_finished_tasks_complete_at_once():
    done: Task[int] = Task()
    done.set_result(5)
    assert WhenAllTask([done, done]).result == [5, 5]
    assert WhenAllTask([]).result == []
    assert WhenAnyTask([done]).result is done
