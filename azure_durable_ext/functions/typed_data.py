"""TypedData (FunctionRpc's value union) to Python values and back."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import azure.functions as func

from ..core.errors import SerializationError
from ..core.orchestration.converter import to_json
from ..protocol.function_rpc import frpc
from .binding_types import ACTIVITY_TRIGGER, ORCHESTRATION_TRIGGER


def _collection(field: str) -> Callable[[frpc.TypedData], list[Any]]:
    def read(data: frpc.TypedData) -> list[Any]:
        return list(getattr(getattr(data, f"collection_{field}"), field))

    return read


#: How each TypedData kind reads as a Python value (JSON stays text: what it means depends on
#: the binding, see executor.py).
_READERS: dict[str | None, Callable[[frpc.TypedData], Any]] = {
    None: lambda data: None,
    "string": lambda data: data.string,
    "json": lambda data: data.json,
    "bytes": lambda data: data.bytes,
    "stream": lambda data: data.stream,
    "int": lambda data: data.int,
    "double": lambda data: data.double,
    "http": lambda data: data.http,
    "collection_bytes": _collection("bytes"),
    "collection_string": _collection("string"),
    "collection_double": _collection("double"),
    "collection_sint64": _collection("sint64"),
}


def from_typed_data(data: frpc.TypedData | None) -> Any:
    """The Python value of ``data`` (RpcHttp stays an RpcHttp message)."""
    if data is None:
        return None
    return _READERS[data.WhichOneof("data")](data)


def write_typed_data(target: frpc.TypedData, value: Any) -> None:
    """Write ``value`` into ``target`` as TypedData: text, bytes, numbers, HTTP responses, or
    JSON for the rest. In place: a message built apart and then set on its parent is copied
    (an HTTP response's body included)."""
    if value is None:
        target.SetInParent()
    elif isinstance(value, func.HttpResponse):
        write_http_response(target.http, value)
    elif isinstance(value, str):
        target.string = value
    elif isinstance(value, (bytes, bytearray)):
        target.bytes = bytes(value)
    elif isinstance(value, bool):
        target.json = json.dumps(value)
    elif isinstance(value, int):
        target.int = value
    elif isinstance(value, float):
        target.double = value
    else:
        try:
            target.json = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"cannot send a {type(value).__name__} to the host: {exc}") from exc


def _write_activity_return(target: frpc.TypedData, value: Any) -> None:
    # The extension reads an activity's result as JSON text, whatever its Python type.
    target.json = to_json(value) or "null"


def _write_orchestration_return(target: frpc.TypedData, value: Any) -> None:
    # The base64 OrchestratorResponse as text: the string kind says "no JSON here" to any
    # host (the real Python worker's converter labels the same text json).
    target.string = str(value)


#: Return-value encodings that depend on the trigger (as the real Python worker's converters
#: do); other triggers use ``write_typed_data``.
_RETURN_WRITERS: dict[str, Callable[[frpc.TypedData, Any], None]] = {
    ACTIVITY_TRIGGER: _write_activity_return,
    ORCHESTRATION_TRIGGER: _write_orchestration_return,
}


def write_return_data(target: frpc.TypedData, trigger_type: str, value: Any) -> None:
    """A function's return value written into ``target`` as the host expects it for
    ``trigger_type``."""
    _RETURN_WRITERS.get(trigger_type, write_typed_data)(target, value)


def write_http_response(target: frpc.RpcHttp, response: func.HttpResponse) -> None:
    """Status, headers and body of ``response`` written into ``target``."""
    target.status_code = str(response.status_code)
    target.headers.update(response.headers.items())
    target.body.bytes = response.get_body()


def http_request_from_rpc(http: frpc.RpcHttp) -> func.HttpRequest:
    """An azure.functions HttpRequest from the host's RpcHttp (non-proxied HTTP triggers)."""
    body_data = http.rawBody if http.HasField("rawBody") else http.body
    body = from_typed_data(body_data)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return func.HttpRequest(
        method=http.method,
        url=http.url,
        headers=dict(http.headers),
        params=dict(http.query),
        route_params=dict(http.params),
        body=body or b"",
    )
