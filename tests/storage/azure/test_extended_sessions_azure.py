"""Extended sessions on Azure Storage: what the provider contract leaves to each provider —
the next episode of a session costs no read, giving a partition up ends its sessions, and a
session that could not be handed out is not left holding the instance, nor is anything locked
left behind by deleting the task hub."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from azurite_fixture import azure_hub

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import LOCK_TIMEOUT, episode, kept_session, raised_event, start_message  # noqa: E402

from azure_durable_ext.core.errors import ConcurrencyConflictError, StorageUnavailableError  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess  # noqa: E402
from azure_durable_ext.storage.azure.message_queue import MessageQueue, ReceivedMessage  # noqa: E402
from azure_durable_ext.storage.azure.sessions import SessionTable  # noqa: E402


async def _session_waiting(service: Any, instance_id: str) -> asyncio.Future[Any]:
    """Start ``instance_id``, keep its session and leave it waiting for messages."""
    session = await kept_session(service, instance_id)
    waiting = asyncio.ensure_future(service.continue_session(session, 120.0))
    await asyncio.sleep(0.3)
    return waiting


async def test_a_sessions_next_episode_reads_nothing(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        session = await kept_session(service, "quiet-reads")
        service.counter.reset()
        await service.send_messages([raised_event("quiet-reads")])
        item = await service.continue_session(session, LOCK_TIMEOUT)
        assert item is not None and len(item.past_events) == 3
        counts = {k: v for k, v in service.counter.snapshot().items() if k != "queue.receive"}
        assert not [k for k in counts if k.startswith("table.") or k.startswith("blob.")], counts
        await service.complete_orchestration(item, episode(item))


async def test_giving_a_partition_up_ends_its_waiting_sessions(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        waiting = await _session_waiting(service, "moving")
        assert not waiting.done()
        # drain_partition waits for the partition's locked instances: the session must end.
        await asyncio.wait_for(service.drain_partition(service.names.partition_of("moving")), LOCK_TIMEOUT)
        assert await waiting is None


def _message(message_id: str) -> ReceivedMessage:
    return ReceivedMessage(queue=None, message_id=message_id, pop_receipt="r", dequeue_count=1, body="", data=None)  # type: ignore[arg-type]


async def test_the_session_table_wakes_a_session_by_its_instance_only() -> None:
    table = SessionTable()
    table.add("a", _message("1"))
    taken = await table.take(0.0)
    assert taken is not None and taken[0] == "a"
    assert await table.wait_for_messages("a", 0.05) == [], "nothing came: the wait ends empty"
    waiting = asyncio.ensure_future(table.wait_for_messages("a", 60.0))
    await asyncio.sleep(0)
    table.add("b", _message("2"))
    await asyncio.sleep(0.05)
    assert not waiting.done(), "a message to another instance does not wake it"
    table.add("a", _message("3"))
    assert [m.message_id for m in await asyncio.wait_for(waiting, 5)] == ["3"]
    assert table.pending_count == 1 and table.is_locked("a"), "the session keeps the lock"
    ended = asyncio.ensure_future(table.wait_for_messages("a", 60.0))
    await asyncio.sleep(0)
    table.end_sessions(lambda instance_id: instance_id == "a")
    assert await asyncio.wait_for(ended, 5) == []


async def test_a_session_whose_deletes_fail_is_ended(azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while the consumed messages are deleted (storage gone) raises to the
    dispatcher, which never gets the session: the provider ends it, or the instance would
    stay locked in this process."""
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await service.create_instance(start_message("fails"), RUNNING_STATES)
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None

        async def unavailable(self: MessageQueue, message: ReceivedMessage) -> bool:
            raise StorageUnavailableError("cannot reach Azure Storage (test)")

        monkeypatch.setattr(MessageQueue, "delete", unavailable)
        with pytest.raises(StorageUnavailableError):
            await service.complete_orchestration(item, episode(item), keep_session=True)
        monkeypatch.undo()
        assert not service._sessions.is_locked("fails")
        await service.send_messages([raised_event("fails")])
        again = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert again is not None and again.instance_id == "fails"
        await service.complete_orchestration(again, episode(again))


async def test_deleting_the_task_hub_ends_a_waiting_session_and_its_lock(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        waiting = await _session_waiting(service, "deleted")
        await service.delete_task_hub()
        with pytest.raises(ConcurrencyConflictError):
            await asyncio.wait_for(waiting, LOCK_TIMEOUT)
        assert not service._sessions.is_locked("deleted")


async def test_deleting_the_task_hub_forgets_the_locks_of_episodes_in_flight(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await service.create_instance(start_message("cut"), RUNNING_STATES)
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and service._sessions.is_locked("cut")
        await service.delete_task_hub()
        assert not service._sessions.is_locked("cut"), "a recreated hub can run the instance again"
        with pytest.raises(ConcurrencyConflictError):
            await service.complete_orchestration(item, episode(item))
