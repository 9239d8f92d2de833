"""Pure parts of the client: address and timeout parsing, JSON conversion, request
builders and response parsers, the public exports."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

import azure_durable_ext
from azure_durable_ext._proto import pb
from azure_durable_ext.client.channel import parse_address, parse_timeout
from azure_durable_ext.client.converter import JsonDataConverter
from azure_durable_ext.client.operations import (
    GetInstanceHistoryInput,
    PurgeInstanceInput,
    StartOrchestrationInput,
    SuspendInstanceInput,
    WaitForInstanceCompletionInput,
)
from azure_durable_ext.client.wire import codec_for, parse_query
from azure_durable_ext.core.errors import InstanceNotFoundError, InvalidArgumentError, SerializationError
from azure_durable_ext.core.status import OrchestrationStatus


@pytest.mark.parametrize(
    ("address", "target", "secure"),
    [
        ("127.0.0.1:4001", "127.0.0.1:4001", False),
        ("http://127.0.0.1:4001", "127.0.0.1:4001", False),
        ("http://127.0.0.1:4001/durabletask/", "127.0.0.1:4001", False),
        ("https://example.net", "example.net:443", True),
        ("http://[::1]:5000", "[::1]:5000", False),
        ("dns:///localhost:4001", "dns:///localhost:4001", False),
    ],
)
def test_parse_address(address, target, secure):
    parsed = parse_address(address)
    assert (parsed.target, parsed.secure) == (target, secure)


def test_parse_timeout_forms():
    assert parse_timeout("00:01:40") == 100
    assert parse_timeout("1.02:00:00.5") == 86400 + 7200.5
    assert parse_timeout(timedelta(seconds=3)) == 3
    assert parse_timeout(2) == 2.0
    assert parse_timeout(None) is None
    with pytest.raises(InvalidArgumentError, match="positive"):
        parse_timeout(0)


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_json_converter_round_trips_and_names_bad_types():
    converter = JsonDataConverter()
    assert converter.serialize(None) is None
    assert converter.serialize(Point(1, 2)) == '{"x": 1, "y": 2}'
    assert converter.serialize(OrchestrationStatus.RUNNING) == "0"
    assert converter.serialize(datetime(2030, 1, 1, tzinfo=timezone.utc)) == '"2030-01-01T00:00:00+00:00"'
    assert converter.deserialize('{"x": 1, "y": 2}', Point) == Point(1, 2)
    assert converter.deserialize("3", float) == 3.0
    assert converter.deserialize(None) is None
    with pytest.raises(SerializationError, match="builtins.object"):
        converter.serialize({"nested": [object()]})
    with pytest.raises(SerializationError, match="not valid JSON"):
        converter.deserialize("{nope")
    with pytest.raises(SerializationError, match="expected the payload to be str, got JSON int"):
        converter.deserialize("1", str)
    with pytest.raises(SerializationError, match="cannot read the payload as Point"):
        converter.deserialize('{"x": 1}', Point)


def test_start_request_builder():
    op = StartOrchestrationInput(
        name="Hello",
        version="1.2.0",
        instance_id="abc",
        input={"k": "v"},
        start_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
        tags={"t": "1"},
        reuse_statuses=frozenset({OrchestrationStatus.FAILED, OrchestrationStatus.COMPLETED}),
    )
    codec = codec_for(op)
    request = codec.build(op, JsonDataConverter())
    assert codec.rpc == "StartInstance"
    assert (request.instanceId, request.name, request.version.value, request.input.value) == (
        "abc",
        "Hello",
        "1.2.0",
        '{"k": "v"}',
    )
    assert list(request.orchestrationIdReusePolicy.replaceableStatus) == [1, 3]
    assert dict(request.tags) == {"t": "1"}
    bare = codec.build(StartOrchestrationInput(name="Hello", instance_id="abc", reuse_statuses=frozenset()), JsonDataConverter())
    assert not bare.HasField("version") and not bare.HasField("input") and not bare.HasField("scheduledStartTimestamp")
    assert bare.HasField("orchestrationIdReusePolicy")  # an empty policy: replace nothing


def test_other_builders_and_parsers():
    converter = JsonDataConverter()
    suspend = codec_for(SuspendInstanceInput(instance_id="i", reason="why"))
    assert suspend.build(SuspendInstanceInput(instance_id="i", reason="why"), converter).reason.value == "why"
    history = GetInstanceHistoryInput(instance_id="i", execution_id="e1")
    assert codec_for(history).build(history, converter).executionId.value == "e1"
    purge = PurgeInstanceInput(instance_id="i", recursive=True)
    assert codec_for(purge).build(purge, converter) == pb.PurgeInstancesRequest(instanceId="i", recursive=True)
    page = parse_query(pb.QueryInstancesResponse(continuationToken={"value": "0"}), None, converter)
    assert page.instances == [] and page.continuation_token is None
    with pytest.raises(TypeError, match="no gRPC mapping"):
        codec_for(object())


def test_a_wait_answered_with_exists_false_raises_not_found():
    # Sidecars that answer at once for unknown ids (instead of waiting for them to appear).
    wait = WaitForInstanceCompletionInput(instance_id="nobody")
    with pytest.raises(InstanceNotFoundError, match="nobody"):
        codec_for(wait).parse(pb.GetInstanceResponse(exists=False), wait, JsonDataConverter())


def test_public_exports_are_pinned():
    assert sorted(azure_durable_ext.__all__) == [
        "DurableError",
        "DurableTaskClient",
        "FunctionsDurableTaskClient",
        "GrpcDurableTaskClient",
        "OrchestrationMetadata",
        "OrchestrationStatus",
        "SyncDurableTaskClient",
        "TaskName",
    ]
    for name in azure_durable_ext.__all__:
        assert getattr(azure_durable_ext, name).__name__ == name
    with pytest.raises(AttributeError):
        azure_durable_ext.NoSuchThing  # noqa: B018


def test_the_client_layer_loads_only_core_and_protocol():
    import ast
    import subprocess
    import sys

    code = (
        "import sys, azure_durable_ext.client\n"
        "layers = {m.split('.')[1] for m in sys.modules if m.startswith('azure_durable_ext.')}\n"
        "print(sorted(layers))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(ast.literal_eval(out)) <= {"_proto", "client", "core", "protocol"}, out
