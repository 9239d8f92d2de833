"""Tasks an orchestrator yields: one durable operation each, or a composition of them.

A task completes at most once, with a result or an exception. Listeners registered with
``add_done_listener`` run when it does; composites and retries are built on that, so the
replay loop only has to ask "is the task the generator waits on complete?".
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Task(Generic[T]):
    """Something an orchestrator can ``yield`` and get a result (or an exception) back from."""

    def __init__(self) -> None:
        self._complete = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._listeners: list[Callable[[Task[Any]], None]] = []

    @property
    def is_complete(self) -> bool:
        return self._complete

    @property
    def is_failed(self) -> bool:
        return self._complete and self._exception is not None

    @property
    def result(self) -> T:
        """The result; raises the task's exception if it failed, ValueError if still pending."""
        if not self._complete:
            raise ValueError("the task has not completed yet")
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    @property
    def exception(self) -> BaseException | None:
        return self._exception

    def add_done_listener(self, listener: Callable[["Task[Any]"], None]) -> None:
        """Call ``listener(task)`` on completion (now, if already complete)."""
        if self._complete:
            listener(self)
        else:
            self._listeners.append(listener)

    # The runtime (history handlers, composites) completes tasks; user code only reads them.
    def set_result(self, result: Any) -> None:
        self._finish(result, None)

    def set_exception(self, exception: BaseException) -> None:
        self._finish(None, exception)

    def _finish(self, result: Any, exception: BaseException | None) -> None:
        if self._complete:
            return
        self._complete, self._result, self._exception = True, result, exception
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(self)


class WhenAllTask(Task[list[Any]]):
    """Completes when every child has; the result lists the children's results in order.

    If a child fails, the first failure (in completion order) is raised once all children
    are done, as .NET ``Task.WhenAll`` and the official Python worker do.
    """

    def __init__(self, tasks: Sequence[Task[Any]]) -> None:
        super().__init__()
        self._tasks = list(tasks)
        self._remaining = len(self._tasks)
        self._first_failure: BaseException | None = None
        if not self._tasks:
            self.set_result([])
        for child in self._tasks:
            child.add_done_listener(self._on_child_done)

    def _on_child_done(self, child: Task[Any]) -> None:
        self._remaining -= 1
        if child.is_failed and self._first_failure is None:
            self._first_failure = child.exception
        if self._remaining == 0:
            if self._first_failure is not None:
                self.set_exception(self._first_failure)
            else:
                self.set_result([t._result for t in self._tasks])


class WhenAnyTask(Task[Task[Any]]):
    """Completes when the first child completes (or fails); the result is that child task."""

    def __init__(self, tasks: Sequence[Task[Any]]) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("task_any needs at least one task")
        for child in tasks:
            child.add_done_listener(self.set_result)
