"""Data conversion between Python values and the JSON text the sidecar protocol carries.

Inputs, outputs, event payloads and custom statuses travel as JSON strings. Conversion
happens client-side before any RPC, so a value JSON cannot represent fails fast with a
SerializationError naming its type instead of a confusing server error.
"""
from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime
from typing import Any, Protocol, TypeVar, cast

from ..core.errors import SerializationError

T = TypeVar("T")


class DataConverter(Protocol):
    """Turns values into payload strings and back."""

    def serialize(self, value: Any) -> str | None:
        """The payload for ``value``; None means "no payload" (the field stays unset)."""

    def deserialize(self, payload: str | None, into: type[T] | None = None) -> Any:
        """The value of ``payload`` (None when there is none), optionally as ``into``."""


class JsonDataConverter:
    """JSON, as every Durable SDK writes it.

    Besides JSON's own types it writes dataclasses as objects, enums as their value and
    dates as ISO-8601 strings; ``deserialize(payload, into=SomeDataclass)`` builds the
    dataclass back from an object.
    """

    def __init__(self, *, sort_keys: bool = False) -> None:
        self._sort_keys = sort_keys

    def serialize(self, value: Any) -> str | None:
        if value is None:
            return None
        try:
            return json.dumps(value, default=_encode_extra, sort_keys=self._sort_keys, allow_nan=False)
        except _Unserializable as exc:
            raise SerializationError(str(exc)) from None
        except ValueError as exc:  # NaN / infinity, circular references
            raise SerializationError(
                f"cannot serialize a value of type {type(value).__name__} to JSON: {exc}"
            ) from exc

    def deserialize(self, payload: str | None, into: type[T] | None = None) -> Any:
        if payload is None or payload == "":
            return None
        try:
            value = json.loads(payload)
        except json.JSONDecodeError as exc:
            preview = payload if len(payload) <= 80 else payload[:77] + "..."
            raise SerializationError(f"payload is not valid JSON ({exc.msg}): {preview!r}") from exc
        if into is None or into is Any:
            return value
        return _coerce(value, into)


class _Unserializable(TypeError):
    """Raised inside json.dumps' default hook; carries the final message."""


def _encode_extra(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise _Unserializable(
        f"cannot serialize a value of type {type(value).__module__}.{type(value).__qualname__} to JSON"
    )


def _coerce(value: Any, into: type[T]) -> T:
    """Shape a decoded JSON value as ``into`` (dataclass from an object, else a type check)."""
    if dataclasses.is_dataclass(into):
        if not isinstance(value, dict):
            raise SerializationError(f"cannot read a JSON {type(value).__name__} as {into.__name__}")
        try:
            return cast(T, into(**value))
        except TypeError as exc:
            raise SerializationError(f"cannot read the payload as {into.__name__}: {exc}") from exc
    if isinstance(into, type) and issubclass(into, enum.Enum):
        try:
            return cast(T, into(value))
        except ValueError as exc:
            raise SerializationError(f"cannot read the payload as {into.__name__}: {exc}") from exc
    if into is float and isinstance(value, int) and not isinstance(value, bool):
        return cast(T, float(value))
    if isinstance(into, type) and not isinstance(value, into):
        raise SerializationError(f"expected the payload to be {into.__name__}, got JSON {type(value).__name__}")
    return value


DEFAULT_CONVERTER = JsonDataConverter()
