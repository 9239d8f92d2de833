"""Which orchestrator and activity functions an app offers, by name (and version).

Names match case-insensitively, as Azure Functions function names do ("SayHello" and
"sayhello" are one function). Orchestrators may be registered once per version, so one app
can serve HelloOrchestration 1.0.0 and 2.0.0 side by side while old instances drain.

Orchestrator lookup for (name, version):
1. a registration with exactly that version (Durable version equality: "1.0.0" == "1.0.0",
   string versions compare case-insensitively);
2. else an unversioned registration of the name, which serves any version;
3. else OrchestratorNotRegisteredError naming the registered versions.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ActivityNotRegisteredError, InvalidArgumentError, OrchestratorNotRegisteredError
from ..task_name import TaskName
from ..versions import compare_versions


def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (varargs count as many)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    count = 0
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return 2
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _function_name(fn: Callable[..., Any], name: str | None, kind: str) -> str:
    resolved = name if name is not None else getattr(fn, "__name__", None)
    if not isinstance(resolved, str) or not resolved.strip():
        raise InvalidArgumentError(f"{kind} needs a non-empty name (got {resolved!r})")
    return resolved


@dataclass(frozen=True, slots=True)
class RegisteredOrchestrator:
    """An orchestrator function and how to call it.

    ``fn(context)`` (Azure Functions style, input via ``context.get_input()``) or
    ``fn(context, input)`` (durabletask style) are both accepted.
    """

    name: str
    version: str | None
    fn: Callable[..., Any]
    takes_input: bool


@dataclass(frozen=True, slots=True)
class RegisteredActivity:
    """An activity function: ``fn(input)``, ``fn(context, input)`` or ``fn()``; def or async def."""

    name: str
    fn: Callable[..., Any]
    arity: int
    is_async: bool


class Registry:
    """Orchestrators by (name, version) and activities by name.

    An app hands its registry to tools (``durable-ext replay-check --app``) by exposing, at
    module level, either a Registry or any object with a ``durable_registry`` attribute
    holding one (what ``functions.DurableApp`` provides).
    """

    def __init__(self) -> None:
        self._orchestrators: dict[str, list[RegisteredOrchestrator]] = {}
        self._activities: dict[str, RegisteredActivity] = {}

    # -- registration ------------------------------------------------------------------------
    def add_orchestrator(
        self, fn: Callable[..., Any], name: str | None = None, version: str | None = None
    ) -> str:
        """Register ``fn`` as orchestrator ``name`` (default: the function's name); returns the name."""
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise InvalidArgumentError(
                f"orchestrator {getattr(fn, '__name__', fn)!r} is async; orchestrators are generator "
                "functions that yield tasks (result = yield context.call_activity(...))"
            )
        resolved = _function_name(fn, name, "an orchestrator")
        version = version or None
        entries = self._orchestrators.setdefault(resolved.casefold(), [])
        for existing in entries:
            if _same_version(existing.version, version):
                raise InvalidArgumentError(
                    f"orchestrator {resolved!r} version {version or '(unversioned)'!r} is already registered"
                )
        entries.append(RegisteredOrchestrator(resolved, version, fn, _positional_arity(fn) >= 2))
        # Kept oldest first, so listing the versions (apps do it per request) needs no sort.
        entries.sort(key=lambda entry: _VersionKey(entry.version))
        return resolved

    def add_activity(self, fn: Callable[..., Any], name: str | None = None) -> str:
        """Register ``fn`` as activity ``name`` (default: the function's name); returns the name."""
        resolved = _function_name(fn, name, "an activity")
        key = resolved.casefold()
        if key in self._activities:
            raise InvalidArgumentError(f"activity {resolved!r} is already registered")
        self._activities[key] = RegisteredActivity(
            resolved, fn, min(_positional_arity(fn), 2), inspect.iscoroutinefunction(fn)
        )
        return resolved

    def merge(self, other: "Registry") -> None:
        """Add every registration of ``other`` (duplicates are refused as usual)."""
        for entry in other.iter_orchestrators():
            self.add_orchestrator(entry.fn, entry.name, entry.version)
        for activity in other.iter_activities():
            self.add_activity(activity.fn, activity.name)

    # -- lookup ------------------------------------------------------------------------------
    def find_orchestrator(self, name: str, version: str | None = None) -> RegisteredOrchestrator | None:
        """The orchestrator serving (name, version) by the rules above, or None."""
        entries = self._orchestrators.get(name.casefold(), [])
        version = version or None
        for entry in entries:
            if entry.version is not None and _same_version(entry.version, version):
                return entry
        for entry in entries:
            if entry.version is None:
                return entry
        return None

    def get_orchestrator(self, name: str, version: str | None = None) -> RegisteredOrchestrator:
        """Like ``find_orchestrator`` but raises OrchestratorNotRegisteredError with the details."""
        found = self.find_orchestrator(name, version)
        if found is not None:
            return found
        versions = self.orchestrator_versions(name)
        if not versions:
            known = ", ".join(sorted({e.name for e in self.iter_orchestrators()})) or "none"
            raise OrchestratorNotRegisteredError(
                f"orchestrator '{name}' is not registered (registered orchestrators: {known})"
            )
        listed = ", ".join(v or "(unversioned)" for v in versions)
        raise OrchestratorNotRegisteredError(
            f"orchestrator '{name}' version '{version or ''}' is not registered (registered versions: {listed})"
        )

    def orchestrator_versions(self, name: str) -> list[str | None]:
        """Registered versions of ``name``, oldest first (None = unversioned)."""
        return [e.version for e in self._orchestrators.get(name.casefold(), ())]

    def find_activity(self, name: str) -> RegisteredActivity | None:
        return self._activities.get(name.casefold())

    def get_activity(self, name: str) -> RegisteredActivity:
        found = self.find_activity(name)
        if found is None:
            known = ", ".join(sorted(a.name for a in self._activities.values())) or "none"
            raise ActivityNotRegisteredError(
                f"activity '{name}' is not registered (registered activities: {known})"
            )
        return found

    def iter_orchestrators(self) -> Iterator[RegisteredOrchestrator]:
        for entries in self._orchestrators.values():
            yield from entries

    def iter_activities(self) -> Iterator[RegisteredActivity]:
        yield from self._activities.values()

    def orchestrator_names(self) -> list[TaskName]:
        """Every registered (name, version), e.g. for GetWorkItems work-item filters."""
        return [TaskName(e.name, e.version) for e in self.iter_orchestrators()]


def _same_version(a: str | None, b: str | None) -> bool:
    return compare_versions(a, b) == 0


class _VersionKey:
    """Sort key ordering versions by Durable version comparison."""

    __slots__ = ("version",)

    def __init__(self, version: str | None) -> None:
        self.version = version

    def __lt__(self, other: "_VersionKey") -> bool:
        return compare_versions(self.version, other.version) < 0
