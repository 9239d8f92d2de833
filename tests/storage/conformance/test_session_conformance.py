"""Extended sessions in every provider: the lock kept after an episode, the next messages
handed to the session, and every way a session ends (memory and Azure Storage)."""
from __future__ import annotations

import asyncio
import time

import pytest
from helpers import LOCK_TIMEOUT, episode, kept_session, kinds, raised_event, start_message

from azure_durable_ext.core.errors import ConcurrencyConflictError
from azure_durable_ext.core.status import RUNNING_STATES, OrchestrationStatus
from azure_durable_ext.storage.service import OrchestrationService

NOTHING = 0.5
#: Long enough that a session waiting it out would fail the test's own timeout.
LONG_WAIT = 60.0


async def test_a_kept_session_is_a_locked_item_without_messages(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-keep")
    assert session.is_session and session.instance_id == "s-keep" and session.new_messages == []
    assert session.state is not None and session.state.status is OrchestrationStatus.RUNNING
    # The episode is stored as without a session.
    assert kinds(await provider.get_history("s-keep")) == ["orchestratorStarted", "executionStarted", "taskScheduled"]
    stored = await provider.get_instance("s-keep")
    assert stored is not None and stored.status is OrchestrationStatus.RUNNING
    await provider.send_messages([raised_event("s-keep")])
    assert await provider.lock_next_orchestration(1.0) is None, "the session keeps the instance locked"
    await provider.abandon_orchestration(session)
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == "s-keep", "ending the session offers what queued behind it"
    await provider.complete_orchestration(item, episode(item))


async def test_complete_without_keep_session_answers_none(provider: OrchestrationService) -> None:
    await provider.create_instance(start_message("s-none"), RUNNING_STATES)
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None
    assert await provider.complete_orchestration(item, episode(item)) is None


async def test_messages_sent_to_a_session_are_its_next_item(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-next")
    await provider.send_messages([raised_event("s-next", "First")])
    item = await provider.continue_session(session, LOCK_TIMEOUT)
    assert item is not None and not item.is_session
    assert [m.event.eventRaised.name for m in item.new_messages] == ["First"]
    assert kinds(item.past_events) == ["orchestratorStarted", "executionStarted", "taskScheduled"]
    assert item.dequeue_count == 1
    # The session's item is an ordinary work item: its episode stores, and can keep the session again.
    again = await provider.complete_orchestration(item, episode(item), keep_session=True)
    assert again is not None and again.is_session
    with pytest.raises(ConcurrencyConflictError):  # its lock moved on to the new session
        await provider.complete_orchestration(item, episode(item))
    await provider.send_messages([raised_event("s-next", "Second")])
    last = await provider.continue_session(again, LOCK_TIMEOUT)
    assert last is not None and [m.event.eventRaised.name for m in last.new_messages] == ["Second"]
    await provider.complete_orchestration(last, episode(last, status=OrchestrationStatus.COMPLETED))
    history = kinds(await provider.get_history("s-next"))
    assert history.count("eventRaised") == 2 and history[-1] == "executionCompleted"
    assert await provider.lock_next_orchestration(NOTHING) is None, "every message was consumed once"


async def test_a_message_wakes_a_waiting_session(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-wake")
    waiting = asyncio.ensure_future(provider.continue_session(session, LONG_WAIT))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    began = time.monotonic()
    await provider.send_messages([raised_event("s-wake", "Late")])
    item = await asyncio.wait_for(waiting, LOCK_TIMEOUT)
    assert time.monotonic() - began < LOCK_TIMEOUT
    assert item is not None and [m.event.eventRaised.name for m in item.new_messages] == ["Late"]
    await provider.complete_orchestration(item, episode(item))


async def test_an_idle_session_ends_and_unlocks_the_instance(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-idle")
    assert await provider.continue_session(session, 0.5) is None
    with pytest.raises(ConcurrencyConflictError):
        await provider.continue_session(session, 0.1)
    await provider.send_messages([raised_event("s-idle")])
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == "s-idle", "later messages are offered as usual"
    await provider.complete_orchestration(item, episode(item))


async def test_abandoning_a_session_ends_it_without_putting_anything_back(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-abandon")
    await provider.send_messages([raised_event("s-abandon", "Queued")])
    await provider.abandon_orchestration(session, delay=30.0)
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == "s-abandon"
    assert [m.event.eventRaised.name for m in item.new_messages] == ["Queued"], "only what came during the session"
    await provider.complete_orchestration(item, episode(item))
    assert kinds(await provider.get_history("s-abandon")).count("executionStarted") == 1


async def test_discarding_a_session_ends_it(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-discard")
    await provider.discard_orchestration(session)
    await provider.send_messages([raised_event("s-discard")])
    item = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert item is not None and item.instance_id == "s-discard"
    await provider.complete_orchestration(item, episode(item))


async def test_a_session_does_not_hold_up_other_instances(provider: OrchestrationService) -> None:
    session = await kept_session(provider, "s-busy")
    await provider.create_instance(start_message("s-other"), RUNNING_STATES)
    other = await provider.lock_next_orchestration(LOCK_TIMEOUT)
    assert other is not None and other.instance_id == "s-other"
    await provider.complete_orchestration(other, episode(other))
    await provider.abandon_orchestration(session)
