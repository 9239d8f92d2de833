"""Focused tests of InMemoryOrchestrationService (the shared conformance suite covers the
contract; these pin the in-memory specifics: locking, ordering, timers, notifications)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.clock import ManualClock
from azure_durable_ext.core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError, InvalidArgumentError
from azure_durable_ext.core.model import InstanceQuery, OrchestrationCheckpoint, PurgeFilter, TaskMessage
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

S = OrchestrationStatus


def start_message(instance_id: str, execution_id: str = "e1", *, version: str | None = None, at: datetime | None = None) -> TaskMessage:
    event = pb.HistoryEvent(eventId=-1)
    event.executionStarted.name = "Hello"
    event.executionStarted.orchestrationInstance.instanceId = instance_id
    event.executionStarted.orchestrationInstance.executionId.value = execution_id
    if version:
        event.executionStarted.version.value = version
    event.executionStarted.input.value = '"in"'
    return TaskMessage(instance_id, execution_id, event, at)


def raised(instance_id: str, name: str, at: datetime | None = None) -> TaskMessage:
    event = pb.HistoryEvent(eventId=-1)
    event.eventRaised.name = name
    return TaskMessage(instance_id, None, event, at)


def task_scheduled(instance_id: str, task_id: int) -> TaskMessage:
    event = pb.HistoryEvent(eventId=task_id)
    event.taskScheduled.name = "Say"
    return TaskMessage(instance_id, "e1", event)


@pytest.fixture
def service() -> InMemoryOrchestrationService:
    return InMemoryOrchestrationService()


async def complete(service: InMemoryOrchestrationService, status: S, **checkpoint: object):  # type: ignore[no-untyped-def]
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    state = replace(item.state, status=status)
    await service.complete_orchestration(
        item, OrchestrationCheckpoint(state=state, new_events=[m.event for m in item.new_messages], **checkpoint)
    )
    return item


async def test_create_dedupes_and_counts_generations(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a", version="1.2.0"), RUNNING_STATES)
    state = await service.get_instance("a")
    assert state is not None and (state.status, state.version, state.generation) == (S.PENDING, "1.2.0", 0)
    with pytest.raises(InstanceAlreadyExistsError, match="An Orchestration instance with the ID a already exists."):
        await service.create_instance(start_message("a", "e2"), RUNNING_STATES)
    assert (await service.get_instance("a")).execution_id == "e1"  # type: ignore[union-attr]

    await complete(service, S.COMPLETED)
    await service.create_instance(start_message("a", "e2"), RUNNING_STATES)
    again = await service.get_instance("a")
    assert again is not None and (again.execution_id, again.generation, again.status) == ("e2", 1, S.PENDING)
    assert await service.get_history("a") == []  # the row names the new execution


async def test_create_needs_execution_started(service: InMemoryOrchestrationService) -> None:
    with pytest.raises(InvalidArgumentError):
        await service.create_instance(raised("a", "x"), frozenset())


async def test_lock_takes_all_queued_messages_and_later_ones_wait(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    await service.send_messages([raised("a", "one")])
    item = await service.lock_next_orchestration(1)
    assert item is not None and [m.event.WhichOneof("eventType") for m in item.new_messages] == ["executionStarted", "eventRaised"]
    await service.send_messages([raised("a", "two")])
    assert await service.lock_next_orchestration(0.05) is None  # locked: not offered twice
    state = replace(item.state, status=S.RUNNING)  # type: ignore[arg-type]
    await service.complete_orchestration(item, OrchestrationCheckpoint(state=state, new_events=[m.event for m in item.new_messages]))
    following = await service.lock_next_orchestration(1)
    assert following is not None and [m.event.eventRaised.name for m in following.new_messages] == ["two"]
    assert len(following.past_events) == 2


async def test_stale_lock_is_a_conflict_and_changes_nothing(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    await service.abandon_orchestration(item)
    with pytest.raises(ConcurrencyConflictError):
        await service.complete_orchestration(item, OrchestrationCheckpoint(state=replace(item.state, status=S.COMPLETED)))
    with pytest.raises(ConcurrencyConflictError):
        await service.renew_orchestration(item)
    assert (await service.get_instance("a")).status is S.PENDING  # type: ignore[union-attr]
    again = await service.lock_next_orchestration(1)
    assert again is not None and again.dequeue_count == 2
    await service.renew_orchestration(again)


async def test_recreate_while_locked_makes_the_episode_stale(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    await service.create_instance(start_message("a", "e2"), frozenset())
    with pytest.raises(ConcurrencyConflictError):
        await service.complete_orchestration(item, OrchestrationCheckpoint(state=replace(item.state, status=S.COMPLETED)))


def kinds(item: object) -> list[str]:
    return [m.event.WhichOneof("eventType") or "" for m in item.new_messages]  # type: ignore[attr-defined]


# Abandon delays below are short and then waited out with a longer asyncio.sleep: one event
# loop runs both timers, the shorter one always first, so the order is never in doubt.
async def test_abandoned_messages_go_back_ahead_of_newer_ones(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    item = await service.lock_next_orchestration(1)
    assert item is not None
    await service.abandon_orchestration(item, delay=0.2)
    await service.send_messages([raised("a", "newer")])  # offered at once, left queued here
    await asyncio.sleep(0.4)
    again = await service.lock_next_orchestration(0)
    assert again is not None and kinds(again) == ["executionStarted", "eventRaised"]
    assert again.dequeue_count == 2, "counts the most-delivered message"


async def test_a_held_start_superseded_by_a_new_create_never_runs(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a", "e1"), frozenset())
    await service.send_messages([raised("a", "kept")])
    item = await service.lock_next_orchestration(1)
    assert item is not None and kinds(item) == ["executionStarted", "eventRaised"]
    await service.abandon_orchestration(item, delay=0.2)
    await service.create_instance(start_message("a", "e2"), frozenset())
    await complete(service, S.COMPLETED)
    await asyncio.sleep(0.4)
    back = await service.lock_next_orchestration(0)
    assert back is not None and kinds(back) == ["eventRaised"], "the start of e1 would run again over e2"
    assert back.state is not None and back.state.execution_id == "e2"


async def test_held_messages_go_with_a_purge(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    item = await service.lock_next_orchestration(1)
    assert item is not None
    await service.abandon_orchestration(item, delay=0.2)
    assert await service.purge_instance("a") == 1
    await asyncio.sleep(0.4)
    assert await service.lock_next_orchestration(0) is None and await service.get_instance("a") is None


async def test_discard_keeps_an_unknown_instance_with_held_messages(service: InMemoryOrchestrationService) -> None:
    await service.send_messages([raised("ghost", "first")])
    first = await service.lock_next_orchestration(1)
    assert first is not None
    await service.abandon_orchestration(first, delay=0.2)
    await service.send_messages([raised("ghost", "second")])
    second = await service.lock_next_orchestration(0)
    assert second is not None and [m.event.eventRaised.name for m in second.new_messages] == ["second"]
    await service.discard_orchestration(second)
    await asyncio.sleep(0.4)
    back = await service.lock_next_orchestration(0)
    assert back is not None and [m.event.eventRaised.name for m in back.new_messages] == ["first"]
    assert back.dequeue_count == 2


async def test_delayed_messages_follow_the_clock(service: InMemoryOrchestrationService) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    service = InMemoryOrchestrationService(clock=clock)
    await service.create_instance(start_message("a", at=clock.now() + timedelta(seconds=1.0)), frozenset())
    assert (await service.get_instance("a")).status is S.PENDING  # type: ignore[union-attr]
    assert await service.lock_next_orchestration(0.05) is None
    item = await service.lock_next_orchestration(2)
    assert item is not None and item.new_messages[0].event.HasField("executionStarted")
    # Already due: delivered at once.
    await service.send_messages([raised("b", "now", at=clock.now() - timedelta(seconds=1))])
    assert (await service.lock_next_orchestration(0)) is not None
    await service.stop()


async def test_wait_for_instance_is_woken_by_changes(service: InMemoryOrchestrationService) -> None:
    waiter = asyncio.create_task(service.wait_for_instance("a", lambda s: s.status.is_terminal, 10))
    await asyncio.sleep(0)
    await service.create_instance(start_message("a"), frozenset())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await complete(service, S.COMPLETED)
    state = await waiter
    assert state is not None and state.status is S.COMPLETED
    assert await service.wait_for_instance("zzz", lambda s: True, 0.05) is None


async def test_query_filters_and_pages(service: InMemoryOrchestrationService) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    service = InMemoryOrchestrationService(clock=clock)
    for i in range(5):
        clock.advance(60)
        await service.create_instance(start_message(f"i{i}"), frozenset())
    await service.create_instance(start_message("other"), frozenset())
    first = await service.query_instances(InstanceQuery(instance_id_prefix="i", page_size=2))
    assert [s.instance_id for s in first.instances] == ["i0", "i1"] and first.continuation_token == "i1"
    rest = await service.query_instances(InstanceQuery(instance_id_prefix="i", page_size=10, continuation_token="i1"))
    assert [s.instance_id for s in rest.instances] == ["i2", "i3", "i4"] and rest.continuation_token is None
    window = await service.query_instances(
        InstanceQuery(created_from=datetime(2026, 1, 1, 0, 2, tzinfo=timezone.utc),
                      created_to=datetime(2026, 1, 1, 0, 3, tzinfo=timezone.utc), include_payloads=False)
    )
    assert [s.instance_id for s in window.instances] == ["i1", "i2"]
    assert all(s.input is None for s in window.instances)
    assert (await service.query_instances(InstanceQuery(statuses=frozenset({S.FAILED})))).instances == []
    with pytest.raises(InvalidArgumentError):
        await service.query_instances(InstanceQuery(page_size=0))


async def test_purge_one_and_by_filter(service: InMemoryOrchestrationService) -> None:
    for name in ("a", "b", "c"):
        await service.create_instance(start_message(name), frozenset())
    await complete(service, S.COMPLETED)  # a
    await complete(service, S.FAILED)  # b
    assert await service.purge_instances(PurgeFilter(statuses=frozenset({S.COMPLETED}))) == 1
    assert await service.get_instance("a") is None and await service.get_history("a") == []
    assert await service.purge_instances(PurgeFilter()) == 1  # b; c is not terminal
    assert await service.purge_instance("c") == 1
    assert await service.purge_instance("c") == 0
    assert await service.lock_next_orchestration(0) is None


async def test_activity_queue_lock_complete_abandon(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    await service.complete_orchestration(
        item,
        OrchestrationCheckpoint(
            state=replace(item.state, status=S.RUNNING),
            new_events=[m.event for m in item.new_messages],
            activity_messages=[task_scheduled("a", 0), task_scheduled("a", 1)],
        ),
    )
    first = await service.lock_next_activity(1)
    assert first is not None and (first.task_id, first.dequeue_count) == (0, 1)
    await service.abandon_activity(first)
    with pytest.raises(ConcurrencyConflictError):
        await service.renew_activity(first)
    retried = await service.lock_next_activity(1)
    assert retried is not None and (retried.task_id, retried.dequeue_count) == (0, 2)
    await service.renew_activity(retried)

    done = pb.HistoryEvent(eventId=-1)
    done.taskCompleted.taskScheduledId = 0
    await service.complete_activity(retried, TaskMessage("a", "e1", done))
    with pytest.raises(ConcurrencyConflictError):
        await service.complete_activity(retried, TaskMessage("a", "e1", done))
    result = await service.lock_next_orchestration(1)
    assert result is not None and result.new_messages[0].event.taskCompleted.taskScheduledId == 0

    second = await service.lock_next_activity(1)
    assert second is not None and second.task_id == 1
    await service.abandon_activity(second, delay=1.0)
    assert await service.lock_next_activity(0.01) is None
    assert (await service.lock_next_activity(2)) is not None


async def test_continue_as_new_replaces_history_and_keeps_generation(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    await complete(service, S.RUNNING)
    await service.send_messages([raised("a", "x")])
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    fresh = start_message("a", "e2").event
    await service.complete_orchestration(
        item,
        OrchestrationCheckpoint(
            state=replace(item.state, execution_id="e2", status=S.RUNNING, generation=7),
            new_events=[fresh],
            new_execution=True,
        ),
    )
    assert await service.get_history("a") == [fresh]
    assert (await service.get_instance("a")).generation == 0  # type: ignore[union-attr]


async def test_each_item_carries_its_history_encoded_across_episodes_and_executions(
    service: InMemoryOrchestrationService,
) -> None:
    from azure_durable_ext._proto import pb

    def encoded(item: object) -> list[pb.HistoryEvent]:
        wire = item.past_events_wire  # type: ignore[attr-defined]
        assert wire is not None
        return list(pb.OrchestratorRequest.FromString(wire).pastEvents)

    await service.create_instance(start_message("a"), frozenset())
    first = await complete(service, S.RUNNING)
    assert encoded(first) == first.past_events == []
    for n in range(3):  # episodes append to the history
        await service.send_messages([raised("a", f"x{n}")])
        item = await complete(service, S.RUNNING)
        assert encoded(item) == item.past_events and len(item.past_events) == n + 1
    await service.send_messages([raised("a", "y")])
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None and encoded(item) == item.past_events
    fresh = start_message("a", "e2").event  # continue-as-new: the history is replaced
    await service.complete_orchestration(
        item,
        OrchestrationCheckpoint(state=replace(item.state, execution_id="e2", status=S.RUNNING), new_events=[fresh], new_execution=True),
    )
    await service.send_messages([raised("a", "z")])
    item = await complete(service, S.RUNNING)
    assert encoded(item) == item.past_events == [fresh]


async def test_delete_task_hub_drops_everything(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a"), frozenset())
    await service.create_task_hub()
    assert await service.get_instance("a") is not None
    await service.create_task_hub(recreate=True)
    assert await service.get_instance("a") is None
    assert await service.lock_next_orchestration(0) is None


async def test_waiters_take_turns(service: InMemoryOrchestrationService) -> None:
    takers = [asyncio.create_task(service.lock_next_orchestration(5)) for _ in range(2)]
    await asyncio.sleep(0)
    await service.create_instance(start_message("a"), frozenset())
    await service.create_instance(start_message("b"), frozenset())
    items = await asyncio.gather(*takers)
    assert sorted(i.instance_id for i in items if i is not None) == ["a", "b"]


async def test_messages_for_a_replaced_execution_are_dropped(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("a", "e1"), frozenset())
    await complete(service, S.COMPLETED)
    await service.create_instance(start_message("a", "e2"), frozenset())
    old = pb.HistoryEvent(eventId=-1)
    old.timerFired.timerId = 3
    await service.send_messages([TaskMessage("a", "e1", old), raised("a", "any-execution")])
    item = await service.lock_next_orchestration(1)
    assert item is not None
    assert [m.event.WhichOneof("eventType") for m in item.new_messages] == ["executionStarted", "eventRaised"]


async def test_query_order_follows_creates_and_purges_between_pages(service: InMemoryOrchestrationService) -> None:
    for name in ("b", "d", "ab", "c"):
        await service.create_instance(start_message(name), frozenset())
    first = await service.query_instances(InstanceQuery(page_size=2))
    assert [s.instance_id for s in first.instances] == ["ab", "b"] and first.continuation_token == "b"
    await service.create_instance(start_message("bb"), frozenset())
    await service.purge_instance("c")
    rest = await service.query_instances(InstanceQuery(page_size=2, continuation_token=first.continuation_token))
    assert [s.instance_id for s in rest.instances] == ["bb", "d"] and rest.continuation_token is None
    only_b = await service.query_instances(InstanceQuery(instance_id_prefix="b"))
    assert [s.instance_id for s in only_b.instances] == ["b", "bb"]


async def test_purging_an_instance_ends_its_waiting_session(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("gone"), RUNNING_STATES)
    item = await service.lock_next_orchestration(1)
    assert item is not None and item.state is not None
    checkpoint = OrchestrationCheckpoint(state=replace(item.state, status=S.RUNNING), new_events=[m.event for m in item.new_messages])
    session = await service.complete_orchestration(item, checkpoint, keep_session=True)
    assert session is not None
    waiting = asyncio.ensure_future(service.continue_session(session, 60.0))
    await asyncio.sleep(0.05)
    assert await service.purge_instance("gone") == 1
    with pytest.raises(ConcurrencyConflictError):
        await asyncio.wait_for(waiting, 5)


async def test_a_held_back_batch_coming_due_wakes_a_session(service: InMemoryOrchestrationService) -> None:
    await service.create_instance(start_message("due"), RUNNING_STATES)
    item = await service.lock_next_orchestration(1)
    assert item is not None
    await service.abandon_orchestration(item, delay=0.2)  # the start waits 0.2 s, the instance is free
    await service.send_messages([raised("due", "Now")])
    now_item = await service.lock_next_orchestration(1)
    assert now_item is not None and [m.event.eventRaised.name for m in now_item.new_messages] == ["Now"]
    checkpoint = OrchestrationCheckpoint(state=item.state, new_events=[])  # type: ignore[arg-type]
    session = await service.complete_orchestration(now_item, checkpoint, keep_session=True)
    assert session is not None
    after = await asyncio.wait_for(service.continue_session(session, 60.0), 5)
    assert after is not None and after.new_messages[0].event.HasField("executionStarted")
