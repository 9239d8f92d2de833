"""The HTTP management links of an orchestration instance (check-status payload).

Pure string building, shared by FunctionsDurableTaskClient (``create_check_status_response``)
and the dev host's HTTP management API (``POST orchestrators/{name}``), so both answer with
the same payload: keys in Durable Functions' order, every link carrying
``taskHub=..&connection=..`` and the function key (``code=``) when there is one.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

#: Path of the management API under a Functions host.
WEBHOOK_PATH = "/runtime/webhooks/durabletask"

#: Keys of the management payload, in the order Durable Functions writes them.
PAYLOAD_KEYS = (
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
)


def base_url_from_request_url(request_url: str) -> str:
    """``{scheme}://{host[:port]}/runtime/webhooks/durabletask`` for a request URL."""
    parts = urlsplit(request_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"cannot derive a base URL from {request_url!r}: it needs a scheme and a host")
    return f"{parts.scheme}://{parts.netloc}{WEBHOOK_PATH}"


def forwarded_origin(headers: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(scheme or None, host) from ``X-Forwarded-Proto`` / ``X-Forwarded-Host``, None without
    a forwarded host. A proxy chain lists several, comma-separated: the first is the client's."""
    lowered = {key.lower(): value for key, value in headers.items()}
    host = _first(lowered.get("x-forwarded-host"))
    if not host:
        return None
    return _first(lowered.get("x-forwarded-proto")) or None, host


def with_origin(base_url: str, origin: tuple[str | None, str]) -> str:
    """``base_url`` with its scheme and host replaced by ``origin`` (the scheme is kept when
    ``origin`` has none); the path stays."""
    parts = urlsplit(base_url)
    scheme, host = origin
    return urlunsplit((scheme or parts.scheme, host, parts.path, parts.query, parts.fragment))


def _first(value: str | None) -> str:
    return value.split(",")[0].strip() if value else ""


def code_from_query_string(query_string: str | None) -> str | None:
    """The ``code`` parameter of a query string such as ``code=abc`` (or ``?a=1&code=abc``)."""
    if not query_string:
        return None
    for key, value in parse_qsl(query_string.lstrip("?"), keep_blank_values=True):
        if key == "code" and value:
            return value
    return None


def build_management_urls(
    base_url: str, instance_id: str, *, task_hub: str, connection: str, code: str | None = None
) -> dict[str, str]:
    """The check-status payload for ``instance_id``: ``id`` plus the seven links, in order.

    ``base_url`` is the management API root (``http://localhost:7071/runtime/webhooks/durabletask``).
    The instance id is percent-encoded in paths; ``{eventName}`` and ``{text}`` are left as
    placeholders for the caller to fill in, as in Durable Functions.
    """
    if not instance_id:
        raise ValueError("instance_id must not be empty")
    instance_url = f"{base_url.rstrip('/')}/instances/{quote(instance_id, safe='')}"
    common, with_reason = _query_strings(task_hub, connection, code or None)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance_url}?{common}",
        "sendEventPostUri": f"{instance_url}/raiseEvent/{{eventName}}?{common}",
        "terminatePostUri": f"{instance_url}/terminate?{with_reason}",
        "purgeHistoryDeleteUri": f"{instance_url}?{common}",
        "restartPostUri": f"{instance_url}/restart?{common}",
        "suspendPostUri": f"{instance_url}/suspend?{with_reason}",
        "resumePostUri": f"{instance_url}/resume?{with_reason}",
    }


@functools.lru_cache(maxsize=64)
def _query_strings(task_hub: str, connection: str, code: str | None) -> tuple[str, str]:
    """(common, with reason) query strings of the links; the same for every instance of a
    hub, and encoding them was a noticeable part of each HTTP start."""
    params = [("taskHub", task_hub), ("connection", connection)]
    if code:
        params.append(("code", code))
    common = urlencode(params, quote_via=quote)
    return common, "reason={text}&" + common
