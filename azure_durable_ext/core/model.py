"""Value objects the layers exchange: instance state, failures, messages, work results.

History events themselves are the sidecar protocol's ``HistoryEvent`` messages: they are the
unit replay, storage and the wire all agree on, and re-modelling 30 event kinds would only add
a lossy copy. Everything else here is the project's own type.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime

from .._proto import pb
from .status import OrchestrationStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureDetails:
    """Why a task or orchestration failed (TaskFailureDetails on the wire)."""

    error_type: str
    message: str
    stack_trace: str | None = None
    inner: "FailureDetails | None" = None
    is_non_retriable: bool = False

    @classmethod
    def from_exception(cls, exc: BaseException) -> "FailureDetails":
        inner = exc.__cause__ or exc.__context__
        return cls(
            error_type=type(exc).__name__,
            message=str(exc),
            stack_trace="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            inner=cls.from_exception(inner) if inner is not None and inner is not exc else None,
        )

    def to_pb(self) -> pb.TaskFailureDetails:
        msg = pb.TaskFailureDetails(
            errorType=self.error_type, errorMessage=self.message, isNonRetriable=self.is_non_retriable
        )
        if self.stack_trace is not None:
            msg.stackTrace.value = self.stack_trace
        if self.inner is not None:
            msg.innerFailure.CopyFrom(self.inner.to_pb())
        return msg

    @classmethod
    def from_pb(cls, msg: pb.TaskFailureDetails) -> "FailureDetails":
        return cls(
            error_type=msg.errorType,
            message=msg.errorMessage,
            stack_trace=msg.stackTrace.value if msg.HasField("stackTrace") else None,
            inner=cls.from_pb(msg.innerFailure) if msg.HasField("innerFailure") else None,
            is_non_retriable=msg.isNonRetriable,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceState:
    """One orchestration instance as the Instances table records it."""

    instance_id: str
    name: str
    version: str | None
    execution_id: str
    status: OrchestrationStatus
    created_at: datetime
    last_updated_at: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: FailureDetails | None = None
    completed_at: datetime | None = None
    scheduled_start_at: datetime | None = None
    generation: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    parent_instance_id: str | None = None

    def evolve(self, **changes: object) -> "InstanceState":
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """A history event addressed to an orchestration instance or to the activity queue.

    ``execution_id`` None means "whichever execution is current" (raised events from
    clients). ``visible_at`` delays delivery (timers, scheduled starts).
    """

    instance_id: str
    execution_id: str | None
    event: pb.HistoryEvent
    visible_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceQuery:
    """Filter and page of a query over instances."""

    statuses: frozenset[OrchestrationStatus] = frozenset()
    created_from: datetime | None = None
    created_to: datetime | None = None
    instance_id_prefix: str | None = None
    page_size: int = 100
    continuation_token: str | None = None
    include_payloads: bool = True


@dataclass(frozen=True, slots=True)
class InstancePage:
    instances: list[InstanceState]
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeFilter:
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: frozenset[OrchestrationStatus] = frozenset()


@dataclass(slots=True, kw_only=True)
class OrchestrationCheckpoint:
    """What one orchestration episode produced, to be stored in this order:
    outbound messages, history, instance row, then the consumed messages deleted.

    ``new_events`` are appended to the history; when ``new_execution`` is true (continue-as-new)
    they replace the history of the previous execution instead.
    """

    state: InstanceState
    new_events: list[pb.HistoryEvent] = field(default_factory=list)
    new_execution: bool = False
    activity_messages: list[TaskMessage] = field(default_factory=list)
    orchestrator_messages: list[TaskMessage] = field(default_factory=list)
