"""The name (and optional version) of an orchestrator or activity."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskName:
    """Name plus optional version, as `TaskName` in the Durable Task SDKs.

    ``TaskName("HelloOrchestration", "1.2.0")`` asks for that version; a ``None`` or empty
    version means "whatever the host's default version is".
    """

    name: str
    version: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"TaskName.name must be a str, not {type(self.name).__name__}")
        if self.version is not None and not isinstance(self.version, str):
            raise TypeError(f"TaskName.version must be a str or None, not {type(self.version).__name__}")

    @classmethod
    def of(cls, value: "TaskName | str") -> "TaskName":
        """Accept either a plain name or a TaskName."""
        if isinstance(value, TaskName):
            return value
        if isinstance(value, str):
            return cls(value)
        if callable(value) and hasattr(value, "__name__"):
            return cls(value.__name__)
        raise TypeError(f"expected a TaskName or a str, got {type(value).__name__}")

    def __str__(self) -> str:
        return self.name if not self.version else f"{self.name}@{self.version}"
