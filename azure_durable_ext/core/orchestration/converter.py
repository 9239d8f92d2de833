"""JSON conversion of orchestration and activity payloads.

Inputs, outputs, event data and custom status travel as JSON strings (a protobuf
``StringValue``); ``None`` travels as "no value" rather than the string ``"null"``, as the
official Python worker does. Formatting follows ``json.dumps`` defaults so payloads produced
here are byte-identical to the official worker's for the same values.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..errors import SerializationError


def _encode_object(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str | None:
    """Serialise ``value`` (None stays None). Dataclasses and objects with ``to_json()`` work."""
    if value is None:
        return None
    try:
        return json.dumps(value, default=_encode_object)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"cannot convert a {type(value).__name__} to JSON: {exc}") from exc


def from_json(text: str | None) -> Any:
    """Parse a JSON payload; None or "" give None."""
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SerializationError(f"payload is not valid JSON ({exc}): {text[:80]!r}") from exc
