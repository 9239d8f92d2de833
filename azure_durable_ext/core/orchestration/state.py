"""The replay state of one orchestration execution, shared by the context and the handlers.

Rules of this module:
- Action ids come from one counter per execution, in the order the orchestrator code asks
  for work; a history confirmation (taskScheduled, timerCreated, ...) carries the same id as
  its ``eventId`` and removes the action from ``actions`` (it is no longer new).
- ``tasks`` maps an action id to the task awaiting its result event (taskScheduledId /
  timerId point back to it).
- Raised events are matched by case-folded name; an event nobody waits for is buffered
  until a wait asks for it (or carried over by continue-as-new).
- Once the execution has a completion, results no longer resume the generator.
"""
from __future__ import annotations

import types
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..._proto import pb
from ..errors import NonDeterminismError, TaskFailedError
from ..model import FailureDetails
from ..versions import VersioningOptions
from .converter import from_json, to_json
from .failures import failure_from_exception
from .registry import RegisteredOrchestrator
from .tasks import Task

if TYPE_CHECKING:  # the context wraps this state; it is attached by the executor
    from .context import OrchestrationContext

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(slots=True)
class PendingTask:
    """A task waiting for the result event of action ``action_id``."""

    task: Task[Any]
    description: str


class ExecutionState:
    """Mutable state of one execution while its history is replayed."""

    def __init__(self, instance_id: str, versioning: VersioningOptions | None) -> None:
        self.instance_id = instance_id
        self.versioning = versioning
        self.orchestrator: RegisteredOrchestrator | None = None
        self.context: OrchestrationContext | None = None
        self.name = ""
        self.version: str | None = None
        self.input_json: str | None = None
        self.parent_instance_id: str | None = None
        self.current_utc_datetime = _EPOCH
        self.is_replaying = True
        self.actions: dict[int, pb.OrchestratorAction] = {}
        self.tasks: dict[int, PendingTask] = {}
        self.buffered_events: dict[str, list[tuple[int, pb.HistoryEvent]]] = {}
        self._arrivals = 0
        self.waiters: dict[str, list[Task[Any]]] = {}
        self.custom_status_json: str | None = None
        self.completion: pb.OrchestratorAction | None = None
        self.suspended = False
        self.held_events: list[pb.HistoryEvent] = []
        self.guid_counter = 0
        self._sequence = 0
        self._generator: Generator[Any, Any, Any] | None = None
        self._awaited: Task[Any] | None = None
        self._continue_as_new: tuple[str | None, str | None, bool] | None = None

    # -- actions -------------------------------------------------------------------------------
    def next_id(self) -> int:
        self._sequence += 1
        return self._sequence

    def add_action(self, action: pb.OrchestratorAction, task: Task[Any] | None, description: str) -> None:
        self.actions[action.id] = action
        if task is not None:
            self.tasks[action.id] = PendingTask(task, description)

    def confirm(self, event: pb.HistoryEvent, kind: str, name: str | None) -> None:
        """Match a history confirmation against the action the code produced for its id."""
        action_id = event.eventId
        history_kind = event.WhichOneof("eventType")
        action = self.actions.pop(action_id, None)
        if action is None:
            ended = (
                f" (it completed the orchestration at step {self.completion.id}: completeOrchestration)"
                if self.completion is not None
                else ""
            )
            raise NonDeterminismError(
                f"history step {action_id}: the history has {history_kind}"
                f"{_named(name)} but the orchestrator code produced no action with id {action_id}{ended}"
            )
        actual_kind = action.WhichOneof("orchestratorActionType")
        if actual_kind != kind:
            raise NonDeterminismError(
                f"history step {action_id}: the history has {history_kind}{_named(name)} "
                f"(a {kind} action) but the orchestrator code produced a {actual_kind} action"
                f"{_named(_action_name(action))}"
            )
        actual_name = _action_name(action)
        if name is not None and actual_name is not None and actual_name.casefold() != name.casefold():
            raise NonDeterminismError(
                f"history step {action_id}: the history has {history_kind} '{name}' but the "
                f"orchestrator code produced {kind} '{actual_name}'"
            )

    # -- results -------------------------------------------------------------------------------
    def resolve(self, action_id: int, result_json: str | None) -> None:
        pending = self.tasks.pop(action_id, None)
        if pending is None or self.is_done:
            return  # a duplicate or late result: nothing waits for it any more
        pending.task.set_result(from_json(result_json))

    def reject(self, action_id: int, details: FailureDetails) -> None:
        pending = self.tasks.pop(action_id, None)
        if pending is None or self.is_done:
            return
        message = f"{pending.description} (task {action_id}) failed: {details.message}"
        pending.task.set_exception(TaskFailedError(message, details))

    # -- external events -----------------------------------------------------------------------
    def receive_event(self, event: pb.HistoryEvent) -> None:
        key = event.eventRaised.name.casefold()
        waiting = self.waiters.get(key)
        if waiting and not self.is_done:
            task = waiting.pop(0)
            if not waiting:
                del self.waiters[key]
            raised = event.eventRaised
            task.set_result(from_json(raised.input.value if raised.HasField("input") else None))
        else:
            self._arrivals += 1
            self.buffered_events.setdefault(key, []).append((self._arrivals, event))

    def wait_for_event(self, name: str) -> Task[Any]:
        task: Task[Any] = Task()
        key = name.casefold()
        buffered = self.buffered_events.get(key)
        if buffered:
            raised = buffered.pop(0)[1].eventRaised
            if not buffered:
                del self.buffered_events[key]
            task.set_result(from_json(raised.input.value if raised.HasField("input") else None))
        else:
            self.waiters.setdefault(key, []).append(task)
        return task

    def stop_waiting(self, name: str, task: Task[Any]) -> None:
        key = name.casefold()
        waiting = self.waiters.get(key, [])
        if task in waiting:
            waiting.remove(task)
            if not waiting:
                del self.waiters[key]

    # -- running the orchestrator --------------------------------------------------------------
    def start(self) -> None:
        """Call the orchestrator function; a generator is then driven by ``resume``."""
        assert self.orchestrator is not None and self.context is not None
        context = self.context
        fn = self.orchestrator.fn
        try:
            outcome = fn(context, from_json(self.input_json)) if self.orchestrator.takes_input else fn(context)
        except Exception as exc:  # user code failed before its first yield
            self.fail(failure_from_exception(exc))
            return
        if isinstance(outcome, types.GeneratorType):
            self._generator = outcome
            self._step(lambda: next(outcome))
        elif self._continue_as_new is None:
            self.complete(outcome)

    def resume(self) -> None:
        """Feed completed tasks back into the generator until it waits on an open one."""
        while not self.is_done and self._awaited is not None and self._awaited.is_complete:
            done, generator = self._awaited, self._generator
            assert generator is not None
            if done.is_failed:
                error = done.exception
                assert error is not None
                self._step(lambda: generator.throw(error))
            else:
                self._step(lambda: generator.send(done.result))

    def _step(self, advance: Any) -> None:
        try:
            yielded = advance()
        except StopIteration as stop:
            self._awaited = None
            if self._continue_as_new is None:
                self.complete(stop.value)
            return
        except Exception as exc:
            self._awaited = None
            self.fail(failure_from_exception(exc))
            return
        if self._continue_as_new is not None:
            self._awaited = None
            return
        if not isinstance(yielded, Task):
            self._awaited = None
            self.fail(
                failure_from_exception(
                    TypeError(
                        f"orchestrator yielded a {type(yielded).__name__}; yield only tasks from the "
                        "context (call_activity, create_timer, task_all, ...)"
                    )
                )
            )
            return
        self._awaited = yielded

    # -- completion ----------------------------------------------------------------------------
    def _finish(self, complete: pb.CompleteOrchestrationAction) -> None:
        if self.completion is None:
            self.completion = pb.OrchestratorAction(id=self.next_id(), completeOrchestration=complete)

    def complete(self, output: Any) -> None:
        try:
            result = to_json(output)
        except Exception as exc:
            self.fail(failure_from_exception(exc))
            return
        complete = pb.CompleteOrchestrationAction(orchestrationStatus=pb.ORCHESTRATION_STATUS_COMPLETED)
        if result is not None:
            complete.result.value = result
        self._finish(complete)

    def fail(self, details: FailureDetails) -> None:
        self._finish(
            pb.CompleteOrchestrationAction(
                orchestrationStatus=pb.ORCHESTRATION_STATUS_FAILED, failureDetails=details.to_pb()
            )
        )

    def terminate(self, reason_json: str | None) -> None:
        complete = pb.CompleteOrchestrationAction(orchestrationStatus=pb.ORCHESTRATION_STATUS_TERMINATED)
        if reason_json is not None:
            complete.result.value = reason_json
        self._finish(complete)

    def request_continue_as_new(self, input_json: str | None, new_version: str | None, carry_events: bool) -> None:
        """Record continue-as-new; the completion action is built at the end of the episode so
        it can carry events that arrive later in the same batch."""
        if self.completion is None and self._continue_as_new is None:
            self._continue_as_new = (input_json, new_version, carry_events)

    def finish_continue_as_new(self) -> None:
        if self._continue_as_new is None or self.completion is not None:
            return
        input_json, new_version, carry_events = self._continue_as_new
        complete = pb.CompleteOrchestrationAction(orchestrationStatus=pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW)
        if input_json is not None:
            complete.result.value = input_json
        if new_version:
            complete.newVersion.value = new_version
        if carry_events:
            for _, event in sorted(
                (entry for entries in self.buffered_events.values() for entry in entries), key=lambda e: e[0]
            ):
                carried = pb.HistoryEvent(eventId=-1, eventRaised=event.eventRaised)
                carried.timestamp.CopyFrom(event.timestamp)
                complete.carryoverEvents.append(carried)
        self._finish(complete)

    @property
    def is_done(self) -> bool:
        """The execution has completed, failed, been terminated or asked to continue as new."""
        return self.completion is not None or self._continue_as_new is not None


def _named(name: str | None) -> str:
    return f" '{name}'" if name else ""


_ACTION_NAMES = {
    "scheduleTask": lambda a: a.scheduleTask.name,
    "createSubOrchestration": lambda a: a.createSubOrchestration.name,
    "sendEvent": lambda a: a.sendEvent.name,
}


def _action_name(action: pb.OrchestratorAction) -> str | None:
    getter = _ACTION_NAMES.get(action.WhichOneof("orchestratorActionType") or "")
    return getter(action) if getter is not None else None
