"""Orchestration runtime status: names, wire numbers and the state groups used by rules."""
from __future__ import annotations

import enum


class OrchestrationStatus(enum.Enum):
    """Runtime status of an instance. Values are the sidecar protocol's enum numbers;
    ``str()`` gives the Durable name stored in the Instances table (RuntimeStatus column)."""

    RUNNING = 0
    COMPLETED = 1
    CONTINUED_AS_NEW = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    PENDING = 6
    SUSPENDED = 7

    @property
    def durable_name(self) -> str:
        """The name Durable Functions uses ("Running", "ContinuedAsNew", ...)."""
        return _DURABLE_NAMES[self]

    @classmethod
    def from_durable_name(cls, name: str) -> "OrchestrationStatus":
        """Parse a Durable name, case-insensitively (HTTP API and table column)."""
        try:
            return _BY_LOWER_NAME[name.strip().lower()]
        except KeyError:
            valid = ", ".join(_DURABLE_NAMES.values())
            raise ValueError(f"unknown runtime status {name!r}; expected one of {valid}") from None

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    def __str__(self) -> str:
        return self.durable_name


_DURABLE_NAMES = {
    OrchestrationStatus.RUNNING: "Running",
    OrchestrationStatus.COMPLETED: "Completed",
    OrchestrationStatus.CONTINUED_AS_NEW: "ContinuedAsNew",
    OrchestrationStatus.FAILED: "Failed",
    OrchestrationStatus.CANCELED: "Canceled",
    OrchestrationStatus.TERMINATED: "Terminated",
    OrchestrationStatus.PENDING: "Pending",
    OrchestrationStatus.SUSPENDED: "Suspended",
}
_BY_LOWER_NAME = {v.lower(): k for k, v in _DURABLE_NAMES.items()}

TERMINAL_STATES = frozenset(
    {
        OrchestrationStatus.COMPLETED,
        OrchestrationStatus.FAILED,
        OrchestrationStatus.CANCELED,
        OrchestrationStatus.TERMINATED,
    }
)

#: States Durable Functions refuses to start over under overridableExistingInstanceStates
#: = NonRunningStates (the default).
RUNNING_STATES = frozenset(
    {
        OrchestrationStatus.PENDING,
        OrchestrationStatus.RUNNING,
        OrchestrationStatus.CONTINUED_AS_NEW,
        OrchestrationStatus.SUSPENDED,
    }
)
