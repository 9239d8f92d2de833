"""Retries: durable timers between attempts, attempt limits, backoff, final failure."""
from __future__ import annotations

from datetime import timedelta

import pytest
from orch_history import History, kinds

from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.orchestration import Registry, RetryOptions
from azure_durable_ext.core.status import OrchestrationStatus

OPTIONS = RetryOptions(timedelta(seconds=5), max_number_of_attempts=3, backoff_coefficient=2.0)


def _registry(fn) -> Registry:
    registry = Registry()
    registry.add_orchestrator(fn)
    return registry


def flaky_caller(ctx):
    result = yield ctx.call_activity("Flaky", "in", retry_options=OPTIONS)
    return result


class TestRetryOptions:
    def test_delays_grow_by_the_backoff_and_stop_after_max_attempts(self):
        from datetime import datetime, timezone

        t = datetime(2026, 1, 1, tzinfo=timezone.utc)
        assert OPTIONS.next_delay(1, t, t) == timedelta(seconds=5)
        assert OPTIONS.next_delay(2, t, t) == timedelta(seconds=10)
        assert OPTIONS.next_delay(3, t, t) is None

    def test_max_retry_interval_caps_and_retry_timeout_stops(self):
        from datetime import datetime, timezone

        t = datetime(2026, 1, 1, tzinfo=timezone.utc)
        capped = RetryOptions(timedelta(seconds=5), 10, 3.0, max_retry_interval=timedelta(seconds=20))
        assert capped.next_delay(3, t, t) == timedelta(seconds=20)
        limited = RetryOptions(timedelta(seconds=5), 10, retry_timeout=timedelta(minutes=1))
        assert limited.next_delay(1, t, t + timedelta(seconds=59)) == timedelta(seconds=5)
        assert limited.next_delay(1, t, t + timedelta(minutes=1)) is None

    def test_azure_functions_style_milliseconds(self):
        assert RetryOptions.from_milliseconds(5000, 3) == RetryOptions(timedelta(seconds=5), 3)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"first_retry_interval": timedelta(0), "max_number_of_attempts": 1},
            {"first_retry_interval": timedelta(seconds=1), "max_number_of_attempts": 0},
            {"first_retry_interval": timedelta(seconds=1), "max_number_of_attempts": 2, "backoff_coefficient": 0.5},
            {"first_retry_interval": timedelta(seconds=1), "max_number_of_attempts": 2, "retry_timeout": timedelta(-1)},
        ],
    )
    def test_bad_options_are_refused(self, kwargs):
        with pytest.raises(InvalidArgumentError):
            RetryOptions(**kwargs)


class TestRetriedActivity:
    def test_timer_between_attempts_then_success(self):
        history = History("flaky_caller")
        registry = _registry(flaky_caller)
        assert kinds(history.run(registry)) == [(1, "scheduleTask")]
        after_failure = history.fail_task(1).run(registry)
        assert kinds(after_failure) == [(2, "createTimer")]
        assert history.timers[2] - history.now == timedelta(seconds=4)  # 5 s after the failure's episode
        retried = history.fire_timer(2).run(registry)
        assert kinds(retried) == [(3, "scheduleTask")]
        assert retried.actions[0].scheduleTask.input.value == '"in"'
        done = history.complete_task(3, '"ok"').run(registry)
        assert done.completion.result.value == '"ok"'

    def test_final_failure_after_max_attempts_carries_the_last_inner_failure(self):
        history = History("flaky_caller")
        registry = _registry(flaky_caller)
        history.run(registry)
        history.fail_task(1, message="first").run(registry)
        history.fire_timer(2).run(registry)
        second_wait = history.fail_task(3, message="second").run(registry)
        assert kinds(second_wait) == [(4, "createTimer")]
        history.fire_timer(4).run(registry)
        done = history.fail_task(5, "TimeoutError", "third").run(registry)
        assert done.status is OrchestrationStatus.FAILED
        assert done.failure.error_type == "TaskFailedError"
        assert (done.failure.inner.error_type, done.failure.inner.message) == ("TimeoutError", "third")

    def test_whole_retry_history_replays_in_one_episode(self):
        history = History("flaky_caller")
        registry = _registry(flaky_caller)
        history.run(registry)
        history.fail_task(1).run(registry)
        history.fire_timer(2).run(registry)
        # A fresh executor replays failure, timer and second attempt from history alone.
        done = history.complete_task(3, "7").run(registry)
        assert kinds(done) == [(4, "completeOrchestration")]

    def test_sub_orchestration_retry_reuses_the_instance_id(self):
        def parent(ctx):
            yield ctx.call_sub_orchestrator_with_retry("Child", OPTIONS, None)

        history = History("parent", instance_id="p")
        registry = _registry(parent)
        first = history.run(registry)
        history.fail_sub(1).run(registry)
        retried = history.fire_timer(2).run(registry)
        assert first.actions[0].createSubOrchestration.instanceId == "p:0001"
        assert retried.actions[0].createSubOrchestration.instanceId == "p:0001"
