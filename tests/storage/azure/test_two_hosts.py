"""Two host processes on one task hub (Azurite): two ``durable-ext sidecar --storage azure``
subprocesses, each with an official ``durabletask`` worker. The partitions split between
them; one is SIGKILLed mid-run; the other takes its partitions and every instance completes,
exactly once (one ExecutionStarted and one ExecutionCompleted in its stored history).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from azure.data.tables import TableClient
from azurite_fixture import unique_hub_name
from durabletask import task
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.worker import TaskHubGrpcWorker

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.names import TaskHubNames

CLI = [sys.executable, "-m", "azure_durable_ext.cli.main"]
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
ACTIVITY_SECONDS = 1.0
INSTANCES = 20

#: Short leases and visibility timeouts, so a killed host's work moves within seconds.
HOST_JSON = {
    "controlQueueVisibilityTimeout": 10,
    "workItemQueueVisibilityTimeout": 10,
    "maxQueuePollingInterval": 1,
    "partitionLeases": {
        "acquireInterval": 0.5,
        "renewInterval": 1,
        "leaseInterval": 4,
        "claimInterval": 4,
        "busyInterval": 0.2,
        "operationTimeout": 1.5,
        "drainTimeout": 10,
    },
}


def pause_and_greet(ctx: task.ActivityContext, name: str) -> str:
    time.sleep(ACTIVITY_SECONDS)
    return f"hi {name}"


def three_greetings(ctx: task.OrchestrationContext, name: str):  # type: ignore[no-untyped-def]
    first = yield ctx.call_activity(pause_and_greet, input=name)
    second = yield ctx.call_activity(pause_and_greet, input=first)
    third = yield ctx.call_activity(pause_and_greet, input=second)
    return third


@dataclass
class Host:
    """One sidecar process and the worker connected to it."""

    process: subprocess.Popen[bytes]
    port: int
    worker: TaskHubGrpcWorker

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _start_host(stack: ExitStack, azurite: AzuriteProcess, host_json: Path, hub: str, logs: Path) -> Host:
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "PYTHONUNBUFFERED": "1"}
    out = stack.enter_context(open(logs.with_suffix(".out"), "wb"))
    err = stack.enter_context(open(logs.with_suffix(".err"), "wb"))
    process = subprocess.Popen(
        [*CLI, "-v", "sidecar", "--storage", "azure", "--port", "0", "--host-json", str(host_json), "--hub", hub],
        stdout=out, stderr=err, env=env,
    )
    stack.callback(_end, process)
    port = int(_wait_for(lambda: _listening_port(logs.with_suffix(".out"), process), "the sidecar's listening line"))
    worker = TaskHubGrpcWorker(host_address=f"127.0.0.1:{port}")
    worker.add_orchestrator(three_greetings)
    worker.add_activity(pause_and_greet)
    worker.start()
    stack.callback(worker.stop)
    return Host(process, port, worker)


def _listening_port(out: Path, process: subprocess.Popen[bytes]) -> str | None:
    if process.poll() is not None:
        raise AssertionError(f"the sidecar exited with {process.returncode}: {out.with_suffix('.err').read_text()}")
    match = LISTENING.search(out.read_text())
    return match.group(1) if match else None


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(probe: Callable[[], object], what: str, timeout: float = 40.0) -> object:
    """Poll ``probe`` until it returns something truthy (correctness, not speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what}")
        time.sleep(0.1)


def _owners(partitions: TableClient) -> dict[str, tuple[str | None, str | None]]:
    """RowKey -> (CurrentOwner, NextOwner) of the Partitions table."""
    return {e["RowKey"]: (e.get("CurrentOwner"), e.get("NextOwner")) for e in partitions.list_entities()}


def _pid_of(worker_id: str | None) -> int | None:
    # Worker ids are "{hostname}-{pid}-{random}".
    return int(worker_id.rsplit("-", 2)[1]) if worker_id else None


def test_two_sidecar_processes_share_a_hub_and_one_takes_over_when_the_other_is_killed(
    azurite: AzuriteProcess, tmp_path: Path
) -> None:
    hub = unique_hub_name("Two")
    names = TaskHubNames(hub, 4)
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps(
        {"version": "2.0", "extensions": {"durableTask": {"hubName": hub, "storageProvider": HOST_JSON}}}
    ))
    ids = [f"two-hosts-{i}" for i in range(INSTANCES)]
    assert set(Counter(names.partition_of(i) for i in ids)) == {0, 1, 2, 3}, "instances on every partition"

    with ExitStack() as stack:
        partitions = stack.enter_context(
            TableClient.from_connection_string(azurite.connection_string, names.partitions_table)
        )
        history = stack.enter_context(TableClient.from_connection_string(azurite.connection_string, names.history_table))
        doomed = _start_host(stack, azurite, host_json, hub, tmp_path / "host-a")
        survivor = _start_host(stack, azurite, host_json, hub, tmp_path / "host-b")
        pids = {doomed.process.pid, survivor.process.pid}

        def split_between_the_two() -> dict[str, tuple[str | None, str | None]] | None:
            owners = _owners(partitions)
            per_pid = Counter(_pid_of(current) for current, nxt in owners.values() if nxt is None)
            return owners if len(owners) == 4 and per_pid == {pid: 2 for pid in pids} else None

        split = _wait_for(split_between_the_two, "a 2/2 split of the partitions between the two processes")
        doomed_partitions = {
            int(row[-2:]) for row, (current, _) in split.items() if _pid_of(current) == doomed.process.pid  # type: ignore[union-attr]
        }

        client = stack.enter_context(TaskHubGrpcClient(host_address=survivor.address))
        for iid in ids:
            client.schedule_new_orchestration(three_greetings, input=iid, instance_id=iid)
        on_doomed = [i for i in ids if names.partition_of(i) in doomed_partitions]

        def doomed_host_is_mid_run() -> bool:
            states = [client.get_orchestration_state(i, fetch_payloads=False) for i in on_doomed]
            statuses = {s.runtime_status if s else None for s in states}
            return OrchestrationStatus.RUNNING in statuses and not statuses & {None, OrchestrationStatus.PENDING}

        _wait_for(doomed_host_is_mid_run, "the doomed host running its instances")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        unfinished = [
            i for i in on_doomed
            if (s := client.get_orchestration_state(i, fetch_payloads=False)) and s.runtime_status != OrchestrationStatus.COMPLETED
        ]
        assert unfinished, "the kill must come while the killed host still had work"

        def survivor_owns_all() -> bool:
            owners = _owners(partitions)
            return len(owners) == 4 and all(_pid_of(c) == survivor.process.pid and n is None for c, n in owners.values())

        _wait_for(survivor_owns_all, "the surviving process owning every partition")

        def all_completed() -> bool:
            states = [client.get_orchestration_state(i, fetch_payloads=False) for i in ids]
            return all(s is not None and s.runtime_status == OrchestrationStatus.COMPLETED for s in states)

        try:
            _wait_for(all_completed, "every instance completed", timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_progress(client, history, ids)}") from None
        for iid in ids:
            state = client.get_orchestration_state(iid)
            assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED, (iid, state)
            assert state.serialized_output == json.dumps(f"hi hi hi {iid}")
            rows = list(history.query_entities("PartitionKey eq @id", parameters={"id": iid}))
            kinds = Counter(r.get("EventType") for r in rows)
            assert (kinds["ExecutionStarted"], kinds["ExecutionCompleted"]) == (1, 1), (iid, kinds)
        assert survivor.process.poll() is None, "the survivor kept running"

        # Ctrl-C: the survivor drains and releases its leases before it exits.
        survivor.process.send_signal(signal.SIGINT)
        assert survivor.process.wait(timeout=20) == 0
        assert all(current is None for current, _ in _owners(partitions).values()), _owners(partitions)


def _progress(client: TaskHubGrpcClient, history: TableClient, ids: list[str]) -> str:
    """Status and stored event kinds of every unfinished instance (for a failure message)."""
    lines = []
    for iid in ids:
        state = client.get_orchestration_state(iid, fetch_payloads=False)
        if state is None or state.runtime_status != OrchestrationStatus.COMPLETED:
            rows = history.query_entities("PartitionKey eq @id", parameters={"id": iid})
            kinds = [r.get("EventType") for r in sorted(rows, key=lambda r: r["RowKey"])]
            lines.append(f"{iid}: {state.runtime_status if state else None} {kinds}")
    return "; ".join(lines)
