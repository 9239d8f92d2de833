"""The context an orchestrator function receives: its only way to do durable work.

Names follow the Azure Functions Python programming model (``call_activity``,
``task_all``, ``new_uuid``...) with the durabletask names as aliases (``when_all``,
``new_guid``...). Everything here is deterministic under replay: time comes from history,
ids from a per-execution counter, GUIDs from (instance id, time, counter).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..._proto import pb
from ..errors import ExternalEventTimeoutError, InvalidArgumentError
from .converter import from_json, to_json
from .retry import RetryOptions
from .state import ExecutionState
from .tasks import Task, WhenAllTask, WhenAnyTask

# Same namespace and name layout as the Durable Functions Python SDKs, so GUIDs made here
# equal theirs for the same instance, time and call order.
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
_GUID_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class _Unset:
    """Marks an argument the caller did not pass."""


_UNSET: Any = _Unset()


def _either_input(input: Any, input_: Any) -> Any:
    """``input`` (durabletask spelling) or ``input_`` (azure-functions-durable spelling)."""
    if input_ is _UNSET:
        return input
    if input is not None:
        raise InvalidArgumentError("pass the input once: either input= or input_=, not both")
    return input_


def _string_value(target: Any, value: str | None) -> None:
    if value is not None:
        target.value = value


class OrchestrationContext:
    """What orchestrator code may do. Yield the returned tasks to wait for them."""

    def __init__(self, state: ExecutionState) -> None:
        self._state = state

    # -- facts about this execution -----------------------------------------------------------
    @property
    def instance_id(self) -> str:
        return self._state.instance_id

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def version(self) -> str | None:
        """The version this instance was started with (None when unversioned)."""
        return self._state.version

    @property
    def parent_instance_id(self) -> str | None:
        return self._state.parent_instance_id

    @property
    def current_utc_datetime(self) -> datetime:
        """The replay-safe "now": the timestamp of the current episode's orchestratorStarted."""
        return self._state.current_utc_datetime

    @property
    def is_replaying(self) -> bool:
        return self._state.is_replaying

    def get_input(self) -> Any:
        """The orchestration input, parsed from JSON."""
        return from_json(self._state.input_json)

    def set_custom_status(self, value: Any) -> None:
        self._state.custom_status_json = to_json(value)

    def new_uuid(self) -> str:
        """A GUID that is the same on every replay (UUIDv5 of instance id, time and a counter)."""
        state = self._state
        name = f"{state.instance_id}_{state.current_utc_datetime.strftime(_GUID_TIME_FORMAT)}_{state.guid_counter}"
        state.guid_counter += 1
        return str(uuid.uuid5(_GUID_NAMESPACE, name))

    new_guid = new_uuid

    # -- activities ---------------------------------------------------------------------------
    def call_activity(
        self,
        name: str | Any,
        input: Any = None,
        *,
        retry_options: RetryOptions | None = None,
        input_: Any = _UNSET,
    ) -> Task[Any]:
        """Schedule activity ``name`` (a name or the activity function itself) with ``input``
        (``input_=`` as in azure-functions-durable works too)."""
        activity_name = _task_name(name, "activity")
        input_json = to_json(_either_input(input, input_))
        if retry_options is None:
            return self._schedule_activity(activity_name, input_json)
        return _RetryingCall(self._state, lambda: self._schedule_activity(activity_name, input_json), retry_options).task

    def call_activity_with_retry(
        self, name: str | Any, retry_options: RetryOptions, input: Any = None, *, input_: Any = _UNSET
    ) -> Task[Any]:
        return self.call_activity(name, _either_input(input, input_), retry_options=retry_options)

    def _schedule_activity(self, name: str, input_json: str | None) -> Task[Any]:
        action = pb.OrchestratorAction(id=self._state.next_id(), scheduleTask=pb.ScheduleTaskAction(name=name))
        _string_value(action.scheduleTask.input, input_json)
        task: Task[Any] = Task()
        self._state.add_action(action, task, f"activity '{name}'")
        return task

    # -- sub-orchestrations -------------------------------------------------------------------
    def call_sub_orchestrator(
        self,
        name: str | Any,
        input: Any = None,
        instance_id: str | None = None,
        *,
        version: str | None = None,
        retry_options: RetryOptions | None = None,
        input_: Any = _UNSET,
    ) -> Task[Any]:
        """Start orchestrator ``name`` as a child and wait for its output.

        The default child id is ``"{parent id}:{action id as 4 hex digits}"``; the default
        version is the worker's ``VersioningOptions.default_version``.
        """
        orchestrator_name = _task_name(name, "orchestrator")
        input_json = to_json(_either_input(input, input_))
        if version is None and self._state.versioning is not None:
            version = self._state.versioning.default_version
        first_id: list[str] = []

        def schedule() -> Task[Any]:
            action_id = self._state.next_id()
            if not first_id:  # retries reuse the first attempt's instance id
                first_id.append(instance_id or f"{self._state.instance_id}:{action_id:04x}")
            create = pb.CreateSubOrchestrationAction(instanceId=first_id[0], name=orchestrator_name)
            _string_value(create.input, input_json)
            _string_value(create.version, version or None)
            task: Task[Any] = Task()
            description = f"sub-orchestration '{orchestrator_name}' ({first_id[0]})"
            self._state.add_action(pb.OrchestratorAction(id=action_id, createSubOrchestration=create), task, description)
            return task

        if retry_options is None:
            return schedule()
        return _RetryingCall(self._state, schedule, retry_options).task

    def call_sub_orchestrator_with_retry(
        self,
        name: str | Any,
        retry_options: RetryOptions,
        input: Any = None,
        instance_id: str | None = None,
        *,
        version: str | None = None,
        input_: Any = _UNSET,
    ) -> Task[Any]:
        return self.call_sub_orchestrator(
            name, _either_input(input, input_), instance_id, version=version, retry_options=retry_options
        )

    # -- timers and events --------------------------------------------------------------------
    def create_timer(self, fire_at: datetime | timedelta) -> Task[Any]:
        """A durable timer firing at ``fire_at`` (naive datetimes are UTC) or after a delay."""
        state = self._state
        if isinstance(fire_at, timedelta):
            when = state.current_utc_datetime + fire_at
        elif isinstance(fire_at, datetime):
            when = fire_at if fire_at.tzinfo is not None else fire_at.replace(tzinfo=timezone.utc)
        else:
            raise InvalidArgumentError(f"create_timer needs a datetime or timedelta, not {type(fire_at).__name__}")
        action = pb.OrchestratorAction(id=state.next_id(), createTimer=pb.CreateTimerAction())
        action.createTimer.fireAt.FromDatetime(when)
        task: Task[Any] = Task()
        state.add_action(action, task, "timer")
        return task

    def wait_for_external_event(self, name: str, *, timeout: timedelta | None = None) -> Task[Any]:
        """Wait for an event raised to this instance (names match case-insensitively).

        With ``timeout``, a durable timer races the event; if it fires first the task fails
        with ExternalEventTimeoutError and a later event with that name stays buffered.
        """
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("wait_for_external_event needs a non-empty event name")
        event_task = self._state.wait_for_event(name)
        if timeout is None or event_task.is_complete:
            return event_task
        timer = self.create_timer(timeout)
        outcome: Task[Any] = Task()

        def on_event(done: Task[Any]) -> None:
            outcome.set_result(done.result)

        def on_timer(_: Task[Any]) -> None:
            if not outcome.is_complete:
                self._state.stop_waiting(name, event_task)
                outcome.set_exception(ExternalEventTimeoutError(name))

        event_task.add_done_listener(on_event)
        timer.add_done_listener(on_timer)
        return outcome

    def send_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Raise event ``name`` on another instance (fire and forget)."""
        action = pb.OrchestratorAction(
            id=self._state.next_id(),
            sendEvent=pb.SendEventAction(instance=pb.OrchestrationInstance(instanceId=instance_id), name=name),
        )
        _string_value(action.sendEvent.data, to_json(data))
        self._state.add_action(action, None, f"event '{name}'")

    # -- composition --------------------------------------------------------------------------
    def task_all(self, tasks: Sequence[Task[Any]]) -> Task[list[Any]]:
        """Wait for every task; the result is the list of their results, in order."""
        return WhenAllTask(tasks)

    def task_any(self, tasks: Sequence[Task[Any]]) -> Task[Task[Any]]:
        """Wait for the first task to finish; the result is that task."""
        return WhenAnyTask(tasks)

    when_all = task_all
    when_any = task_any

    # -- ending -------------------------------------------------------------------------------
    def continue_as_new(
        self,
        input: Any = None,
        *,
        new_version: str | None = None,
        preserve_unprocessed_events: bool = False,
        input_: Any = _UNSET,
    ) -> None:
        """Restart this instance with a fresh history and ``input`` once the code returns.

        ``preserve_unprocessed_events`` carries raised events nobody consumed over to the new
        execution; ``new_version`` starts it as another version.
        """
        self._state.request_continue_as_new(
            to_json(_either_input(input, input_)), new_version, preserve_unprocessed_events
        )


class _RetryingCall:
    """Runs attempts of a task with durable timers in between, per RetryOptions."""

    def __init__(self, state: ExecutionState, schedule: Any, options: RetryOptions) -> None:
        self._state = state
        self._schedule = schedule
        self._options = options
        self._attempts = 0
        self._first_attempt_at = state.current_utc_datetime
        self.task: Task[Any] = Task()
        self._attempt()

    def _attempt(self) -> None:
        self._attempts += 1
        self._schedule().add_done_listener(self._on_attempt_done)

    def _on_attempt_done(self, attempt: Task[Any]) -> None:
        if not attempt.is_failed:
            self.task.set_result(attempt.result)
            return
        delay = self._options.next_delay(self._attempts, self._first_attempt_at, self._state.current_utc_datetime)
        if delay is None:
            assert attempt.exception is not None
            self.task.set_exception(attempt.exception)
            return
        assert self._state.context is not None
        self._state.context.create_timer(delay).add_done_listener(lambda _: self._attempt())


def _task_name(value: Any, kind: str) -> str:
    name = value if isinstance(value, str) else getattr(value, "__name__", None)
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"{kind} name must be a non-empty string or a function, got {value!r}")
    return name
