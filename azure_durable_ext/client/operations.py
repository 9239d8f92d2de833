"""One input dataclass per client operation.

A public client method only packs its arguments into one of these and hands it to
``DurableTaskClient.execute``; transports (the gRPC client) and wrappers (the Functions
client) then deal in these values, so a new option is a new field, not a new signature on
every layer. Values here are plain Python and core types; wire conversion lives in
``client/wire.py``. Checks that need no server run in ``__post_init__``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ..core.errors import InvalidArgumentError
from ..core.model import InstanceQuery, PurgeFilter
from ..core.status import OrchestrationStatus
from .metadata import InstancesPage, OrchestrationMetadata, PurgeResult

if TYPE_CHECKING:
    from .._proto import pb

R = TypeVar("R")

#: What a wait gives the sidecar when the caller names no timeout (seconds).
DEFAULT_WAIT_TIMEOUT = 60.0


class Operation(Generic[R]):
    """Base of every operation input; ``R`` is what executing it returns."""

    __slots__ = ()
    #: Human name used in errors and logs.
    label: ClassVar[str] = "operation"

    def call_timeout(self, default: float | None) -> float | None:
        """Seconds the RPC may take (the client's default unless the operation has its own)."""
        return default


def _require_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(f"{what} must not be empty")


def seconds(value: float | timedelta | None) -> float | None:
    """A timeout as seconds (timedelta or number); None stays None; negatives are refused."""
    if value is None:
        return None
    result = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if result < 0:
        raise InvalidArgumentError(f"a timeout must not be negative, got {result:g} s")
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class _InstanceOperation:
    instance_id: str

    def __post_init__(self) -> None:
        _require_text(self.instance_id, "instance_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class StartOrchestrationInput(Operation[str]):
    """Schedule a new orchestration instance (StartInstance). Result: the instance id."""

    label: ClassVar[str] = "schedule_new_orchestration_instance"
    name: str
    instance_id: str
    version: str | None = None
    input: Any = None
    start_at: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Statuses an existing instance with this id may be in to be replaced (the reuse policy).
    #: None leaves the choice to the host (overridableExistingInstanceStates).
    reuse_statuses: frozenset[OrchestrationStatus] | None = None

    def __post_init__(self) -> None:
        _require_text(self.name, "orchestrator name")
        _require_text(self.instance_id, "instance_id")
        if self.version is not None and not isinstance(self.version, str):
            raise InvalidArgumentError(f"version must be a str or None, not {type(self.version).__name__}")
        for key, value in self.tags.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidArgumentError(f"tags must map str to str; got {key!r}: {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GetInstanceInput(_InstanceOperation, Operation["OrchestrationMetadata | None"]):
    """Read an instance's metadata (GetInstance). Result: metadata, or None if unknown."""

    label: ClassVar[str] = "get_instance"
    get_inputs_and_outputs: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class _WaitInput(_InstanceOperation):
    get_inputs_and_outputs: bool = True
    timeout: float | None = DEFAULT_WAIT_TIMEOUT

    def call_timeout(self, default: float | None) -> float | None:
        return self.timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForInstanceStartInput(_WaitInput, Operation[OrchestrationMetadata]):
    """Wait until an instance leaves Pending (WaitForInstanceStart)."""

    label: ClassVar[str] = "wait_for_instance_start"
    goal: ClassVar[str] = "start"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForInstanceCompletionInput(_WaitInput, Operation[OrchestrationMetadata]):
    """Wait until an instance reaches a terminal state (WaitForInstanceCompletion)."""

    label: ClassVar[str] = "wait_for_instance_completion"
    goal: ClassVar[str] = "complete"


@dataclass(frozen=True, slots=True, kw_only=True)
class RaiseEventInput(_InstanceOperation, Operation[None]):
    """Send an external event to an instance (RaiseEvent)."""

    label: ClassVar[str] = "raise_event"
    event_name: str
    data: Any = None

    def __post_init__(self) -> None:
        _InstanceOperation.__post_init__(self)
        _require_text(self.event_name, "event_name")


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminateInstanceInput(_InstanceOperation, Operation[None]):
    """Terminate an instance, optionally its sub-orchestrations too (TerminateInstance)."""

    label: ClassVar[str] = "terminate_instance"
    output: Any = None
    recursive: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class _ReasonedOperation(_InstanceOperation):
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspendInstanceInput(_ReasonedOperation, Operation[None]):
    """Suspend a running instance (SuspendInstance)."""

    label: ClassVar[str] = "suspend_instance"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeInstanceInput(_ReasonedOperation, Operation[None]):
    """Resume a suspended instance (ResumeInstance)."""

    label: ClassVar[str] = "resume_instance"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartInstanceInput(_InstanceOperation, Operation[str]):
    """Start a finished instance again with its original input (RestartInstance).
    Result: the id of the restarted instance."""

    label: ClassVar[str] = "restart_instance"
    restart_with_new_instance_id: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RewindInstanceInput(_ReasonedOperation, Operation[None]):
    """Rewind a failed instance to retry its failed work (RewindInstance)."""

    label: ClassVar[str] = "rewind_instance"


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeInstanceInput(_InstanceOperation, Operation[PurgeResult]):
    """Delete one finished instance's state and history (PurgeInstances by id)."""

    label: ClassVar[str] = "purge_instance"
    recursive: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeInstancesInput(Operation[PurgeResult]):
    """Delete every finished instance matching a filter (PurgeInstances by filter)."""

    label: ClassVar[str] = "purge_instances"
    filter: PurgeFilter
    recursive: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryInstancesInput(Operation[InstancesPage]):
    """One page of instances matching a query (QueryInstances)."""

    label: ClassVar[str] = "query_instances"
    query: InstanceQuery

    def __post_init__(self) -> None:
        if self.query.page_size <= 0:
            raise InvalidArgumentError(f"page_size must be positive, got {self.query.page_size}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GetInstanceHistoryInput(_InstanceOperation, Operation["list[pb.HistoryEvent]"]):
    """The full history of an instance's current (or a given) execution (StreamInstanceHistory)."""

    label: ClassVar[str] = "get_instance_history"
    execution_id: str | None = None
