"""Values written as TypedData in place (write_typed_data) equal the messages the host reads:
what a TypedData built field by field from the value holds."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

from azure_durable_ext.core.errors import SerializationError
from azure_durable_ext.functions.binding_types import ACTIVITY_TRIGGER, HTTP_TRIGGER
from azure_durable_ext.functions.typed_data import write_http_response, write_return_data, write_typed_data
from azure_durable_ext.protocol.function_rpc import frpc


def _response() -> func.HttpResponse:
    return func.HttpResponse(body=json.dumps({"id": "abc"}), status_code=202,
                             headers={"Location": "http://h/x", "Retry-After": "10", "Content-Type": "application/json"})


@pytest.mark.parametrize(("value", "expected"), [
    ("text", frpc.TypedData(string="text")),
    (b"\x00raw", frpc.TypedData(bytes=b"\x00raw")),
    (bytearray(b"ba"), frpc.TypedData(bytes=b"ba")),
    (True, frpc.TypedData(json="true")),
    (7, frpc.TypedData(int=7)),
    (2.5, frpc.TypedData(double=2.5)),
    ({"a": [1, None]}, frpc.TypedData(json='{"a": [1, null]}')),
    (None, frpc.TypedData()),
])
def test_values(value: object, expected: frpc.TypedData) -> None:
    holder = frpc.ParameterBinding()
    write_typed_data(holder.data, value)
    assert holder.HasField("data")  # even for None: the host sees the binding's (empty) data
    assert holder.data == expected
    assert holder.data.SerializeToString() == expected.SerializeToString()


def test_http_response_in_place() -> None:
    response = _response()
    expected = frpc.TypedData(http=frpc.RpcHttp(
        status_code="202", body=frpc.TypedData(bytes=b'{"id": "abc"}'),
        headers={"Location": "http://h/x", "Retry-After": "10", "Content-Type": "application/json"}))
    reply = frpc.InvocationResponse()
    write_return_data(reply.return_value, HTTP_TRIGGER, response)
    assert reply.return_value == expected
    data = frpc.TypedData()
    write_typed_data(data, response)
    assert data == expected
    empty = frpc.RpcHttp()
    write_http_response(empty, func.HttpResponse(status_code=204))
    assert empty.status_code == "204"
    assert empty.body.WhichOneof("data") == "bytes" and empty.body.bytes == b""


def test_trigger_specific_return_encoding_and_refusals() -> None:
    reply = frpc.InvocationResponse()
    write_return_data(reply.return_value, ACTIVITY_TRIGGER, "Hello")
    assert reply.return_value == frpc.TypedData(json='"Hello"')
    with pytest.raises(SerializationError, match="cannot send a object"):
        write_typed_data(frpc.TypedData(), object())
