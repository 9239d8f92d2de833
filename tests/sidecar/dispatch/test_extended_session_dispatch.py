"""extendedSessionsEnabled in the orchestration dispatcher (in-memory provider): episodes of
one instance follow each other in one session, at most half the slots wait in sessions,
idle sessions end, and stopping ends waiting sessions at once."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.sidecar.dispatch import create_dispatchers
from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import ExtendedSessions
from azure_durable_ext.sidecar.hub import TaskHub
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


class CountingService(InMemoryOrchestrationService):
    """Counts the work items handed out by fetches and by sessions."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched = 0
        self.continued = 0
        self.sessions_kept = 0

    async def lock_next_orchestration(self, timeout: float) -> Any:
        item = await super().lock_next_orchestration(timeout)
        self.fetched += item is not None
        return item

    async def continue_session(self, session: Any, timeout: float) -> Any:
        item = await super().continue_session(session, timeout)
        self.continued += item is not None
        return item

    async def complete_orchestration(self, item: Any, checkpoint: Any, *, keep_session: bool = False) -> Any:
        session = await super().complete_orchestration(item, checkpoint, keep_session=keep_session)
        self.sessions_kept += session is not None
        return session


def chain(ctx: Any) -> Any:
    results = []
    for n in range(4):
        results.append((yield ctx.call_activity("double", n)))
    return results


def waits(ctx: Any) -> Any:
    return (yield ctx.wait_for_external_event("Go"))


def double(n: int) -> int:
    return 2 * n


def _registry() -> Registry:
    registry = Registry()
    registry.add_orchestrator(chain)
    registry.add_orchestrator(waits)
    registry.add_activity(double)
    return registry


async def _hub(service: InMemoryOrchestrationService, **options: Any) -> tuple[TaskHub, Any]:
    hub = TaskHub.create(DurableTaskOptions(**options), service)
    dispatchers = create_dispatchers(hub, registry=_registry(), poll_timeout=0.1)
    await dispatchers.start()
    return hub, dispatchers


async def test_episodes_of_an_instance_run_in_one_session() -> None:
    service = CountingService()
    hub, dispatchers = await _hub(service, extended_sessions_enabled=True, max_concurrent_orchestrator_functions=4)
    try:
        await hub.durable.start_new("chain", "one")
        state = await hub.durable.wait_for_completion("one", 10)
    finally:
        await dispatchers.stop()
    assert state is not None and state.status is OrchestrationStatus.COMPLETED and state.output == "[0, 2, 4, 6]"
    assert service.fetched == 1, "only the start was fetched; the four results came to the session"
    assert service.continued == 4 and service.sessions_kept == 4, "no session is kept after the last episode"


async def test_without_the_option_every_episode_is_fetched() -> None:
    service = CountingService()
    hub, dispatchers = await _hub(service, max_concurrent_orchestrator_functions=4)
    try:
        await hub.durable.start_new("chain", "two")
        state = await hub.durable.wait_for_completion("two", 10)
    finally:
        await dispatchers.stop()
    assert state is not None and state.output == "[0, 2, 4, 6]"
    assert (service.fetched, service.continued, service.sessions_kept) == (5, 0, 0)


async def test_at_most_half_the_slots_wait_in_sessions() -> None:
    service = CountingService()
    hub, dispatchers = await _hub(service, extended_sessions_enabled=True, max_concurrent_orchestrator_functions=4)
    try:
        for n in range(5):
            await hub.durable.start_new("waits", f"w{n}")
        for n in range(5):
            await hub.durable.wait_for_start(f"w{n}", 10)
        deadline = time.monotonic() + 10
        while dispatchers.orchestrations.sessions_waiting < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert dispatchers.orchestrations.sessions_waiting == 2, "half of 4 slots"
        # Events reach instances in a session and instances without one alike.
        for n in range(5):
            await hub.durable.raise_event(f"w{n}", "Go", f'"{n}"')
        for n in range(5):
            state = await hub.durable.wait_for_completion(f"w{n}", 10)
            assert state is not None and state.output == f'"{n}"'
    finally:
        await dispatchers.stop()


async def test_an_idle_session_ends_and_later_messages_are_fetched() -> None:
    service = CountingService()
    hub, dispatchers = await _hub(
        service, extended_sessions_enabled=True, extended_session_idle_timeout_in_seconds=1,
        max_concurrent_orchestrator_functions=2,
    )
    try:
        await hub.durable.start_new("waits", "idle")
        await hub.durable.wait_for_start("idle", 10)
        await asyncio.sleep(1.6)
        assert dispatchers.orchestrations.sessions_waiting == 0
        await hub.durable.raise_event("idle", "Go", '"late"')
        state = await hub.durable.wait_for_completion("idle", 10)
    finally:
        await dispatchers.stop()
    assert state is not None and state.output == '"late"'
    assert service.fetched == 2 and service.continued == 0


async def test_stop_ends_waiting_sessions_at_once_and_unlocks_them() -> None:
    service = CountingService()
    hub, dispatchers = await _hub(service, extended_sessions_enabled=True, max_concurrent_orchestrator_functions=2)
    await hub.durable.start_new("waits", "held")
    await hub.durable.wait_for_start("held", 10)
    while dispatchers.orchestrations.sessions_waiting < 1:
        await asyncio.sleep(0.02)
    began = time.monotonic()
    await dispatchers.stop(grace=20.0)
    assert time.monotonic() - began < 10, "the 30 s session wait did not hold the stop up"
    assert dispatchers.orchestrations.sessions_waiting == 0
    await hub.durable.raise_event("held", "Go", '"after"')
    item = await service.lock_next_orchestration(5.0)
    assert item is not None and item.instance_id == "held", "the session's lock was released"


def test_sessions_take_half_the_slots_and_never_the_only_one() -> None:
    assert ExtendedSessions.for_concurrency(1, 30.0) is None
    assert ExtendedSessions.for_concurrency(20, 30.0) == ExtendedSessions(idle_timeout=30.0, max_sessions=10)
    with pytest.raises(ValueError, match="idle_timeout"):
        ExtendedSessions(idle_timeout=0.0)
