"""The worker as its own process, started the way the host starts it (module entry point)."""
from __future__ import annotations

import asyncio
import sys

from functions_support import SAMPLE_APP
from functions_test_host import FunctionTestHost, invocation, invoke, load_all
from google.protobuf.duration_pb2 import Duration

from azure_durable_ext.functions.worker_main import WorkerOptions, parse_arguments
from azure_durable_ext.protocol.function_rpc import frpc


async def test_worker_process_serves_and_terminates(host: FunctionTestHost) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "azure_durable_ext.functions.worker_main",
        "--host", "127.0.0.1", "--port", str(host.port), "--workerId", "proc-worker", "--requestId", "proc-req",
        "--grpcMaxMessageLength", str(32 * 1024 * 1024), "--functions-worker-directory", str(SAMPLE_APP),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(host.connected.wait(), 60)
        start = host.received[0]
        assert (start.start_stream.worker_id, start.request_id) == ("proc-worker", "proc-req")
        functions = await load_all(host, str(SAMPLE_APP))
        response = await invoke(host, invocation(functions["say_hello"], "inv-p", city="Lima"))
        assert response.return_value.json == '"Hello Lima!"'
        log = await host.wait_for("rpc_log", predicate=lambda m: "saying hello to Lima" in m.rpc_log.message)
        assert log.rpc_log.invocation_id == "inv-p"
        host.send(worker_terminate=frpc.WorkerTerminate(grace_period=Duration(seconds=5)))
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if process.stderr is not None:
            await process.stderr.read()


async def test_unreachable_host_exits_with_a_clear_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "azure_durable_ext.functions.worker_main",
        "--host", "127.0.0.1", "--port", str(port), "--workerId", "w", "--requestId", "r",
        "--functions-worker-directory", str(SAMPLE_APP),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert f"cannot talk to the Functions host at 127.0.0.1:{port}" in stderr.decode()


def test_log_hold_defaults_to_a_second_and_can_be_set() -> None:
    standard = ["--host", "127.0.0.1", "--port", "7000", "--workerId", "w1", "--requestId", "r1",
                "--grpcMaxMessageLength", "2147483647"]
    assert parse_arguments(standard).log_hold == 1.0
    assert parse_arguments([*standard, "--log-hold", "0.1"]).log_hold == 0.1
    assert WorkerOptions(host="127.0.0.1", port=1, worker_id="w", request_id="r").log_hold == 1.0
    # The hold itself defaults the same, however it is built.
    from azure_durable_ext.functions.rpc_logging import HeldInvocationLogs

    assert HeldInvocationLogs(lambda message: None).max_delay == 1.0
