"""The storage layout a start produces, seen through the raw Azure SDK.

The official ``durabletask`` client starts instances through our LocalGrpcListener backed by
the Azure Storage provider on Azurite; the test then reads tables, queues and blobs
directly, as DurableTask.AzureStorage tooling would.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient
from azurite_fixture import make_azure_service

from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService


class _HostThread:
    """A SidecarHost over the Azure provider on its own event-loop thread."""

    def __init__(self, service: AzureStorageOrchestrationService) -> None:
        self.service = service
        options = DurableTaskOptions(hub_name=service.names.hub)
        self.host = SidecarHost(TaskHubRegistry([TaskHub.create(options, service)]))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def __enter__(self) -> "_HostThread":
        self.thread.start()
        # Client-only host: it owns no partition, so nothing consumes the control queues.
        self.run(self.service.set_owned_partitions(frozenset()))
        self.run(self.host.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.host.stop(grace=0.5))
            self.run(self.service.delete_task_hub())
            self.run(self.service.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def hosted(azurite: AzuriteProcess) -> Iterator[_HostThread]:
    # No partition manager: it would claim the partitions this client-only host gives up.
    with _HostThread(make_azure_service(azurite, use_table_partition_management=False)) as host:
        yield host


@pytest.fixture
def client(hosted: _HostThread) -> Iterator[Any]:
    from durabletask.client import TaskHubGrpcClient

    c = TaskHubGrpcClient(host_address=hosted.host.address)
    try:
        yield c
    finally:
        c.close()


def _peek(azurite: AzuriteProcess, queue: str) -> list[dict[str, Any]]:
    with QueueServiceClient.from_connection_string(azurite.connection_string) as qs:
        return [json.loads(m.content) for m in qs.get_queue_client(queue).peek_messages(max_messages=32)]


def test_start_writes_the_durabletask_azurestorage_layout(azurite: AzuriteProcess, hosted: _HostThread, client: Any) -> None:
    names = hosted.service.names
    assert client.schedule_new_orchestration("HelloOrchestration", instance_id="abc", version="1.2.0") == "abc"

    with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        row = ts.get_table_client(f"{names.hub}Instances").get_entity("abc", "")
    assert row["Name"] == "HelloOrchestration" and row["Version"] == "1.2.0"
    assert row["RuntimeStatus"] == "Pending" and row["Generation"] == 0
    assert row["CustomStatus"] == "null" and row["TaskHubName"] == names.hub
    assert len(row["ExecutionId"]) == 32

    assert names.control_queue_for("abc") == f"{names.hub.lower()}-control-03"
    bodies = _peek(azurite, f"{names.hub.lower()}-control-03")
    assert len(bodies) == 1
    body = bodies[0]
    assert next(iter(body)) == "$type" and body["$type"] == "DurableTask.AzureStorage.MessageData"
    event = body["TaskMessage"]["Event"]
    assert event["$type"] == "DurableTask.Core.History.ExecutionStartedEvent" and event["EventType"] == 0
    assert event["Name"] == "HelloOrchestration" and event["Version"] == "1.2.0"
    assert body["TaskMessage"]["OrchestrationInstance"] == {"InstanceId": "abc", "ExecutionId": row["ExecutionId"]}
    for other in (0, 1, 2):
        assert _peek(azurite, names.control_queue(other)) == []


def test_a_large_input_goes_to_the_large_messages_container(
    azurite: AzuriteProcess, hosted: _HostThread, client: Any
) -> None:
    names = hosted.service.names
    payload = "x" * 100_000
    client.schedule_new_orchestration("HelloOrchestration", instance_id="big", input=payload, version="1.2.0")

    queue = names.control_queue_for("big")
    (wrapper,) = _peek(azurite, queue)
    assert wrapper["TaskMessage"] is None
    blob_name = wrapper["CompressedBlobName"]
    assert blob_name.startswith("big/message-") and blob_name.endswith("-ExecutionStarted.json.gz")
    with BlobServiceClient.from_connection_string(azurite.connection_string) as bs:
        data = bs.get_container_client(names.large_messages_container).download_blob(blob_name).readall()
    full = json.loads(gzip.decompress(data))
    assert json.loads(full["TaskMessage"]["Event"]["Input"]) == payload

    state = client.get_orchestration_state("big", fetch_payloads=True)
    assert state is not None and json.loads(state.serialized_input) == payload
