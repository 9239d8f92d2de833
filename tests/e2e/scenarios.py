"""Orchestrators and activities in the official durabletask style, shared by the e2e tests
and the benchmark-like scenarios."""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from durabletask import task

# -- activities ----------------------------------------------------------------------------


def say_hello(ctx: Any, name: str) -> str:
    return f"Hello {name}!"


def double(ctx: Any, value: int) -> int:
    return value * 2


def explode(ctx: Any, message: str) -> None:
    raise ValueError(message)


class FlakyCounter:
    """Fails the first ``failures`` calls per key (shared across worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def hit(self, key: str) -> int:
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            return self.calls[key]


FLAKY = FlakyCounter()


def flaky(ctx: Any, key: str) -> str:
    attempt = FLAKY.hit(key)
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return f"ok after {attempt}"


ACTIVITIES = [say_hello, double, explode, flaky]

# -- orchestrators -------------------------------------------------------------------------


def hello_sequence(ctx: task.OrchestrationContext, _: Any) -> Any:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield ctx.call_activity(say_hello, input=city)))
    return results


def fan_out_fan_in(ctx: task.OrchestrationContext, count: int) -> Any:
    values = yield task.when_all([ctx.call_activity(double, input=i) for i in range(count)])
    return sum(values)


def sleepy(ctx: task.OrchestrationContext, seconds: float) -> Any:
    yield ctx.create_timer(timedelta(seconds=seconds))
    return "woke up"


def approval(ctx: task.OrchestrationContext, timeout_seconds: float | None) -> Any:
    ctx.set_custom_status({"stage": "waiting"})
    approve = ctx.wait_for_external_event("Approve")
    if timeout_seconds is None:
        answer = yield approve
        return f"approved: {answer}"
    timeout = ctx.create_timer(timedelta(seconds=timeout_seconds))
    winner = yield task.when_any([approve, timeout])
    if winner is timeout:
        return "timed out"
    return f"approved: {approve.get_result()}"


def child(ctx: task.OrchestrationContext, value: int) -> Any:
    doubled = yield ctx.call_activity(double, input=value)
    return doubled + 1


def failing_child(ctx: task.OrchestrationContext, message: str) -> Any:
    yield ctx.call_activity(explode, input=message)


def parent(ctx: task.OrchestrationContext, value: int) -> Any:
    first = yield ctx.call_sub_orchestrator(child, input=value)
    second = yield ctx.call_sub_orchestrator(child, input=first, instance_id=f"{ctx.instance_id}-named")
    try:
        yield ctx.call_sub_orchestrator(failing_child, input="child broke")
    except task.TaskFailedError as exc:
        return {"results": [first, second], "caught": exc.details.message}
    return {"results": [first, second], "caught": None}


def counter(ctx: task.OrchestrationContext, value: int) -> Any:
    if value < 3:
        yield ctx.call_activity(double, input=value)
        ctx.continue_as_new(value + 1)
        return None
    return value


def with_retries(ctx: task.OrchestrationContext, key: str) -> Any:
    policy = task.RetryPolicy(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=3)
    return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))


def waits_forever(ctx: task.OrchestrationContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("Go")
    return value


def fails(ctx: task.OrchestrationContext, message: str) -> Any:
    yield ctx.call_activity(explode, input=message)


ORCHESTRATORS = [
    hello_sequence, fan_out_fan_in, sleepy, approval, child, failing_child, parent, counter,
    with_retries, waits_forever, fails,
]


def versioned(tag: str) -> Any:
    """An orchestrator named "Versioned" that reports which code ran it."""

    def orchestrator(ctx: task.OrchestrationContext, _: Any) -> Any:
        return {"code": tag, "instance_version": ctx.version}

    orchestrator.__name__ = "Versioned"
    return orchestrator


def fails_first_time(ctx: Any, key: str) -> str:
    attempt = FLAKY.hit(key)
    if attempt == 1:
        raise RuntimeError("the first attempt fails")
    return f"ok on attempt {attempt}"


def rewindable(ctx: task.OrchestrationContext, key: str) -> Any:
    first = yield ctx.call_activity(say_hello, input="before")
    second = yield ctx.call_activity(fails_first_time, input=key)
    return [first, second]


ACTIVITIES.append(fails_first_time)
ORCHESTRATORS.append(rewindable)
