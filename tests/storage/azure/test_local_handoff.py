"""Local hand-off: a message this process will run itself is sent already locked and goes
straight to its taker (the sessions of a polled partition, a waiting activity fetch), so no
receive is spent on it. Locks behave as received ones; a partition lost meanwhile gets the
message back at once."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from azure.storage.queue.aio import QueueClient
from azurite_fixture import azure_hub

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from helpers import LOCK_TIMEOUT, episode, kinds, start_message, task_completed, task_scheduled  # noqa: E402

from azure_durable_ext.core.model import TaskMessage  # noqa: E402
from azure_durable_ext.core.status import RUNNING_STATES  # noqa: E402
from azure_durable_ext.storage.azure.azurite import AzuriteProcess  # noqa: E402
from azure_durable_ext.storage.azure.message_codec import MessageData  # noqa: E402
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService  # noqa: E402


async def _visible(queue: QueueClient) -> int:
    return len(await queue.peek_messages(max_messages=32))


async def _running(service: AzureStorageOrchestrationService, instance_id: str) -> None:
    """Start ``instance_id`` and checkpoint its first episode (dispatching has begun)."""
    await service.create_instance(start_message(instance_id), RUNNING_STATES)
    item = await service.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == instance_id
    await service.complete_orchestration(item, episode(item, extra=[task_scheduled(0)]))


async def test_a_locked_send_is_invisible_until_released_and_deleted_with_its_receipt(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        queue = service._hub.control[0]
        raw = service._hub.resources.control_queues[0]
        sent = await queue.send_locked(MessageData(message=TaskMessage("x", None, task_completed(0))), 60)
        assert sent.dequeue_count == 1 and sent.task_message.instance_id == "x"
        assert await _visible(raw) == 0, "sent locked: nobody else can receive it"
        await queue.hide(sent, 0, deliberate=True)
        again = await queue.receive(32, 60)
        assert [m.message_id for m in again] == [sent.message_id]
        assert (again[0].dequeue_count, again[0].failed_deliveries) == (2, 1), "the release was deliberate"
        assert await queue.delete(again[0])
        locked = await queue.send_locked(MessageData(message=TaskMessage("y", None, task_completed(1))), 60)
        assert await queue.delete(locked), "the receipt Put Message returned deletes it"
        assert await _visible(raw) == 0


async def test_a_delivery_by_hand_off_counts_once_the_message_is_received(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        queue = service._hub.control[0]
        raw = service._hub.resources.control_queues[0]
        # A body on the queue, and one in a blob (the queue then holds a wrapper naming it).
        for result in ('"small"', json.dumps("r" * 80_000)):
            sent = await queue.send_locked(MessageData(message=TaskMessage("x", None, task_completed(0, result))), 60)
            assert sent.dequeue_count == 1
            await queue.hide(sent, 0)  # released without being completed: a failed delivery
            [peeked] = await raw.peek_messages()
            assert peeked.dequeue_count == 0, "the queue did not count the hand-off"
            [again] = await queue.receive(32, 60)
            assert (again.dequeue_count, again.failed_deliveries) == (2, 2)
            assert again.task_message.event.taskCompleted.result.value == result
            await queue.hide(again, 0, deliberate=True)
            [third] = await queue.receive(32, 60)
            assert (third.dequeue_count, third.failed_deliveries) == (3, 2), "a deliberate put-back is no failure"
            assert await queue.delete(third)


async def test_a_result_for_a_polled_partition_skips_the_receive(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await _running(service, "local")
        raw = service._hub.resources.control_queues[service.names.partition_of("local")]
        service.counter.reset()
        await service.send_messages([TaskMessage("local", None, task_completed(0))])
        assert await _visible(raw) == 0, "handed to the sessions already locked"
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and kinds([m.event for m in item.new_messages]) == ["taskCompleted"]
        await service.complete_orchestration(item, episode(item))
        counts = service.counter.snapshot()
        assert counts.get("queue.send") == 1 and counts.get("queue.delete") == 1
        assert [m async for m in raw.receive_messages(max_messages=32, visibility_timeout=1)] == [], (
            "consumed and deleted: nothing comes back"
        )


async def test_starts_still_go_through_the_pollers(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await _running(service, "first")
        # A start's row is written after its message: a poller must find it, not a hand-off.
        await service.create_instance(start_message("second"), RUNNING_STATES)
        raw = service._hub.resources.control_queues[service.names.partition_of("second")]
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None and item.instance_id == "second"
        assert item.dequeue_count >= 1
        await service.complete_orchestration(item, episode(item))
        assert await _visible(raw) == 0


async def test_a_result_for_a_partition_lost_meanwhile_is_released_at_once(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await _running(service, "moved")
        partition = service.names.partition_of("moved")
        queue = service._hub.control[partition]
        sent = await queue.send_locked(MessageData(message=TaskMessage("moved", None, task_completed(0))), 300)
        await service.drain_partition(partition)  # given up between the send and the hand-over
        await service._hand_over(sent)
        received = await queue.receive(32, 60)
        assert [m.message_id for m in received] == [sent.message_id], "released for the next owner at once"
        # The hand-off never happened: this receive is its first delivery, as for any message.
        assert (received[0].dequeue_count, received[0].failed_deliveries) == (1, 1)


async def test_an_activity_goes_straight_to_a_waiting_fetch(azurite: AzuriteProcess) -> None:
    async with azure_hub(azurite, use_table_partition_management=False) as service:
        await service.start()
        await service.create_instance(start_message("act"), RUNNING_STATES)
        item = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert item is not None
        waiting = asyncio.create_task(service.lock_next_activity(30))
        await asyncio.sleep(0.3)  # the fetch found the queue empty and waits
        scheduled = TaskMessage("act", item.state.execution_id, task_scheduled(0))
        await service.complete_orchestration(item, episode(item, extra=[scheduled.event], activities=[scheduled]))
        work = await asyncio.wait_for(waiting, 10)
        assert work is not None and work.message.event.WhichOneof("eventType") == "taskScheduled"
        raw = service._hub.resources.work_items
        assert await _visible(raw) == 0, "locked for the waiting fetch"
        await service.abandon_activity(work)
        [again] = [m async for m in raw.receive_messages(max_messages=32, visibility_timeout=1)]
        assert again.dequeue_count == 1, "no receive before this one: the fetch got it handed over"
        await asyncio.sleep(1.1)  # our receive's visibility timeout
        work = await service.lock_next_activity(10)
        assert work is not None
        await service.complete_activity(work, TaskMessage("act", item.state.execution_id, task_completed(0)))
        result = await service.lock_next_orchestration(LOCK_TIMEOUT)
        assert result is not None and kinds([m.event for m in result.new_messages]) == ["taskCompleted"]
        await service.complete_orchestration(result, episode(result))
        assert await _visible(service._hub.resources.work_items) == 0
