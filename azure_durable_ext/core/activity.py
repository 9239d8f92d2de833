"""The activity runner: name + JSON input in, JSON output or failure details out. No I/O.

``def`` activities run inside ``execute_activity``; for ``async def`` ones it returns a
coroutine the caller awaits (the runner itself never touches an event loop), or use
``execute_activity_async`` which does either. Callers that want sync activities off their
event loop can check ``RegisteredActivity.is_async`` first.
"""
from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from .._proto import pb
from .errors import ActivityNotRegisteredError
from .model import FailureDetails
from .orchestration.converter import from_json, to_json
from .orchestration.failures import failure_from_exception
from .orchestration.registry import RegisteredActivity, Registry


@dataclass(frozen=True, slots=True)
class ActivityContext:
    """What an activity taking two parameters gets as its first one."""

    instance_id: str
    task_id: int
    name: str
    version: str | None = None

    # durabletask's ActivityContext spells it this way.
    @property
    def orchestration_id(self) -> str:
        return self.instance_id


@dataclass(frozen=True, slots=True)
class ActivityResult:
    """The outcome of one activity call: ``output`` JSON (may be None) or ``failure``."""

    output: str | None = None
    failure: FailureDetails | None = None

    @property
    def succeeded(self) -> bool:
        return self.failure is None

    def to_event(self, task_id: int) -> pb.HistoryEvent:
        """The taskCompleted / taskFailed history event reporting this result for ``task_id``."""
        if self.failure is not None:
            return pb.HistoryEvent(
                eventId=-1,
                taskFailed=pb.TaskFailedEvent(taskScheduledId=task_id, failureDetails=self.failure.to_pb()),
            )
        event = pb.HistoryEvent(eventId=-1, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=task_id))
        if self.output is not None:
            event.taskCompleted.result.value = self.output
        return event


def execute_activity(
    registry: Registry, name: str, input_json: str | None, context: ActivityContext
) -> ActivityResult | Awaitable[ActivityResult]:
    """Run activity ``name``: an ActivityResult for ``def`` ones, an awaitable of one for
    ``async def`` ones. Never raises for the activity's own errors: they become failures."""
    try:
        activity = registry.get_activity(name)
        args = _arguments(activity, from_json(input_json), context)
    except Exception as exc:  # not registered, or input that is not JSON
        return ActivityResult(failure=failure_from_exception(exc))
    if activity.is_async:
        return _await_activity(activity, args)
    try:
        output = activity.fn(*args)
        if inspect.isawaitable(output):  # a plain def that returned a coroutine
            return _await_output(output)
        return ActivityResult(output=to_json(output))
    except Exception as exc:
        return ActivityResult(failure=failure_from_exception(exc))


async def execute_activity_async(
    registry: Registry, name: str, input_json: str | None, context: ActivityContext
) -> ActivityResult:
    """``execute_activity`` for callers on an event loop: awaits async activities."""
    outcome = execute_activity(registry, name, input_json, context)
    if isinstance(outcome, ActivityResult):
        return outcome
    return await outcome


def is_async_activity(registry: Registry, name: str) -> bool:
    """Whether ``name`` is registered as an ``async def`` activity (False when unknown)."""
    found = registry.find_activity(name)
    return found is not None and found.is_async


def _arguments(activity: RegisteredActivity, value: Any, context: ActivityContext) -> tuple[Any, ...]:
    return ((), (value,), (context, value))[activity.arity]


async def _await_activity(activity: RegisteredActivity, args: tuple[Any, ...]) -> ActivityResult:
    try:
        return ActivityResult(output=to_json(await activity.fn(*args)))
    except Exception as exc:
        return ActivityResult(failure=failure_from_exception(exc))


async def _await_output(output: Awaitable[Any]) -> ActivityResult:
    try:
        return ActivityResult(output=to_json(await output))
    except Exception as exc:
        return ActivityResult(failure=failure_from_exception(exc))


__all__ = [
    "ActivityContext",
    "ActivityNotRegisteredError",
    "ActivityResult",
    "execute_activity",
    "execute_activity_async",
    "is_async_activity",
]
