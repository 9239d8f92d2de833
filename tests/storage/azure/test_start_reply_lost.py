"""Starts whose Pending-row write fails without an answer (the write may have been applied):
the row is read back before the start message is taken back, so a start that did happen is
never left as a Pending row without its message."""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azurite_fixture import azure_hub
from lossy_transport import DELIVER, LOSE_REPLY, NOT_SENT, LossyTransport, lossy_instances_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import LOCK_TIMEOUT, episode, start_message  # noqa: E402

from azure_durable_ext.core.errors import InstanceAlreadyExistsError, StorageUnavailableError  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess  # noqa: E402
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService  # noqa: E402


@pytest.fixture
async def lossy(azurite: AzuriteProcess) -> AsyncIterator[tuple[AzureStorageOrchestrationService, LossyTransport]]:
    async with azure_hub(azurite) as service:
        transport, client = lossy_instances_table(service)
        try:
            yield service, transport
        finally:
            await client.close()


async def _queued_starts(service: AzureStorageOrchestrationService, instance_id: str) -> list[str]:
    """Execution ids of the start messages waiting on the instance's control queue (a peek)."""
    queue = service._hub.resources.control_queues[service.names.partition_of(instance_id)]
    peeked = await queue.peek_messages(max_messages=32)
    return [json.loads(m.content)["TaskMessage"]["OrchestrationInstance"]["ExecutionId"] for m in peeked]


async def _run_to_completion(service: AzureStorageOrchestrationService, execution_id: str) -> None:
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and [m.execution_id for m in item.new_messages] == [execution_id]
    await service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))


async def test_a_start_whose_row_insert_was_applied_but_unanswered_succeeds(
    lossy: tuple[AzureStorageOrchestrationService, LossyTransport],
) -> None:
    service, transport = lossy
    start = start_message("lost")
    transport.fate["write"] = LOSE_REPLY  # every attempt (the SDK retries) reaches Azurite, no reply comes back
    await service.create_instance(start, RUNNING_STATES)
    transport.fate["write"] = DELIVER
    assert transport.seen[LOSE_REPLY] >= 1
    state = await service.get_instance("lost")
    assert state is not None and state.execution_id == start.execution_id and state.status is OrchestrationStatus.PENDING
    assert await _queued_starts(service, "lost") == [start.execution_id], "the start message was kept"
    with pytest.raises(InstanceAlreadyExistsError):  # a retry of the start: the instance exists and will run
        await service.create_instance(start_message("lost"), RUNNING_STATES)
    await _run_to_completion(service, start.execution_id)
    state = await service.get_instance("lost")
    assert state is not None and state.status is OrchestrationStatus.COMPLETED and state.execution_id == start.execution_id
    assert await service.lock_next_orchestration(1.0) is None, "the refused retry left no message"


async def test_a_row_write_that_never_left_takes_the_start_back(
    lossy: tuple[AzureStorageOrchestrationService, LossyTransport],
) -> None:
    service, transport = lossy
    transport.fate["write"] = NOT_SENT
    with pytest.raises(StorageUnavailableError, match="cannot reach Azure Storage while starting instance 'gone'"):
        await service.create_instance(start_message("gone"), RUNNING_STATES)
    transport.fate["write"] = DELIVER
    assert transport.seen[NOT_SENT] >= 1
    assert await service.get_instance("gone") is None
    assert await _queued_starts(service, "gone") == [], "a start that did not happen leaves no message"
    retry = start_message("gone")
    await service.create_instance(retry, RUNNING_STATES)
    await _run_to_completion(service, retry.execution_id)


@pytest.mark.parametrize("row_written", [True, False], ids=["row-written", "row-not-written"])
async def test_a_start_whose_row_cannot_be_read_back_keeps_its_message(
    lossy: tuple[AzureStorageOrchestrationService, LossyTransport], row_written: bool
) -> None:
    service, transport = lossy
    first = start_message("unknown")
    transport.fate.update(write=LOSE_REPLY if row_written else NOT_SENT, read=NOT_SENT)
    with pytest.raises(StorageUnavailableError):  # whether it started is unknown to the caller
        await service.create_instance(first, RUNNING_STATES)
    transport.fate.update(write=DELIVER, read=DELIVER)
    assert await _queued_starts(service, "unknown") == [first.execution_id], "the row may be ours: message kept"
    retry = start_message("unknown")
    if row_written:  # the retry finds the instance; the first start runs
        with pytest.raises(InstanceAlreadyExistsError):
            await service.create_instance(retry, RUNNING_STATES)
        await _run_to_completion(service, first.execution_id)
    else:  # the retry writes its row; the first start is dropped as superseded
        await service.create_instance(retry, RUNNING_STATES)
        await _run_to_completion(service, retry.execution_id)
    state = await service.get_instance("unknown")
    assert state is not None and state.status is OrchestrationStatus.COMPLETED
    assert await service.lock_next_orchestration(1.0) is None, "no start message is left behind"


async def test_a_failed_start_whose_message_a_poller_holds_is_not_run(
    lossy: tuple[AzureStorageOrchestrationService, LossyTransport],
) -> None:
    service, transport = lossy
    queue = service._hub.resources.control_queues[service.names.partition_of("taken")]

    async def a_poller_takes_the_start() -> None:
        taken = [m async for m in queue.receive_messages(max_messages=32, visibility_timeout=1)]
        assert len(taken) == 1

    transport.fate["write"] = NOT_SENT
    transport.before_fault = a_poller_takes_the_start
    with pytest.raises(StorageUnavailableError):  # no row: the start did not happen
        await service.create_instance(start_message("taken"), RUNNING_STATES)
    transport.fate["write"] = DELIVER
    await asyncio.sleep(1.1)  # the poller's lock runs out: the start message is visible again
    assert await service.lock_next_orchestration(2.0) is None, "the failed start is refused, not run"
    assert await service.get_instance("taken") is None
    assert await _queued_starts(service, "taken") == []
