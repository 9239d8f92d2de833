"""What the dev host knows about the worker's functions, read from their metadata."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigurationError
from ..functions.binding_types import ACTIVITY_TRIGGER, DURABLE_CLIENT, HTTP_TRIGGER, ORCHESTRATION_TRIGGER
from ..protocol.function_rpc import frpc

__all__ = ["ACTIVITY_TRIGGER", "DURABLE_CLIENT", "HTTP_TRIGGER", "ORCHESTRATION_TRIGGER", "FunctionTable", "LoadedFunction"]


@dataclass(frozen=True, slots=True)
class LoadedFunction:
    """One function the worker indexed and loaded: its metadata and parsed bindings."""

    metadata: frpc.RpcFunctionMetadata
    bindings: tuple[dict[str, Any], ...]

    @classmethod
    def from_metadata(cls, metadata: frpc.RpcFunctionMetadata) -> "LoadedFunction":
        bindings = []
        for raw in metadata.raw_bindings:
            try:
                binding = json.loads(raw)
            except ValueError as exc:
                raise ConfigurationError(f"function {metadata.name}: a binding is not JSON ({exc}): {raw}") from None
            if not isinstance(binding, dict) or "type" not in binding or "name" not in binding:
                raise ConfigurationError(f"function {metadata.name}: a binding has no type or name: {raw}")
            bindings.append(binding)
        return cls(metadata, tuple(bindings))

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def function_id(self) -> str:
        return self.metadata.function_id

    @property
    def trigger(self) -> dict[str, Any] | None:
        for binding in self.bindings:
            if str(binding["type"]).lower().endswith("trigger"):
                return binding
        return None

    @property
    def trigger_type(self) -> str | None:
        trigger = self.trigger
        return str(trigger["type"]) if trigger else None

    def bindings_of(self, binding_type: str) -> list[dict[str, Any]]:
        return [b for b in self.bindings if str(b["type"]).lower() == binding_type.lower()]

    @property
    def durable_name(self) -> str | None:
        """The orchestration or activity name this function serves (None for other triggers)."""
        trigger = self.trigger
        if trigger is None:
            return None
        kind = str(trigger["type"])
        if kind == ORCHESTRATION_TRIGGER:
            return str(trigger.get("orchestration") or self.name)
        if kind == ACTIVITY_TRIGGER:
            return str(trigger.get("activity") or self.name)
        return None


class FunctionTable:
    """The loaded functions by name, and the durable ones by orchestration / activity name."""

    def __init__(self, functions: list[LoadedFunction]) -> None:
        self.by_name = {f.name.casefold(): f for f in functions}
        self._durable: dict[tuple[str, str], LoadedFunction] = {}
        for f in functions:
            name = f.durable_name
            if name is not None and f.trigger_type is not None:
                self._durable[(f.trigger_type, name.casefold())] = f

    def __iter__(self) -> Iterator[LoadedFunction]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def orchestrator(self, name: str) -> LoadedFunction | None:
        return self._durable.get((ORCHESTRATION_TRIGGER, name.casefold()))

    def activity(self, name: str) -> LoadedFunction | None:
        return self._durable.get((ACTIVITY_TRIGGER, name.casefold()))

    def orchestrator_names(self) -> list[str]:
        return sorted(f.durable_name or f.name for (kind, _), f in self._durable.items() if kind == ORCHESTRATION_TRIGGER)

    def http_functions(self) -> list[LoadedFunction]:
        return [f for f in self.by_name.values() if f.trigger_type == HTTP_TRIGGER]
