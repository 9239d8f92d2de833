"""A checkpoint releases its instance once the history holds the episode: the next episode
runs while the row is written, and its own row write waits for that one (ETag order). A row
write that fails then is repaired; a partition is handed over only after its row writes."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceRequestError
from azurite_fixture import azure_hub

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import LOCK_TIMEOUT, episode, kinds, start_message, task_completed, task_scheduled  # noqa: E402

from azure_durable_ext.core.errors import StorageUnavailableError  # noqa: E402
from azure_durable_ext.core.model import InstanceState, TaskMessage  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess  # noqa: E402
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService  # noqa: E402


class GatedRowWrites:
    """Holds row writes until ``open()``; the next one can be made to fail (a lost
    connection) instead of reaching storage."""

    def __init__(self, service: AzureStorageOrchestrationService) -> None:
        self.tracking = service._hub.tracking
        self.real = self.tracking.write_instance
        self.gate = asyncio.Event()
        self.waiting = 0
        self.fail_next = False

    async def write_instance(self, state: InstanceState, etag: str | None) -> str | None:
        self.waiting += 1
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ServiceRequestError("connection lost (test fault)")
        return await self.real(state, etag)

    async def until_waiting(self) -> None:
        for _ in range(500):
            if self.waiting:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no row write arrived")

    def open(self) -> None:
        self.gate.set()


@pytest.fixture
async def service(azurite: AzuriteProcess) -> AsyncIterator[AzureStorageOrchestrationService]:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        yield service


async def _first_episode_gated(
    service: AzureStorageOrchestrationService, monkeypatch: pytest.MonkeyPatch, instance_id: str
) -> tuple[GatedRowWrites, "asyncio.Task[None]"]:
    """Start ``instance_id``; its first episode (scheduling task 0) is checkpointed up to
    the row write, which waits at the gate."""
    await service.create_instance(start_message(instance_id), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    gated = GatedRowWrites(service)
    monkeypatch.setattr(gated.tracking, "write_instance", gated.write_instance)
    first = asyncio.create_task(service.complete_orchestration(item, episode(item, extra=[task_scheduled(0)])))
    await gated.until_waiting()
    return gated, first


async def _row(service: AzureStorageOrchestrationService, instance_id: str) -> InstanceState:
    state = await service.get_instance(instance_id)
    assert state is not None
    return state


async def test_the_next_episode_runs_while_the_row_is_written(
    service: AzureStorageOrchestrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated, first = await _first_episode_gated(service, monkeypatch, "pipe")
    await service.send_messages([TaskMessage("pipe", None, task_completed(0))])
    second = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert second is not None and kinds([m.event for m in second.new_messages]) == ["taskCompleted"]
    assert not first.done(), "the first episode's row write is still held"
    assert (await _row(service, "pipe")).status is OrchestrationStatus.PENDING
    finishing = asyncio.create_task(service.complete_orchestration(second, episode(second, status=OrchestrationStatus.COMPLETED)))
    await asyncio.sleep(0.2)
    assert not finishing.done(), "the second row write waits for the first (ETag order)"
    gated.open()
    await first
    await finishing
    assert (await _row(service, "pipe")).status is OrchestrationStatus.COMPLETED
    assert kinds(await service.get_history("pipe"))[-1] == "executionCompleted"


async def test_a_row_write_that_fails_after_the_release_is_repaired(
    service: AzureStorageOrchestrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated, first = await _first_episode_gated(service, monkeypatch, "cut")
    await service.send_messages([TaskMessage("cut", None, task_completed(0))])
    second = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert second is not None
    gated.fail_next = True
    gated.open()
    with pytest.raises(StorageUnavailableError):
        await first
    assert (await _row(service, "cut")).status is OrchestrationStatus.PENDING, "the row is behind its history"
    # The second episode writes its row over the current one (the first write's ETag never came).
    await service.complete_orchestration(second, episode(second, status=OrchestrationStatus.COMPLETED))
    assert (await _row(service, "cut")).status is OrchestrationStatus.COMPLETED
    # The first episode's start message came back: a duplicate of the history now, dropped.
    assert await service.lock_next_orchestration(1.0) is None
    assert (await _row(service, "cut")).status is OrchestrationStatus.COMPLETED
    assert kinds(await service.get_history("cut")) == [
        "orchestratorStarted", "executionStarted", "taskScheduled", "orchestratorStarted", "taskCompleted",
        "executionCompleted",
    ]


async def test_a_failed_row_write_of_a_last_episode_is_repaired_by_its_messages(
    service: AzureStorageOrchestrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.create_instance(start_message("last"), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    gated = GatedRowWrites(service)
    monkeypatch.setattr(gated.tracking, "write_instance", gated.write_instance)
    gated.fail_next = True
    gated.open()
    with pytest.raises(StorageUnavailableError):
        await service.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
    assert (await _row(service, "last")).status is OrchestrationStatus.PENDING
    # Nothing else will run for it: the released start message brings the repair.
    assert await service.lock_next_orchestration(LOCK_TIMEOUT) is None
    assert (await _row(service, "last")).status is OrchestrationStatus.COMPLETED


async def test_a_partition_is_handed_over_only_after_its_row_writes(
    service: AzureStorageOrchestrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated, first = await _first_episode_gated(service, monkeypatch, "drain")
    draining = asyncio.create_task(service.drain_partition(service.names.partition_of("drain")))
    await asyncio.sleep(0.3)
    assert not draining.done(), "a row write of the partition is still under way"
    gated.open()
    await asyncio.wait_for(draining, 10)
    await first
    assert (await _row(service, "drain")).status is OrchestrationStatus.RUNNING
