"""The e2e scenarios written for our own in-process executor (core.orchestration)."""
from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from azure_durable_ext.core.errors import ExternalEventTimeoutError, TaskFailedError
from azure_durable_ext.core.orchestration import Registry, RetryOptions


def say_hello(name: str) -> str:
    return f"Hello {name}!"


def double(value: int) -> int:
    return value * 2


def explode(message: str) -> None:
    raise ValueError(message)


_flaky_lock = threading.Lock()
_flaky_calls: dict[str, int] = {}


def flaky(key: str) -> str:
    with _flaky_lock:
        _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
        attempt = _flaky_calls[key]
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return f"ok after {attempt}"


def hello_sequence(ctx: Any) -> Any:
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield ctx.call_activity("say_hello", city)))
    return results


def fan_out_fan_in(ctx: Any) -> Any:
    values = yield ctx.task_all([ctx.call_activity("double", i) for i in range(ctx.get_input())])
    return sum(values)


def sleepy(ctx: Any) -> Any:
    yield ctx.create_timer(timedelta(seconds=ctx.get_input()))
    return "woke up"


def approval(ctx: Any) -> Any:
    ctx.set_custom_status({"stage": "waiting"})
    timeout = ctx.get_input()
    try:
        answer = yield ctx.wait_for_external_event(
            "Approve", timeout=None if timeout is None else timedelta(seconds=timeout)
        )
    except ExternalEventTimeoutError:
        return "timed out"
    return f"approved: {answer}"


def child(ctx: Any) -> Any:
    return (yield ctx.call_activity("double", ctx.get_input())) + 1


def failing_child(ctx: Any) -> Any:
    yield ctx.call_activity("explode", ctx.get_input())


def parent(ctx: Any) -> Any:
    first = yield ctx.call_sub_orchestrator("child", ctx.get_input())
    second = yield ctx.call_sub_orchestrator("child", first, f"{ctx.instance_id}-named")
    try:
        yield ctx.call_sub_orchestrator("failing_child", "child broke")
    except TaskFailedError as exc:
        return {"results": [first, second], "caught": str(exc)}
    return {"results": [first, second], "caught": None}


def counter(ctx: Any) -> Any:
    value = ctx.get_input()
    if value < 3:
        yield ctx.call_activity("double", value)
        ctx.continue_as_new(value + 1)
        return None
    return value


def with_retries(ctx: Any) -> Any:
    options = RetryOptions(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=3)
    return (yield ctx.call_activity("flaky", ctx.get_input(), retry_options=options))


def waits_forever(ctx: Any) -> Any:
    return (yield ctx.wait_for_external_event("Go"))


def fails(ctx: Any) -> Any:
    yield ctx.call_activity("explode", ctx.get_input())


ORCHESTRATORS = [
    hello_sequence, fan_out_fan_in, sleepy, approval, child, failing_child, parent, counter,
    with_retries, waits_forever, fails,
]
ACTIVITIES = [say_hello, double, explode, flaky]


def scenario_registry() -> Registry:
    registry = Registry()
    for fn in ORCHESTRATORS:
        registry.add_orchestrator(fn)
    for fn in ACTIVITIES:
        registry.add_activity(fn)
    return registry


def versioned(tag: str) -> Any:
    """Orchestrator code that reports which version of the code ran it; it waits for "Go"."""

    def orchestrator(ctx: Any) -> Any:
        if ctx.get_input() == "wait":
            yield ctx.wait_for_external_event("Go")
        return {"code": tag, "instance_version": ctx.version}

    return orchestrator


def waits_on_child(ctx: Any) -> Any:
    return (yield ctx.call_sub_orchestrator("waits_forever", None, f"{ctx.instance_id}-child"))


ORCHESTRATORS.append(waits_on_child)
