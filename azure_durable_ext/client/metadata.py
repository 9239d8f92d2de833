"""What client operations return: instance metadata, query pages, purge results."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ..core.model import FailureDetails, InstanceState
from ..core.status import OrchestrationStatus
from .converter import DEFAULT_CONVERTER, DataConverter

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestrationMetadata:
    """The state of one orchestration instance as the sidecar reported it.

    Payloads stay serialized (``serialized_input`` ...) until read with ``read_input_as``
    and friends, so metadata fetched without a matching type never fails to decode.
    """

    instance_id: str
    name: str
    version: str | None
    runtime_status: OrchestrationStatus
    created_at: datetime
    last_updated_at: datetime
    serialized_input: str | None = None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    failure_details: FailureDetails | None = None
    execution_id: str | None = None
    completed_at: datetime | None = None
    scheduled_start_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    parent_instance_id: str | None = None
    converter: DataConverter = field(default=DEFAULT_CONVERTER, repr=False, compare=False)

    @classmethod
    def from_state(cls, state: InstanceState, converter: DataConverter = DEFAULT_CONVERTER) -> "OrchestrationMetadata":
        """Metadata for a core InstanceState (the result of converting the wire state)."""
        return cls(
            instance_id=state.instance_id,
            name=state.name,
            version=state.version,
            runtime_status=state.status,
            created_at=state.created_at,
            last_updated_at=state.last_updated_at,
            serialized_input=state.input,
            serialized_output=state.output,
            serialized_custom_status=state.custom_status,
            failure_details=state.failure,
            execution_id=state.execution_id or None,
            completed_at=state.completed_at,
            scheduled_start_at=state.scheduled_start_at,
            tags=dict(state.tags),
            parent_instance_id=state.parent_instance_id,
            converter=converter,
        )

    @property
    def is_running(self) -> bool:
        return self.runtime_status is OrchestrationStatus.RUNNING

    @property
    def is_completed(self) -> bool:
        """True once the instance reached a terminal state (completed, failed, terminated...)."""
        return self.runtime_status.is_terminal

    def read_input_as(self, into: type[T] | None = None) -> Any:
        """The input, deserialized (as ``into`` when given)."""
        return self.converter.deserialize(self.serialized_input, into)

    def read_output_as(self, into: type[T] | None = None) -> Any:
        """The output, deserialized (as ``into`` when given)."""
        return self.converter.deserialize(self.serialized_output, into)

    def read_custom_status_as(self, into: type[T] | None = None) -> Any:
        """The custom status, deserialized (as ``into`` when given)."""
        return self.converter.deserialize(self.serialized_custom_status, into)


@dataclass(frozen=True, slots=True)
class InstancesPage:
    """One page of a query; ``continuation_token`` is None on the last page."""

    instances: list[OrchestrationMetadata]
    continuation_token: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """How many instances a purge deleted; ``is_complete`` False when the sidecar stopped
    early (a time-boxed purge) and the call should be repeated."""

    deleted_instance_count: int
    is_complete: bool = True
