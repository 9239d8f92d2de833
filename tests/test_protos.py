"""The committed generated code equals a fresh generation, and our sidecar messages are
wire-identical to the official `durabletask` package's while loading in the same process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _generate(tmp_path: Path, proto: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", str(proto)],
        check=True,
    )


@pytest.mark.parametrize("proto", sorted((ROOT / "protos").glob("*.proto")), ids=lambda p: p.name)
def test_committed_generated_code_is_fresh(tmp_path: Path, proto: Path) -> None:
    _generate(tmp_path, proto)
    for generated in tmp_path.iterdir():
        committed = ROOT / "azure_durable_ext" / "_proto" / generated.name
        assert committed.exists(), f"{committed} is missing; run scripts/gen_protos.sh"
        assert committed.read_text() == generated.read_text(), (
            f"{committed.name} differs from a fresh generation of {proto.name}; run scripts/gen_protos.sh"
        )


def _shape(descriptor) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}

    def walk(message, prefix: str = "") -> None:
        out[prefix + message.name] = sorted(
            (
                f.name,
                f.number,
                f.type,
                f.is_repeated,
                f.message_type.name if f.message_type else "",
                f.enum_type.name if f.enum_type else "",
                f.containing_oneof.name if f.containing_oneof else "",
            )
            for f in message.fields
        )
        for nested in message.nested_types:
            walk(nested, prefix + message.name + ".")

    for message in descriptor.message_types_by_name.values():
        walk(message)
    for enum in descriptor.enum_types_by_name.values():
        out["enum " + enum.name] = sorted((v.name, v.number) for v in enum.values)
    return out


def test_both_copies_load_in_one_process_and_have_the_same_wire_shape() -> None:
    import durabletask.internal.orchestrator_service_pb2 as theirs

    from azure_durable_ext._proto import pb as ours

    assert ours.DESCRIPTOR.package == "azure_durable_ext.sidecar"
    assert theirs.DESCRIPTOR.package == ""
    assert _shape(ours.DESCRIPTOR) == _shape(theirs.DESCRIPTOR)
    their_service = theirs.DESCRIPTOR.services_by_name["TaskHubSidecarService"]
    our_service = ours.DESCRIPTOR.services_by_name["TaskHubSidecarService"]
    assert [(m.name, m.input_type.name, m.output_type.name, m.server_streaming) for m in our_service.methods] == [
        (m.name, m.input_type.name, m.output_type.name, m.server_streaming) for m in their_service.methods
    ]


def test_bytes_cross_between_the_two_copies() -> None:
    import durabletask.internal.orchestrator_service_pb2 as theirs

    from azure_durable_ext._proto import pb as ours

    request = ours.CreateInstanceRequest(instanceId="abc", name="HelloOrchestration")
    request.version.value = "1.2.0"
    request.input.value = '"Tokyo"'
    request.tags["team"] = "blue"
    parsed = theirs.CreateInstanceRequest.FromString(request.SerializeToString())
    assert (parsed.instanceId, parsed.name, parsed.version.value, parsed.input.value) == (
        "abc", "HelloOrchestration", "1.2.0", '"Tokyo"')
    assert dict(parsed.tags) == {"team": "blue"}
    back = ours.CreateInstanceRequest.FromString(parsed.SerializeToString())
    assert back == request


def test_rpc_table_uses_the_packageless_wire_path() -> None:
    from azure_durable_ext.protocol.sidecar_rpc import RPCS

    assert RPCS["StartInstance"].path == "/TaskHubSidecarService/StartInstance"
    assert RPCS["GetWorkItems"].server_streaming
    assert len(RPCS) == 29
