"""The activity runner: def and async def activities, JSON in/out, clear failures."""
from __future__ import annotations

import json
from dataclasses import dataclass

from azure_durable_ext.core.activity import (
    ActivityContext,
    ActivityResult,
    execute_activity,
    execute_activity_async,
    is_async_activity,
)
from azure_durable_ext.core.orchestration import Registry

CONTEXT = ActivityContext(instance_id="inst-1", task_id=3, name="any")


@dataclass
class Greeting:
    city: str
    text: str


def say_hello(city):
    return Greeting(city, f"Hello {city}!")


def with_context(context, value):
    return {"instance": context.instance_id, "task": context.task_id, "value": value}


def no_arguments():
    return "pong"


async def async_double(value):
    return value * 2


def fails(value):
    try:
        int(value)
    except ValueError as exc:
        raise RuntimeError("could not parse") from exc


def _registry() -> Registry:
    registry = Registry()
    for fn in (say_hello, with_context, no_arguments, async_double, fails):
        registry.add_activity(fn)
    registry.add_activity(lambda value: {value}, "ReturnsSet")
    return registry


def test_sync_activity_with_json_in_and_dataclass_out():
    result = execute_activity(_registry(), "SAY_HELLO", '"Tokyo"', CONTEXT)
    assert isinstance(result, ActivityResult) and result.succeeded
    assert json.loads(result.output) == {"city": "Tokyo", "text": "Hello Tokyo!"}


def test_two_parameter_activity_receives_the_context_and_zero_parameters_work():
    result = execute_activity(_registry(), "with_context", "[1, 2]", CONTEXT)
    assert json.loads(result.output) == {"instance": "inst-1", "task": 3, "value": [1, 2]}
    assert execute_activity(_registry(), "no_arguments", None, CONTEXT).output == '"pong"'


async def test_async_activity_returns_an_awaitable_and_the_async_helper_awaits_it():
    registry = _registry()
    assert is_async_activity(registry, "async_double") and not is_async_activity(registry, "say_hello")
    pending = execute_activity(registry, "async_double", "21", CONTEXT)
    assert not isinstance(pending, ActivityResult)
    assert (await pending).output == "42"
    assert (await execute_activity_async(registry, "async_double", "2", CONTEXT)).output == "4"
    assert (await execute_activity_async(registry, "say_hello", '"x"', CONTEXT)).succeeded


def test_unregistered_activity_is_a_clear_failure():
    result = execute_activity(_registry(), "Missing", None, CONTEXT)
    assert result.failure.error_type == "ActivityNotRegisteredError"
    assert result.failure.message.startswith("activity 'Missing' is not registered (registered activities: ")


def test_raising_activity_reports_type_message_stack_and_inner():
    result = execute_activity(_registry(), "fails", '"abc"', CONTEXT)
    failure = result.failure
    assert (failure.error_type, failure.message) == ("RuntimeError", "could not parse")
    assert "int(value)" in failure.stack_trace
    assert failure.inner is not None and failure.inner.error_type == "ValueError"


def test_bad_input_json_and_unserialisable_output_are_failures():
    assert execute_activity(_registry(), "say_hello", "{not json", CONTEXT).failure.error_type == "SerializationError"
    assert execute_activity(_registry(), "ReturnsSet", "1", CONTEXT).failure.error_type == "SerializationError"


def test_results_convert_to_history_events():
    ok = ActivityResult(output='"x"').to_event(7)
    assert ok.taskCompleted.taskScheduledId == 7 and ok.taskCompleted.result.value == '"x"'
    none = ActivityResult().to_event(8)
    assert not none.taskCompleted.HasField("result")
    failed = execute_activity(_registry(), "Missing", None, CONTEXT).to_event(9)
    assert failed.taskFailed.taskScheduledId == 9
    assert failed.taskFailed.failureDetails.errorType == "ActivityNotRegisteredError"
