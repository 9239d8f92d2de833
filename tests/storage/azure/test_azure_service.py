"""Azure-specific behaviour of AzureStorageOrchestrationService on Azurite: bad connections,
poison messages, orphaned start messages, operation counts, configuration."""
from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient
from azurite_fixture import azure_hub, make_azure_service

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import LOCK_TIMEOUT, episode, kinds, start_message, task_completed, task_scheduled  # noqa: E402

from azure_durable_ext.config import HostConfig  # noqa: E402
from azure_durable_ext.core.errors import (  # noqa: E402
    ConcurrencyConflictError,
    ConfigurationError,
    InstanceAlreadyExistsError,
    StorageUnavailableError,
)
from azure_durable_ext.core.model import TaskMessage  # noqa: E402
from azure_durable_ext.core.options import AzureStorageOptions, DurableTaskOptions  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess, ensure_development_storage, port_open  # noqa: E402
from azure_durable_ext.storage.azure.connection import DEV_PORTS, development_connection_string  # noqa: E402
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService  # noqa: E402


@pytest.fixture
async def poison_service(azurite: AzuriteProcess) -> AsyncIterator[AzureStorageOrchestrationService]:
    async with azure_hub(azurite, poison_message_dequeue_count=2) as service:
        yield service


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.timeout(30)
async def test_a_connection_to_a_closed_port_fails_naming_the_setting() -> None:
    port = _closed_port()
    config = HostConfig(
        settings={"AzureWebJobsStorage": development_connection_string(ports={"blob": port, "queue": port, "table": port})}
    )
    service = AzureStorageOrchestrationService.from_config(config)
    try:
        with pytest.raises(StorageUnavailableError, match="^AzureWebJobsStorage: cannot reach Azure Storage"):
            await service.get_instance("abc")
    finally:
        await service.stop()


@pytest.mark.timeout(30)
async def test_an_endpoint_that_never_answers_fails_on_first_contact() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ports = {"blob": port, "queue": port, "table": port}
    service = AzureStorageOrchestrationService.from_config(
        HostConfig(settings={"AzureWebJobsStorage": development_connection_string(ports=ports)})
    )
    try:
        with pytest.raises(StorageUnavailableError, match="^AzureWebJobsStorage: cannot reach Azure Storage while creating"):
            await service.get_instance("abc")
    finally:
        await service.stop()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_from_config_reports_a_missing_or_malformed_setting() -> None:
    options = DurableTaskOptions(storage=AzureStorageOptions(connection_name="MyStorage"))
    with pytest.raises(ConfigurationError, match="^MyStorage: the storage connection setting is missing"):
        AzureStorageOrchestrationService.from_config(HostConfig(durable=options, settings={}))
    with pytest.raises(ConfigurationError, match="^MyStorage: malformed storage connection string"):
        AzureStorageOrchestrationService.from_config(HostConfig(durable=options, settings={"MyStorage": "nonsense"}))


async def test_from_config_takes_hub_and_options(azurite: AzuriteProcess) -> None:
    options = DurableTaskOptions(hub_name="ConfiguredHub", storage=AzureStorageOptions(partition_count=2))
    service = AzureStorageOrchestrationService.from_config(
        HostConfig(durable=options, settings={"AzureWebJobsStorage": azurite.connection_string})
    )
    try:
        assert service.names.hub == "ConfiguredHub" and service.names.control_queues[-1] == "configuredhub-control-01"
        other = AzureStorageOrchestrationService.from_config(
            HostConfig(durable=options, settings={"AzureWebJobsStorage": azurite.connection_string}), hub_name="Other"
        )
        assert other.names.hub == "Other"
    finally:
        await service.stop()


async def test_an_invalid_hub_name_is_refused(azurite: AzuriteProcess) -> None:
    with pytest.raises(ConfigurationError, match="letters and digits only"):
        make_azure_service(azurite, hub_name="bad-hub")
    with pytest.raises(ConfigurationError, match="3-45 characters"):
        make_azure_service(azurite, hub_name="H" * 46)


# -- poison messages -------------------------------------------------------------------------
async def _poison_rows(azurite: AzuriteProcess, service: AzureStorageOrchestrationService) -> list[dict]:
    async with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        table = ts.get_table_client(service.names.poison_table)
        return [dict(e) async for e in table.list_entities()]


async def _crash_after_lock(service: AzureStorageOrchestrationService, kind: str) -> int:
    """Lock work, then die without completing or abandoning it (the process crashes)."""
    try:
        if kind == "orchestration":
            item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        else:
            item = await service.lock_next_activity(LOCK_TIMEOUT)
        assert item is not None
        return item.dequeue_count
    finally:
        await service.stop()


async def test_an_orchestration_message_that_keeps_failing_is_poisoned(
    azurite: AzuriteProcess, poison_service: AzureStorageOrchestrationService
) -> None:
    service = poison_service
    hub = service.names.hub
    await service.create_instance(start_message("sick"), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await service.complete_orchestration(item, episode(item))
    await service.set_owned_partitions(frozenset())  # this process stops polling before the message exists
    await service.send_messages([TaskMessage("sick", item.state.execution_id if item.state else None, task_completed(9))])
    for attempt in (1, 2):
        crashing = make_azure_service(azurite, hub_name=hub, control_queue_visibility_timeout=1.0)
        assert await _crash_after_lock(crashing, "orchestration") == attempt
    await service.set_owned_partitions(frozenset(range(4)))
    assert await service.lock_next_orchestration(4.0) is None
    state = await service.get_instance("sick")
    assert state is not None and state.status is OrchestrationStatus.FAILED
    assert state.failure is not None and state.failure.error_type == "PoisonMessage"
    assert "delivered 3 times without being completed (limit 2" in state.failure.message
    assert kinds(await service.get_history("sick"))[-1] == "executionCompleted"
    (row,) = await _poison_rows(azurite, service)
    assert row["PartitionKey"] == "sick" and row["DequeueCount"] == 3
    assert json.loads(row["Body"])["TaskMessage"]["Event"]["TaskScheduledId"] == 9


async def test_an_activity_that_keeps_failing_is_poisoned(
    azurite: AzuriteProcess, poison_service: AzureStorageOrchestrationService
) -> None:
    service = poison_service
    await service.create_instance(start_message("actsick"), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    scheduled = task_scheduled(0)
    activity = TaskMessage("actsick", item.new_messages[0].execution_id, scheduled)
    await service.complete_orchestration(item, episode(item, extra=[scheduled], activities=[activity]))
    for attempt in (1, 2):
        crashing = make_azure_service(
            azurite, hub_name=service.names.hub, work_item_queue_visibility_timeout=1.0
        )
        assert await _crash_after_lock(crashing, "activity") == attempt
    assert await service.lock_next_activity(4.0) is None
    state = await service.get_instance("actsick")
    assert state is not None and state.status is OrchestrationStatus.FAILED
    assert state.failure is not None and "activity message delivered 3 times" in state.failure.message
    (row,) = await _poison_rows(azurite, service)
    assert row["Queue"] == service.names.work_item_queue


async def test_deliberate_put_backs_never_poison_a_message(
    azurite: AzuriteProcess, poison_service: AzureStorageOrchestrationService
) -> None:
    service = poison_service
    await service.create_instance(start_message("waiting", version="9.0"), RUNNING_STATES)
    for attempt in range(1, 6):
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and item.dequeue_count == attempt
        await service.abandon_orchestration(item)  # e.g. no worker for version 9.0 yet
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await service.complete_orchestration(item, episode(item))
    state = await service.get_instance("waiting")
    assert state is not None and state.status is OrchestrationStatus.RUNNING
    assert await _poison_rows(azurite, service) == []


async def test_an_unreadable_message_is_poisoned_without_harm(
    azurite: AzuriteProcess, poison_service: AzureStorageOrchestrationService
) -> None:
    service = poison_service
    async with QueueServiceClient.from_connection_string(azurite.connection_string) as qs:
        await qs.get_queue_client(service.names.control_queue(0)).send_message("this is not a MessageData")
    await service.create_instance(start_message("fine"), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == "fine"
    await service.complete_orchestration(item, episode(item))
    rows: list[dict] = []
    for _ in range(50):
        rows = await _poison_rows(azurite, service)
        if rows:
            break
        await service.lock_next_orchestration(0.2)
    (row,) = rows
    assert row["PartitionKey"] == "(unknown)" and "unreadable message" in row["Reason"]


# -- orphaned starts -------------------------------------------------------------------------
async def test_a_start_without_an_instance_row_runs(azure_service: AzureStorageOrchestrationService) -> None:
    start = start_message("orphan")
    await azure_service.send_messages([start])  # as if the row write never happened
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.state is None and kinds([m.event for m in item.new_messages]) == ["executionStarted"]
    await azure_service.complete_orchestration(item, episode(item))
    state = await azure_service.get_instance("orphan")
    assert state is not None and state.status is OrchestrationStatus.RUNNING and state.execution_id == start.execution_id


async def test_a_start_superseded_by_a_pending_row_is_dropped(azure_service: AzureStorageOrchestrationService) -> None:
    loser = start_message("race")
    winner = start_message("race")
    await azure_service.create_instance(winner, RUNNING_STATES)
    await azure_service.send_messages([loser])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    if len(item.new_messages) == 1 and item.new_messages[0].execution_id == loser.execution_id:
        pytest.fail("the superseded start ran")
    assert [m.execution_id for m in item.new_messages] == [winner.execution_id]
    await azure_service.complete_orchestration(item, episode(item))
    assert await azure_service.lock_next_orchestration(1.0) is None


async def test_a_newer_orphan_start_after_a_finished_execution_starts_over(
    azure_service: AzureStorageOrchestrationService,
) -> None:
    await azure_service.create_instance(start_message("again"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    newer = start_message("again")
    await azure_service.send_messages([newer])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.past_events == []
    await azure_service.complete_orchestration(item, episode(item))
    history = await azure_service.get_history("again")
    state = await azure_service.get_instance("again")
    assert state is not None and state.execution_id == newer.execution_id
    assert kinds(history) == ["orchestratorStarted", "executionStarted"]


# -- efficiency and dev storage ----------------------------------------------------------------
def _without_polls(service: AzureStorageOrchestrationService) -> dict[str, int]:
    """Operation counts of the test's own calls (background pollers also receive)."""
    return {k: v for k, v in service.counter.snapshot().items() if k != "queue.receive"}


async def test_a_new_instance_costs_one_send_and_one_insert(azure_service: AzureStorageOrchestrationService) -> None:
    await azure_service.create_instance(start_message("warm"), RUNNING_STATES)
    azure_service.counter.reset()
    await azure_service.create_instance(start_message("counted"), RUNNING_STATES)
    assert _without_polls(azure_service) == {"queue.send": 1, "table.insert": 1}


async def test_pollers_leave_starts_in_storage_until_work_is_asked_for(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        start = start_message("waits")
        await service.create_instance(start, RUNNING_STATES)
        queue = service._hub.resources.control_queues[service.names.partition_of("waits")]
        await asyncio.sleep(0.5)  # pollers that received at once would have taken it by now
        visible = [m async for m in queue.receive_messages(max_messages=32, visibility_timeout=1)]
        assert [json.loads(m.content)["TaskMessage"]["OrchestrationInstance"]["ExecutionId"] for m in visible] == [
            start.execution_id
        ], "a process that never asked for orchestration work leaves the start visible in its queue"
        assert "queue.receive" not in service.counter.snapshot()
        await asyncio.sleep(1.1)  # our peek's visibility timeout
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and [m.execution_id for m in item.new_messages] == [start.execution_id]
        await service.complete_orchestration(item, episode(item))


async def test_a_refused_start_leaves_no_message_behind(azure_service: AzureStorageOrchestrationService) -> None:
    first = start_message("once")
    await azure_service.create_instance(first, RUNNING_STATES)
    azure_service.counter.reset()
    with pytest.raises(InstanceAlreadyExistsError):
        await azure_service.create_instance(start_message("once"), RUNNING_STATES)
    assert _without_polls(azure_service) == {"queue.send": 1, "table.insert": 1, "table.get": 1, "queue.delete": 1}
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and [m.execution_id for m in item.new_messages] == [first.execution_id]
    await azure_service.complete_orchestration(item, episode(item))
    assert await azure_service.lock_next_orchestration(1.0) is None


async def test_a_restart_over_a_finished_instance_reads_once_and_replaces(
    azure_service: AzureStorageOrchestrationService,
) -> None:
    await azure_service.create_instance(start_message("re"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    azure_service.counter.reset()
    await azure_service.create_instance(start_message("re"), RUNNING_STATES)
    assert _without_polls(azure_service) == {"queue.send": 1, "table.insert": 1, "table.get": 1, "table.replace": 1}
    state = await azure_service.get_instance("re")
    assert state is not None and state.generation == 1 and state.status is OrchestrationStatus.PENDING


async def test_an_episode_writes_history_in_one_batch(azure_service: AzureStorageOrchestrationService) -> None:
    await azure_service.create_instance(start_message("batch"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    azure_service.counter.reset()
    many = [task_scheduled(i) for i in range(150)]
    await azure_service.complete_orchestration(item, episode(item, extra=many))
    counts = azure_service.counter.snapshot()
    assert counts["table.batch"] == 2, "152 rows + sentinel need two batches of at most 100"
    assert len(await azure_service.get_history("batch")) == 152


def test_ensure_development_storage_starts_azurite_only_when_needed() -> None:
    assert ensure_development_storage("AccountName=x;AccountKey=a2V5") is None
    busy = any(port_open(p) for p in DEV_PORTS.values())
    started = ensure_development_storage("UseDevelopmentStorage=true")
    try:
        if busy:
            assert started is None, "something already serves the standard ports"
        else:
            assert started is not None and all(port_open(p) for p in DEV_PORTS.values())
    finally:
        if started is not None:
            started.stop()


# -- checkpoints and large values ---------------------------------------------------------------
async def test_a_checkpoint_that_loses_the_etag_race_is_not_applied(
    azurite: AzuriteProcess, azure_service: AzureStorageOrchestrationService
) -> None:
    await azure_service.create_instance(start_message("race2"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item))
    await azure_service.send_messages([TaskMessage("race2", None, task_completed(1))])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    # Another writer checkpoints this instance meanwhile: the sentinel's ETag changes.
    async with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        history = ts.get_table_client(azure_service.names.history_table)
        sentinel = await history.get_entity("race2", "sentinel")
        await history.upsert_entity(dict(sentinel))
    with pytest.raises(ConcurrencyConflictError, match="changed underneath"):
        await azure_service.complete_orchestration(item, episode(item))
    assert kinds(await azure_service.get_history("race2")) == ["orchestratorStarted", "executionStarted"]
    again = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    # The first delivery was a local hand-off (sent locked): it counts, though the queue saw
    # only this receive.
    assert again is not None and again.instance_id == "race2" and again.dequeue_count == 2
    await azure_service.complete_orchestration(again, episode(again))
    assert kinds(await azure_service.get_history("race2"))[-1] == "taskCompleted"


async def test_large_values_round_trip_through_blobs_and_purge_removes_them(
    azurite: AzuriteProcess, azure_service: AzureStorageOrchestrationService
) -> None:
    from azure.storage.blob.aio import BlobServiceClient

    big_input = json.dumps("i" * 80_000)
    big_output = json.dumps("o" * 70_000)
    await azure_service.create_instance(start_message("huge", input=big_input), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.new_messages[0].event.executionStarted.input.value == big_input
    await azure_service.complete_orchestration(
        item, episode(item, status=OrchestrationStatus.COMPLETED, output=big_output)
    )
    state = await azure_service.get_instance("huge")
    assert state is not None and state.input == big_input and state.output == big_output
    history = await azure_service.get_history("huge")
    assert history[1].executionStarted.input.value == big_input
    assert history[-1].executionCompleted.result.value == big_output
    async with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        row = await ts.get_table_client(azure_service.names.instances_table).get_entity("huge", "")
        assert "Input" not in row and row["InputBlobName"].startswith("huge/")
        rows = [dict(e) async for e in ts.get_table_client(azure_service.names.history_table).list_entities()]
        started = next(r for r in rows if r.get("EventType") == "ExecutionStarted")
        assert started["InputBlobName"].startswith("huge/history-0000000000000001-ExecutionStarted-")
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as bs:
        container = bs.get_container_client(azure_service.names.large_messages_container)
        names = [b.name async for b in container.list_blobs(name_starts_with="huge/instance-")]
        inputs = [n for n in names if "-Input-" in n]
        assert len(inputs) == 1, "the unchanged input is stored once, however often the row is written"
    assert await azure_service.purge_instance("huge") == 1
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as bs:
        container = bs.get_container_client(azure_service.names.large_messages_container)
        assert [b.name async for b in container.list_blobs(name_starts_with="huge/")] == []


async def test_the_next_episode_of_an_instance_needs_no_reads(azure_service: AzureStorageOrchestrationService) -> None:
    await azure_service.create_instance(start_message("hot"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item))
    await azure_service.send_messages([TaskMessage("hot", None, task_completed(0))])
    azure_service.counter.reset()
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and kinds(item.past_events) == ["orchestratorStarted", "executionStarted"]
    counts = azure_service.counter.snapshot()
    assert "table.get" not in counts and "table.query" not in counts
    await azure_service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    assert kinds(await azure_service.get_history("hot"))[-1] == "executionCompleted"


async def test_a_restart_by_another_process_is_picked_up_despite_the_cache(
    azurite: AzuriteProcess, azure_service: AzureStorageOrchestrationService
) -> None:
    await azure_service.create_instance(start_message("twoproc"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    other = make_azure_service(azurite, hub_name=azure_service.names.hub)
    try:
        await other.set_owned_partitions(frozenset())
        restart = start_message("twoproc", version="2.0")
        await other.create_instance(restart, RUNNING_STATES)
    finally:
        await other.stop()
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and [m.execution_id for m in item.new_messages] == [restart.execution_id]
    try:
        await azure_service.complete_orchestration(item, episode(item))
    except ConcurrencyConflictError:
        item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and item.past_events == []
        await azure_service.complete_orchestration(item, episode(item))
    state = await azure_service.get_instance("twoproc")
    assert state is not None and state.execution_id == restart.execution_id
    assert state.status is OrchestrationStatus.RUNNING and state.generation == 1 and state.version == "2.0"
    assert kinds(await azure_service.get_history("twoproc")) == ["orchestratorStarted", "executionStarted"]


async def test_a_crash_between_history_and_row_writes_is_repaired(azurite: AzuriteProcess) -> None:
    hub = make_azure_service(azurite).names.hub
    crashed = make_azure_service(azurite, hub_name=hub, control_queue_visibility_timeout=1.0)
    try:
        await crashed.create_task_hub()
        await crashed.create_instance(start_message("crash"), RUNNING_STATES)
        item = await crashed.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None
        checkpoint = episode(item)
        # The history write of the checkpoint happens; the process dies before the row write.
        await crashed._hub.tracking.append_history(
            "crash", checkpoint.state.execution_id, checkpoint.new_events, item.lock.snapshot, checkpoint.state.created_at
        )
    finally:
        await crashed.stop()
    survivor = make_azure_service(azurite, hub_name=hub)
    try:
        state = await survivor.get_instance("crash")
        assert state is not None and state.status is OrchestrationStatus.PENDING
        assert await survivor.lock_next_orchestration(4.0) is None, "the redelivered start is a duplicate"
        state = await survivor.get_instance("crash")
        assert state is not None and state.status is OrchestrationStatus.RUNNING
    finally:
        try:
            await survivor.delete_task_hub()
        finally:
            await survivor.stop()


async def test_messages_are_never_dropped_on_stale_cached_knowledge(azure_service: AzureStorageOrchestrationService) -> None:
    await azure_service.create_instance(start_message("stale"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item))
    remembered = azure_service._hub.work.cache.take("stale")
    assert remembered is not None
    restart = start_message("stale")
    await azure_service.create_instance(restart, frozenset())
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item))
    # As if another process had run the restart: this one still remembers the old execution.
    azure_service._hub.work.cache.put("stale", remembered)
    await azure_service.send_messages([TaskMessage("stale", restart.execution_id, task_completed(0))])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and kinds([m.event for m in item.new_messages]) == ["taskCompleted"]
    assert item.state is not None and item.state.execution_id == restart.execution_id
    await azure_service.complete_orchestration(item, episode(item))


async def test_a_message_due_beyond_the_queue_limit_is_hidden_again(azure_service: AzureStorageOrchestrationService) -> None:
    from datetime import datetime, timedelta, timezone

    from azure.storage.queue.aio import QueueClient

    from azure_durable_ext.storage.azure.control_queue import ControlQueue
    from azure_durable_ext.storage.azure.message_codec import MessageData
    from azure_durable_ext.storage.azure.sessions import SessionTable

    await azure_service.set_owned_partitions(frozenset())
    await azure_service.create_instance(start_message("far"), RUNNING_STATES)
    far = datetime.now(timezone.utc) + timedelta(days=9)
    timer = TaskMessage("far", None, task_completed(0), visible_at=far)
    partition = azure_service.names.partition_of("far")
    queue = azure_service._hub.control[partition]
    sent = await queue.send(MessageData(message=timer), visible_at=far, now=datetime.now(timezone.utc))
    # Pretend the queue's 7-day cap ran out: the message is visible long before it is due.
    client: QueueClient = azure_service._hub.resources.control_queues[partition]
    await client.update_message(sent.message_id, sent.pop_receipt, visibility_timeout=0)
    sessions = SessionTable()
    poller = ControlQueue(partition, queue, sessions, azure_service.options, azure_service._hub.poison, azure_service.clock)
    assert await poller.poll_once() == 2  # the start (due) and the far timer (re-hidden)
    taken = await sessions.take(0.1)
    assert taken is not None and kinds([m.task_message.event for m in taken[1]]) == ["executionStarted"]
    assert await poller.poll_once() == 0, "the far message is invisible again"


async def test_a_foreign_continuation_token_is_refused(azure_service: AzureStorageOrchestrationService) -> None:
    from azure_durable_ext.core.errors import InvalidArgumentError
    from azure_durable_ext.core.model import InstanceQuery

    with pytest.raises(InvalidArgumentError, match="continuation token"):
        await azure_service.query_instances(InstanceQuery(continuation_token="not-a-token!"))
    with pytest.raises(InvalidArgumentError, match="page size"):
        await azure_service.query_instances(InstanceQuery(page_size=0))


async def test_consuming_messages_that_change_nothing_costs_only_the_deletes(
    azure_service: AzureStorageOrchestrationService,
) -> None:
    from azure_durable_ext.core.model import OrchestrationCheckpoint

    await azure_service.create_instance(start_message("noop"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    await azure_service.send_messages([TaskMessage("noop", None, task_completed(5))])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.state is not None
    azure_service.counter.reset()
    await azure_service.complete_orchestration(item, OrchestrationCheckpoint(state=item.state))
    assert _without_polls(azure_service) == {"queue.delete": 1}
    assert await azure_service.lock_next_orchestration(1.0) is None
    state = await azure_service.get_instance("noop")
    assert state is not None and state.status is OrchestrationStatus.COMPLETED


async def test_rows_of_a_checkpoint_that_died_between_batches_are_ignored_and_cleaned(
    azurite: AzuriteProcess, azure_service: AzureStorageOrchestrationService
) -> None:
    from azure_durable_ext.storage.azure.history_codec import event_to_row

    await azure_service.create_instance(start_message("half"), RUNNING_STATES)
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    await azure_service.complete_orchestration(item, episode(item))
    execution = item.new_messages[0].execution_id or ""
    # A 2-batch checkpoint whose first batch landed (sentinel: incomplete, 2 good rows)
    # and whose process died before the second.
    async with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        history = ts.get_table_client(azure_service.names.history_table)
        sentinel = dict(await history.get_entity("half", "sentinel"))
        assert sentinel["CompleteRowCount"] == 2 and sentinel["IsCheckpointComplete"] is True
        for ordinal in range(2, 6):
            await history.upsert_entity(event_to_row("half", execution, ordinal, task_scheduled(ordinal + 10)))
        await history.upsert_entity({**sentinel, "IsCheckpointComplete": False})
    azure_service._hub.work.cache.forget("half")
    assert kinds(await azure_service.get_history("half")) == ["orchestratorStarted", "executionStarted"]
    await azure_service.send_messages([TaskMessage("half", None, task_completed(0))])
    item = await azure_service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and len(item.past_events) == 2
    await azure_service.complete_orchestration(item, episode(item))
    assert kinds(await azure_service.get_history("half")) == [
        "orchestratorStarted", "executionStarted", "orchestratorStarted", "taskCompleted",
    ]
    async with TableServiceClient.from_connection_string(azurite.connection_string) as ts:
        history = ts.get_table_client(azure_service.names.history_table)
        keys = sorted([e["RowKey"] async for e in history.query_entities("PartitionKey eq 'half'", select=["RowKey"])])
    assert keys == [f"{i:016X}" for i in range(4)] + ["sentinel"], "the dead checkpoint's extra rows are gone"
