"""Typed options of the durableTask extension, with the Durable Functions defaults.

Parsing them from host.json / local.settings.json / the environment happens in one place:
``azure_durable_ext.config``.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field

from .status import RUNNING_STATES, OrchestrationStatus
from .versions import VersionFailureStrategy, VersionMatchStrategy, VersioningOptions


class OverridableStates(enum.Enum):
    """overridableExistingInstanceStates."""

    NON_RUNNING_STATES = "NonRunningStates"
    ANY_STATE = "AnyState"

    @property
    def dedupe_statuses(self) -> frozenset[OrchestrationStatus]:
        """Statuses an existing instance may NOT be in for a new start to replace it."""
        return RUNNING_STATES if self is OverridableStates.NON_RUNNING_STATES else frozenset()


def _default_concurrency() -> int:
    return 10 * (os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionLeaseOptions:
    """Timings of the table partition manager (seconds), DurableTask.AzureStorage's defaults.

    A live owner renews every ``renew_interval`` (each renewal holds ``lease_interval``), so
    a dead owner's partitions become claimable within ``lease_interval`` of its last renewal
    (``claim_interval`` after a fresh claim).
    """

    #: How often the Partitions table is read (LeaseAcquireInterval).
    acquire_interval: float = 10.0
    #: How often an owned lease is renewed (LeaseRenewInterval).
    renew_interval: float = 10.0
    #: How long a renewal holds a lease (LeaseInterval).
    lease_interval: float = 30.0
    #: How long a fresh claim holds a lease (one minute, as the reference implementation).
    claim_interval: float = 60.0
    #: Read interval while draining a partition or waiting for one being handed over.
    busy_interval: float = 1.0
    #: Longest wait for one Partitions table call (PartitionTableOperationTimeout).
    operation_timeout: float = 2.0
    #: Longest wait for a partition's in-flight episodes before its lease is released anyway.
    drain_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("acquire_interval", "renew_interval", "lease_interval", "claim_interval",
                     "busy_interval", "operation_timeout", "drain_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"partitionLeases.{_camel(name)} must be positive")
        if self.renew_interval >= self.lease_interval:
            raise ValueError("partitionLeases.renewInterval must be shorter than leaseInterval")
        if self.renew_interval >= self.claim_interval:
            raise ValueError("partitionLeases.renewInterval must be shorter than claimInterval")


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.capitalize() for p in rest)


@dataclass(frozen=True, slots=True, kw_only=True)
class AzureStorageOptions:
    """extensions.durableTask.storageProvider for the Azure Storage provider."""

    connection_name: str = "AzureWebJobsStorage"
    partition_count: int = 4
    control_queue_batch_size: int = 32
    control_queue_buffer_threshold: int = 256
    control_queue_visibility_timeout: float = 300.0
    work_item_queue_visibility_timeout: float = 300.0
    max_queue_polling_interval: float = 30.0
    use_table_partition_management: bool = True
    #: Dequeue count after which a message is moved to the poison table (our addition; the
    #: reference implementation retries forever).
    poison_message_dequeue_count: int = 20
    partition_leases: PartitionLeaseOptions = field(default_factory=PartitionLeaseOptions)

    def __post_init__(self) -> None:
        if not 1 <= self.partition_count <= 16:
            raise ValueError(f"partitionCount must be between 1 and 16, got {self.partition_count}")
        if not 1 <= self.control_queue_batch_size <= 32:
            raise ValueError(f"controlQueueBatchSize must be between 1 and 32, got {self.control_queue_batch_size}")
        if self.poison_message_dequeue_count < 1:
            raise ValueError("poisonMessageDequeueCount must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class DurableTaskOptions:
    """extensions.durableTask of host.json."""

    hub_name: str = "TestHubName"
    default_version: str | None = None
    version_match_strategy: VersionMatchStrategy = VersionMatchStrategy.CURRENT_OR_OLDER
    version_failure_strategy: VersionFailureStrategy = VersionFailureStrategy.REJECT
    max_concurrent_activity_functions: int = field(default_factory=_default_concurrency)
    max_concurrent_orchestrator_functions: int = field(default_factory=_default_concurrency)
    #: Keep an orchestration's lock (its session) between episodes while new messages keep
    #: coming, up to ``extended_session_idle_timeout_in_seconds`` without one: the next episode
    #: starts without a fetch or a storage read (docs/architecture.md, extended sessions).
    extended_sessions_enabled: bool = False
    extended_session_idle_timeout_in_seconds: int = 30
    max_orchestration_actions: int = 100_000
    overridable_existing_instance_states: OverridableStates = OverridableStates.NON_RUNNING_STATES
    max_grpc_message_size_in_bytes: int = 4 * 1024 * 1024
    storage: AzureStorageOptions = field(default_factory=AzureStorageOptions)

    @property
    def versioning(self) -> VersioningOptions:
        """The worker-side versioning options these settings imply."""
        return VersioningOptions(
            version=self.default_version,
            default_version=self.default_version,
            match_strategy=self.version_match_strategy,
            failure_strategy=self.version_failure_strategy,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpOptions:
    """host.json ``extensions.http`` (the parts a local host needs)."""

    #: Path segment before every HTTP trigger's route; "" serves routes at the root.
    route_prefix: str = "api"
