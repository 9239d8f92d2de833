"""The package's one exception hierarchy.

Every error names its gRPC status (by name, so core imports no gRPC) and its HTTP status;
the gRPC servicer and the HTTP front door translate with these, nowhere else.
"""
from __future__ import annotations

from typing import TYPE_CHECKING


class DurableError(Exception):
    """Root of every error raised by azure_durable_ext."""

    grpc_status: str = "INTERNAL"
    http_status: int = 500


class InvalidArgumentError(DurableError, ValueError):
    """The caller passed something malformed (bad id, empty name, bad version...)."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400


class InvalidInstanceIdError(InvalidArgumentError):
    """An instance id breaks one of the instance-id rules."""


class ConfigurationError(DurableError):
    """A configuration file or setting is malformed; the message names file and key."""

    grpc_status = "FAILED_PRECONDITION"
    http_status = 500


class SerializationError(DurableError, TypeError):
    """A value cannot be converted to or from its JSON payload."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400


class InstanceAlreadyExistsError(DurableError):
    """Starting an instance whose current state the dedupe policy protects."""

    grpc_status = "ALREADY_EXISTS"
    http_status = 409

    def __init__(self, instance_id: str, message: str | None = None) -> None:
        self.instance_id = instance_id
        super().__init__(message or f"An Orchestration instance with the ID {instance_id} already exists.")


class InstanceNotFoundError(DurableError, LookupError):
    """No instance with the given id exists in the task hub."""

    grpc_status = "NOT_FOUND"
    http_status = 404

    def __init__(self, instance_id: str, message: str | None = None) -> None:
        self.instance_id = instance_id
        super().__init__(message or f"No orchestration instance with the ID {instance_id} was found.")


class NotFoundError(DurableError, LookupError):
    """Something other than an instance (a function, an orchestrator name) was not found."""

    grpc_status = "NOT_FOUND"
    http_status = 404


class TaskHubNotFoundError(NotFoundError):
    """The sidecar serves no task hub by that name (or not on that storage connection)."""

    #: How the message of this error starts on the wire; clients recognise it by this.
    MESSAGE_PREFIX = "task hub "


class InvalidStateError(DurableError):
    """The operation does not apply to the instance's current state (e.g. rewind a running one)."""

    grpc_status = "FAILED_PRECONDITION"
    http_status = 409


class PayloadTooLargeError(DurableError):
    """A payload exceeds the configured maximum message size."""

    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 413


class OperationTimeoutError(DurableError, TimeoutError):
    """A wait (for start or completion, for a forwarded request) ran out of time."""

    grpc_status = "DEADLINE_EXCEEDED"
    http_status = 504


class StorageUnavailableError(DurableError):
    """The storage backend could not be reached or refused the connection settings."""

    grpc_status = "UNAVAILABLE"
    http_status = 503


class ConcurrencyConflictError(DurableError):
    """An optimistic-concurrency write lost (ETag mismatch, stale lock or token)."""

    grpc_status = "ABORTED"
    http_status = 409


class NonDeterminismError(DurableError):
    """Replayed orchestrator code does not match the recorded history."""


class VersionMismatchError(DurableError):
    """An instance's version is not one this worker accepts."""

    grpc_status = "FAILED_PRECONDITION"
    http_status = 409


class OrchestratorNotRegisteredError(NotFoundError):
    """No orchestrator is registered under a name (and version) the history asks for."""


class ActivityNotRegisteredError(NotFoundError):
    """No activity is registered under the name a task asks for."""


class TaskFailedError(DurableError):
    """Raised into orchestrator code when an activity or sub-orchestration it awaits failed.

    ``details`` is the failure the task reported (its ``TaskFailureDetails``).
    """

    def __init__(self, message: str, details: "FailureDetails") -> None:
        super().__init__(message)
        self.details = details


class ExternalEventTimeoutError(OperationTimeoutError):
    """Raised into orchestrator code when ``wait_for_external_event(..., timeout=...)`` expires."""

    def __init__(self, event_name: str, message: str | None = None) -> None:
        self.event_name = event_name
        super().__init__(message or f"Timed out waiting for external event '{event_name}'.")


if TYPE_CHECKING:  # the failure type lives in model.py, which imports protobuf
    from .model import FailureDetails


class SidecarUnavailableError(StorageUnavailableError):
    """A client could not reach the sidecar (the host's gRPC listener): not running, wrong
    address, or the connection dropped."""


class OperationNotSupportedError(DurableError, NotImplementedError):
    """The peer does not implement the requested operation (an RPC it lacks)."""

    grpc_status = "UNIMPLEMENTED"
    http_status = 501
