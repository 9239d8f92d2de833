"""Typed reads of management API query parameters; a bad value is a 400 naming the parameter."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

from ..core.errors import InvalidArgumentError
from ..core.status import OrchestrationStatus


def get_bool(query: Mapping[str, str], name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidArgumentError(f"query parameter {name}={raw!r}: expected true or false")


def get_datetime(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        # Python 3.11 fromisoformat reads "Z" and fractional seconds.
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"query parameter {name}={raw!r}: expected an ISO 8601 time such as 2026-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def get_positive_int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit() or int(raw) < 1:
        raise InvalidArgumentError(f"query parameter {name}={raw!r}: expected a positive integer")
    return int(raw)


def get_statuses(query: Mapping[str, str], name: str = "runtimeStatus") -> frozenset[OrchestrationStatus]:
    """A comma-separated list of runtime status names (``runtimeStatus=Running,Pending``);
    the parameter may also repeat."""
    values: list[str] = []
    getall = getattr(query, "getall", None)
    raws = getall(name, []) if getall is not None else ([query[name]] if name in query else [])
    for raw in raws:
        values += [part for part in raw.split(",") if part.strip()]
    statuses: set[OrchestrationStatus] = set()
    for value in values:
        try:
            statuses.add(OrchestrationStatus.from_durable_name(value))
        except ValueError as exc:
            raise InvalidArgumentError(f"query parameter {name}: {exc}") from None
    return frozenset(statuses)


def json_body_text(body: bytes, what: str) -> str | None:
    """The request body as JSON text (None when empty); malformed JSON is a 400 with the reason."""
    if not body.strip():
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(f"{what}: the request body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"{what}: the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return text
