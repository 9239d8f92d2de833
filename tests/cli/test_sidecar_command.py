"""`durable-ext sidecar` as a real subprocess: announce, serve, stop on SIGINT; config errors."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from google.protobuf import empty_pb2

from azure_durable_ext._proto import pb
from azure_durable_ext.protocol.sidecar_rpc import SidecarStub

CLI = [sys.executable, "-m", "azure_durable_ext.cli.main"]
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def sidecar_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {"defaultVersion": "3.1"}}}))
    proc = _spawn("sidecar", "--port", "0", "--storage", "memory", "--host-json", str(host_json), "--hub", "CliHub")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = LISTENING.search(line)
        assert match, f"no listening line: {line!r} stderr={proc.stderr.read() if proc.poll() is not None else ''}"
        assert "CliHub" in line
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_sidecar_serves_and_stops_on_sigint(sidecar_process: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = sidecar_process
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        assert SidecarStub(channel).Hello(empty_pb2.Empty()) == empty_pb2.Empty()
    with TaskHubGrpcClient(host_address=address) as client:
        explicit = client.schedule_new_orchestration("HelloOrchestration", input="x", version="1.2.0")
        defaulted = client.schedule_new_orchestration("HelloOrchestration")
        state = client.get_orchestration_state(explicit)
        assert state is not None and state.runtime_status == OrchestrationStatus.PENDING
    with grpc.insecure_channel(address) as channel:
        stub = SidecarStub(channel)
        versions = [
            stub.GetInstance(pb.GetInstanceRequest(instanceId=i)).orchestrationState.version.value
            for i in (explicit, defaulted)
        ]
    assert versions == ["1.2.0", "3.1"]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


def test_sigterm_also_stops_cleanly(sidecar_process: tuple[subprocess.Popen[str], int]) -> None:
    proc, _ = sidecar_process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_malformed_host_json_value_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"extensions": {"durableTask": {"maxGrpcMessageSizeInBytes": "lots"}}}))
    result = _run("sidecar", "--port", "0", "--host-json", str(host_json))
    assert result.returncode == 2
    assert str(host_json) in result.stderr and "maxGrpcMessageSizeInBytes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_host_json_that_is_not_json_exits_2(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text("{ not json")
    result = _run("sidecar", "--port", "0", "--host-json", str(host_json))
    assert result.returncode == 2 and str(host_json) in result.stderr and "not valid JSON" in result.stderr


def test_bad_hub_name_exits_2() -> None:
    result = _run("sidecar", "--port", "0", "--hub", "no-dashes")
    assert result.returncode == 2 and "--hub" in result.stderr


def test_port_in_use_is_a_clear_error(sidecar_process: tuple[subprocess.Popen[str], int]) -> None:
    _, port = sidecar_process
    result = _run("sidecar", "--port", str(port))
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_official_worker_runs_a_versioned_orchestration_through_the_cli_sidecar(
    sidecar_process: tuple[subprocess.Popen[str], int],
) -> None:
    from durabletask import task
    from durabletask.worker import TaskHubGrpcWorker

    def greet(ctx: task.ActivityContext, name: str) -> str:
        return f"Hello {name}"

    def hello_orchestration(ctx: task.OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
        greeting = yield ctx.call_activity(greet, input=name)
        return greeting

    _, port = sidecar_process
    address = f"127.0.0.1:{port}"
    worker = TaskHubGrpcWorker(host_address=address)
    worker.add_orchestrator(hello_orchestration)
    worker.add_activity(greet)
    worker.start()
    try:
        with TaskHubGrpcClient(host_address=address) as client:
            instance_id = client.schedule_new_orchestration(hello_orchestration, input="Tokyo", version="1.2.0")
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
            assert json.loads(state.serialized_output) == "Hello Tokyo"
            history = client.get_orchestration_history(instance_id)
            (started,) = [e for e in history if type(e).__name__ == "ExecutionStartedEvent"]
            assert started.version == "1.2.0"
    finally:
        worker.stop()
