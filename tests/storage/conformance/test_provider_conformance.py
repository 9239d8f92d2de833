"""Every OrchestrationService provider honours the same contract (memory and Azure Storage)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from helpers import (
    LOCK_TIMEOUT,
    episode,
    kinds,
    now,
    raised_event,
    running_state,
    start_message,
    task_completed,
    task_scheduled,
)

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError, InvalidArgumentError
from azure_durable_ext.core.model import InstanceQuery, PurgeFilter, TaskMessage
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus
from azure_durable_ext.storage.service import OrchestrationService, OrchestrationWorkItem

NOTHING = 0.5


async def _lock(provider: OrchestrationService) -> OrchestrationWorkItem:
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None, "expected orchestration work"
    return item


async def _run_to_completion(provider: OrchestrationService, instance_id: str) -> None:
    item = await _lock(provider)
    assert item.instance_id == instance_id
    await provider.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))


# -- create ----------------------------------------------------------------------------------
async def test_create_writes_a_pending_instance(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("abc", input='{"n": 1}'), RUNNING_STATES)
    state = await provider.get_instance("abc")
    assert state is not None
    assert (state.name, state.version, state.status, state.generation) == ("Hello", "1.2.0", OrchestrationStatus.PENDING, 0)
    assert state.input == '{"n": 1}'
    bare = await provider.get_instance("abc", include_payloads=False)
    assert bare is not None and bare.input is None
    assert await provider.get_instance("missing") is None


async def test_create_refuses_dedupe_statuses_and_counts_generations(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("dup"), RUNNING_STATES)
    with pytest.raises(InstanceAlreadyExistsError, match="dup already exists"):
        await provider.create_instance(start_message("dup"), RUNNING_STATES)
    await _run_to_completion(provider, "dup")
    second = start_message("dup", version="2.0")
    await provider.create_instance(second, RUNNING_STATES)
    state = await provider.get_instance("dup")
    assert state is not None
    assert (state.status, state.generation, state.version) == (OrchestrationStatus.PENDING, 1, "2.0")
    assert state.execution_id == second.execution_id
    assert await provider.get_history("dup") == [], "the new execution has no history yet"


async def test_create_with_no_dedupe_replaces_a_pending_instance(provider: OrchestrationService) -> None:
    first = start_message("any")
    await provider.create_instance(first, frozenset())
    second = start_message("any")
    await provider.create_instance(second, frozenset())
    state = await provider.get_instance("any")
    assert state is not None and state.execution_id == second.execution_id and state.generation == 1
    item = await _lock(provider)
    starts = [m for m in item.new_messages if m.event.HasField("executionStarted")]
    assert second.execution_id in [m.execution_id for m in starts], "the current start is delivered"
    await provider.complete_orchestration(item, episode(item))
    assert await provider.lock_next_orchestration(NOTHING) is None


async def test_concurrent_starts_of_one_id_let_exactly_one_win(provider: OrchestrationService) -> None:
    await provider.start()  # pollers run meanwhile: they may see the losers' start messages
    starts = [start_message("rival") for _ in range(4)]
    results = await asyncio.gather(
        *(provider.create_instance(s, RUNNING_STATES) for s in starts), return_exceptions=True
    )
    winners = [s for s, r in zip(starts, results) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, InstanceAlreadyExistsError) for r in results if r is not None), results
    state = await provider.get_instance("rival")
    assert state is not None and state.execution_id == winners[0].execution_id
    item = await _lock(provider)
    assert [m.execution_id for m in item.new_messages if m.event.HasField("executionStarted")] == [
        winners[0].execution_id
    ]
    await provider.complete_orchestration(item, episode(item))
    assert await provider.lock_next_orchestration(NOTHING) is None


async def test_create_needs_an_execution_started_message(provider: OrchestrationService) -> None:
    with pytest.raises(InvalidArgumentError):
        await provider.create_instance(raised_event("x"), RUNNING_STATES)


async def test_scheduled_start_is_not_offered_before_it_is_due(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("later", delay=3.0), RUNNING_STATES)
    state = await provider.get_instance("later")
    assert state is not None and state.scheduled_start_at is not None
    assert await provider.lock_next_orchestration(1.0) is None
    item = await _lock(provider)
    assert item.instance_id == "later" and now() >= state.scheduled_start_at - timedelta(seconds=0.1)


async def test_a_scheduled_start_replaced_before_it_is_due_never_runs(provider: OrchestrationService) -> None:
    old = start_message("replanned", delay=2.0)
    await provider.create_instance(old, frozenset())
    new = start_message("replanned")
    await provider.create_instance(new, frozenset())
    await _run_to_completion(provider, "replanned")
    assert old.visible_at is not None
    # Past the old start's due time (plus a poll interval on Azure): nothing is offered.
    assert await provider.lock_next_orchestration((old.visible_at - now()).total_seconds() + 2.0) is None
    state = await provider.get_instance("replanned")
    assert state is not None
    assert (state.execution_id, state.status) == (new.execution_id, OrchestrationStatus.COMPLETED)
    started = [e.executionStarted for e in await provider.get_history("replanned") if e.HasField("executionStarted")]
    assert [s.orchestrationInstance.executionId.value for s in started] == [new.execution_id]


# -- orchestration work -------------------------------------------------------------------------
async def test_episode_appends_history_and_consumes_messages_once(provider: OrchestrationService) -> None:
    start = start_message("ep")
    await provider.create_instance(start, RUNNING_STATES)
    item = await _lock(provider)
    assert item.instance_id == "ep" and item.past_events == [] and item.dequeue_count == 1
    assert [m.execution_id for m in item.new_messages] == [start.execution_id]
    await provider.complete_orchestration(item, episode(item))
    assert await provider.lock_next_orchestration(NOTHING) is None
    history = await provider.get_history("ep")
    assert kinds(history) == ["orchestratorStarted", "executionStarted"]
    state = await provider.get_instance("ep")
    assert state is not None and state.status is OrchestrationStatus.RUNNING

    await provider.send_messages([raised_event("ep", "Approval", "true")])
    item = await _lock(provider)
    assert kinds(item.past_events) == ["orchestratorStarted", "executionStarted"]
    assert [m.event.eventRaised.name for m in item.new_messages] == ["Approval"]
    await provider.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED, output='"fin"'))
    assert kinds(await provider.get_history("ep"))[-2:] == ["eventRaised", "executionCompleted"]
    state = await provider.get_instance("ep")
    assert state is not None and state.status is OrchestrationStatus.COMPLETED and state.output == '"fin"'
    assert state.generation == 0


async def _start_again(provider: OrchestrationService, item: OrchestrationWorkItem) -> None:
    """Complete ``item``'s episode with a new execution (input "again") replacing the history."""
    fresh = start_message(item.instance_id, input='"again"')
    checkpoint = episode(item)
    checkpoint.new_events = [fresh.event]
    checkpoint.new_execution = True
    checkpoint.state = checkpoint.state.evolve(execution_id=fresh.execution_id)
    await provider.complete_orchestration(item, checkpoint)


async def test_items_carry_their_history_encoded_as_the_request_takes_it(provider: OrchestrationService) -> None:
    """past_events_wire (both our providers give it) parses to past_events, episode after
    episode and after a new execution replaced the history."""

    def check(item: OrchestrationWorkItem) -> None:
        assert item.past_events_wire is not None
        assert list(pb.OrchestratorRequest.FromString(item.past_events_wire).pastEvents) == item.past_events

    await provider.create_instance(start_message("wire"), RUNNING_STATES)
    item = await _lock(provider)
    check(item)
    await provider.complete_orchestration(item, episode(item, extra=[task_scheduled(0)]))
    for n in range(1, 4):
        await provider.send_messages([raised_event("wire", f"E{n}")])
        item = await _lock(provider)
        check(item)
        assert len(item.past_events) == 3 * n
        await provider.complete_orchestration(item, episode(item, extra=[task_scheduled(n)]))
    await provider.send_messages([raised_event("wire")])
    item = await _lock(provider)
    check(item)
    await _start_again(provider, item)
    await provider.send_messages([raised_event("wire")])
    item = await _lock(provider)
    check(item)
    assert kinds(item.past_events) == ["executionStarted"]


async def test_an_instance_is_locked_by_one_work_item_at_a_time(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("solo"), RUNNING_STATES)
    item = await _lock(provider)
    await provider.send_messages([raised_event("solo")])
    assert await provider.lock_next_orchestration(1.0) is None, "a locked instance is not handed out twice"
    await provider.complete_orchestration(item, episode(item))
    again = await _lock(provider)
    assert again.instance_id == "solo" and [m.event.eventRaised.name for m in again.new_messages] == ["Ping"]
    await provider.complete_orchestration(again, episode(again))


async def test_abandon_puts_the_messages_back(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("ab"), RUNNING_STATES)
    item = await _lock(provider)
    await provider.abandon_orchestration(item)
    with pytest.raises(ConcurrencyConflictError):
        await provider.complete_orchestration(item, episode(item))
    again = await _lock(provider)
    assert again.instance_id == "ab" and again.dequeue_count == 2
    assert [m.execution_id for m in again.new_messages] == [m.execution_id for m in item.new_messages]
    await provider.renew_orchestration(again)
    await provider.complete_orchestration(again, episode(again))
    with pytest.raises(ConcurrencyConflictError):
        await provider.complete_orchestration(again, episode(again))
    assert kinds(await provider.get_history("ab")) == ["orchestratorStarted", "executionStarted"]


async def test_every_delivery_counts_also_of_a_message_sent_to_a_running_instance(
    provider: OrchestrationService,
) -> None:
    # Started and dispatching: on Azure a message for an instance of a polled partition is
    # handed over in this process without a receive (the queue never counts that delivery).
    await provider.start()
    await provider.create_instance(start_message("counted"), RUNNING_STATES)
    await _run_episode(provider, "counted")
    await provider.send_messages([raised_event("counted", "Once")])
    counts = []
    for _ in range(3):
        item = await _lock(provider)
        assert item.instance_id == "counted" and _raised_names(item) == ["Once"]
        counts.append(item.dequeue_count)
        if len(counts) < 3:
            await provider.abandon_orchestration(item)
    assert counts == [1, 2, 3]
    await provider.complete_orchestration(item, episode(item))
    assert await provider.lock_next_orchestration(NOTHING) is None


async def _run_episode(provider: OrchestrationService, instance_id: str) -> None:
    item = await _lock(provider)
    assert item.instance_id == instance_id
    await provider.complete_orchestration(item, episode(item))


async def test_abandon_with_delay_holds_the_messages(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("slow"), RUNNING_STATES)
    item = await _lock(provider)
    await provider.abandon_orchestration(item, delay=2.0)
    assert await provider.lock_next_orchestration(0.5) is None
    again = await _lock(provider)
    assert again.instance_id == "slow"
    await provider.complete_orchestration(again, episode(again))


#: An abandon delay long enough that "not back yet" (checked about a second after the abandon)
#: and "back" (waited for) cannot be confused, even on a loaded machine.
HELD = 6.0


def _raised_names(item: OrchestrationWorkItem) -> list[str]:
    return [m.event.eventRaised.name if m.event.HasField("eventRaised") else kinds([m.event])[0] for m in item.new_messages]


async def test_abandon_with_delay_holds_only_those_messages(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("busy"), RUNNING_STATES)
    started = await _lock(provider)
    await provider.complete_orchestration(started, episode(started))
    await provider.send_messages([raised_event("busy", "First")])
    first = await _lock(provider)
    await provider.abandon_orchestration(first, delay=HELD)

    await provider.send_messages([raised_event("busy", "Second")])
    second = await provider.lock_next_orchestration(HELD / 2)
    assert second is not None, "a message sent after the abandon waited for the abandon's delay"
    assert _raised_names(second) == ["Second"] and second.dequeue_count == 1
    await provider.complete_orchestration(second, episode(second))

    assert await provider.lock_next_orchestration(NOTHING) is None, "the abandoned message came back before its delay"
    back = await _lock(provider)
    assert back.instance_id == "busy" and _raised_names(back) == ["First"]
    await provider.complete_orchestration(back, episode(back))
    assert kinds(await provider.get_history("busy"))[-2:] == ["orchestratorStarted", "eventRaised"]


async def test_a_start_is_not_held_back_by_messages_abandoned_before_it(provider: OrchestrationService) -> None:
    # Messages to an instance that does not exist yet are put back for a while (the
    # dispatcher waits for the start to arrive): the start itself must not wait as well.
    await provider.send_messages([raised_event("late", "Early")])
    early = await _lock(provider)
    assert early.instance_id == "late" and early.state is None
    await provider.abandon_orchestration(early, delay=HELD)

    start = start_message("late")
    await provider.create_instance(start, RUNNING_STATES)
    item = await provider.lock_next_orchestration(HELD / 2)
    assert item is not None, "the start waited for the delay of messages abandoned before it"
    assert kinds([m.event for m in item.new_messages]) == ["executionStarted"] and item.dequeue_count == 1
    await provider.complete_orchestration(item, episode(item))

    assert await provider.lock_next_orchestration(NOTHING) is None, "the abandoned message came back before its delay"
    back = await _lock(provider)
    assert back.instance_id == "late" and _raised_names(back) == ["Early"]
    assert back.state is not None and back.state.execution_id == start.execution_id
    await provider.complete_orchestration(back, episode(back))


async def test_discard_consumes_the_messages_and_stores_nothing(provider: OrchestrationService) -> None:
    await provider.send_messages([raised_event("ghost")])
    item = await _lock(provider)
    assert item.instance_id == "ghost" and item.state is None
    await provider.discard_orchestration(item)
    with pytest.raises(ConcurrencyConflictError):
        await provider.discard_orchestration(item)
    assert await provider.lock_next_orchestration(NOTHING) is None, "the messages are gone"
    assert await provider.get_instance("ghost") is None
    assert await provider.get_history("ghost") == []
    await provider.send_messages([raised_event("ghost")])  # a later message is delivered as usual
    again = await _lock(provider)
    assert again.instance_id == "ghost" and again.dequeue_count == 1
    await provider.discard_orchestration(again)


async def test_new_execution_replaces_the_history(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("can"), RUNNING_STATES)
    item = await _lock(provider)
    await provider.complete_orchestration(item, episode(item, extra=[task_scheduled(0), task_scheduled(1)]))
    assert len(await provider.get_history("can")) == 4
    await provider.send_messages([raised_event("can")])
    item = await _lock(provider)
    await _start_again(provider, item)
    history = await provider.get_history("can")
    assert kinds(history) == ["executionStarted"]
    assert history[0].executionStarted.input.value == '"again"'


async def test_messages_for_an_old_execution_are_not_delivered(provider: OrchestrationService) -> None:
    first = start_message("old")
    await provider.create_instance(first, RUNNING_STATES)
    await _run_to_completion(provider, "old")
    await provider.create_instance(start_message("old"), RUNNING_STATES)
    stale = TaskMessage("old", first.execution_id, task_completed(0))
    await provider.send_messages([stale])
    item = await _lock(provider)
    if any(m.execution_id == first.execution_id for m in item.new_messages):
        pytest.skip("this provider hands stale-execution messages to the dispatcher to drop")
    assert kinds([m.event for m in item.new_messages]) == ["executionStarted"]
    await provider.complete_orchestration(item, episode(item))


# -- activity work -----------------------------------------------------------------------------
async def _schedule_activity(provider: OrchestrationService, instance_id: str) -> None:
    await provider.create_instance(start_message(instance_id), RUNNING_STATES)
    item = await _lock(provider)
    scheduled = task_scheduled(0, "Greet", '"Tokyo"')
    activity = TaskMessage(instance_id, item.new_messages[0].execution_id, scheduled)
    await provider.complete_orchestration(item, episode(item, extra=[scheduled], activities=[activity]))


async def test_activity_lock_complete_delivers_the_result(provider: OrchestrationService) -> None:
    await _schedule_activity(provider, "act")
    work = await provider.lock_next_activity(LOCK_TIMEOUT)
    assert work is not None
    assert (work.instance_id, work.task_id, work.scheduled.name, work.dequeue_count) == ("act", 0, "Greet", 1)
    assert work.scheduled.input.value == '"Tokyo"'
    await provider.renew_activity(work)
    result = TaskMessage("act", work.message.execution_id, task_completed(0, '"Hello Tokyo"'))
    await provider.complete_activity(work, result)
    with pytest.raises(ConcurrencyConflictError):
        await provider.complete_activity(work, result)
    assert await provider.lock_next_activity(NOTHING) is None
    item = await _lock(provider)
    assert [m.event.taskCompleted.result.value for m in item.new_messages] == ['"Hello Tokyo"']
    await provider.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))


async def test_activity_abandon_offers_it_again(provider: OrchestrationService) -> None:
    await _schedule_activity(provider, "actab")
    work = await provider.lock_next_activity(LOCK_TIMEOUT)
    assert work is not None
    await provider.abandon_activity(work)
    with pytest.raises(ConcurrencyConflictError):
        await provider.renew_activity(work)
    again = await provider.lock_next_activity(LOCK_TIMEOUT)
    assert again is not None and again.task_id == 0 and again.dequeue_count == 2
    await provider.complete_activity(again, TaskMessage("actab", again.message.execution_id, task_completed(0)))


async def test_duplicate_results_reach_an_episode_once(provider: OrchestrationService) -> None:
    await _schedule_activity(provider, "twice")
    work = await provider.lock_next_activity(LOCK_TIMEOUT)
    assert work is not None
    result = TaskMessage("twice", work.message.execution_id, task_completed(0))
    await provider.complete_activity(work, result)
    await provider.send_messages([result])
    item = await _lock(provider)
    completions = [m for m in item.new_messages if m.event.HasField("taskCompleted")]
    if len(completions) == 2:
        pytest.skip("this provider leaves duplicate results to the dispatcher")
    assert len(completions) == 1
    await provider.complete_orchestration(item, episode(item))


# -- queries, history, purge --------------------------------------------------------------------
async def _make_instances(provider: OrchestrationService) -> None:
    for iid in ("q-a", "q-b", "q-c", "r-a"):
        await provider.create_instance(start_message(iid), RUNNING_STATES)
    done = set()
    while len(done) < 2:
        item = await _lock(provider)
        if item.instance_id in ("q-a", "r-a"):
            await provider.complete_orchestration(item, episode(item, status=OrchestrationStatus.COMPLETED))
            done.add(item.instance_id)
        else:
            await provider.complete_orchestration(item, episode(item))


async def test_query_filters_and_pages(provider: OrchestrationService) -> None:
    await _make_instances(provider)
    seen: list[str] = []
    token = None
    while True:
        page = await provider.query_instances(InstanceQuery(page_size=2, continuation_token=token))
        assert len(page.instances) <= 2
        seen += [s.instance_id for s in page.instances]
        token = page.continuation_token
        if token is None:
            break
    assert sorted(seen) == ["q-a", "q-b", "q-c", "r-a"]
    completed = await provider.query_instances(InstanceQuery(statuses=frozenset({OrchestrationStatus.COMPLETED})))
    assert sorted(s.instance_id for s in completed.instances) == ["q-a", "r-a"]
    prefixed = await provider.query_instances(InstanceQuery(instance_id_prefix="q-", include_payloads=False))
    assert sorted(s.instance_id for s in prefixed.instances) == ["q-a", "q-b", "q-c"]
    future = await provider.query_instances(InstanceQuery(created_from=now() + timedelta(hours=1)))
    assert future.instances == []
    past = await provider.query_instances(InstanceQuery(created_to=now() + timedelta(hours=1), instance_id_prefix="r"))
    assert [s.instance_id for s in past.instances] == ["r-a"]


async def test_purge_one_and_by_filter(provider: OrchestrationService) -> None:
    await _make_instances(provider)
    assert await provider.purge_instance("q-a") == 1
    assert await provider.get_instance("q-a") is None
    assert await provider.get_history("q-a") == []
    assert await provider.purge_instance("q-a") == 0
    assert await provider.purge_instances(PurgeFilter()) == 1, "only terminal instances (r-a) are purged"
    left = await provider.query_instances(InstanceQuery())
    assert sorted(s.instance_id for s in left.instances) == ["q-b", "q-c"]


async def test_history_of_an_unknown_instance_is_empty(provider: OrchestrationService) -> None:
    assert await provider.get_history("nobody") == []


async def test_wait_for_instance(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("w"), RUNNING_STATES)
    assert await provider.wait_for_instance("w", lambda s: s.status.is_terminal, 0.3) is None

    async def finish() -> None:
        await _run_to_completion(provider, "w")

    runner = asyncio.create_task(finish())
    state = await provider.wait_for_instance("w", lambda s: s.status.is_terminal, LOCK_TIMEOUT)
    await runner
    assert state is not None and state.status is OrchestrationStatus.COMPLETED


async def test_delete_and_recreate_the_task_hub(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("gone"), RUNNING_STATES)
    await provider.create_task_hub(recreate=True)
    assert await provider.get_instance("gone") is None
    await provider.delete_task_hub()
    await provider.create_task_hub()
    await provider.create_instance(start_message("back"), RUNNING_STATES)
    state = await provider.get_instance("back")
    assert state is not None and state.status is OrchestrationStatus.PENDING


async def test_running_state_helper_keeps_identity(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("id1"), RUNNING_STATES)
    item = await _lock(provider)
    state = running_state(item)
    assert state.instance_id == "id1" and state.name == "Hello"
    await provider.complete_orchestration(item, episode(item))
