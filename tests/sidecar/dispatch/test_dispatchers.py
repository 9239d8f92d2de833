"""Dispatcher behaviour on the in-memory provider: concurrency limits, lock renewal of long
activities, graceful stop, lost locks, rewind; in-process runners."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import ConcurrencyConflictError
from azure_durable_ext.core.model import TaskMessage
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.sidecar.dispatch import create_dispatchers
from azure_durable_ext.sidecar.dispatch.activity_dispatcher import ActivityDispatcher
from azure_durable_ext.sidecar.dispatch.in_process import InProcessActivityRunner
from azure_durable_ext.sidecar.hub import TaskHub
from azure_durable_ext.storage.memory import InMemoryOrchestrationService


class RecordingService(InMemoryOrchestrationService):
    """The in-memory provider, recording renewals and able to lose one completion's lock."""

    def __init__(self) -> None:
        super().__init__()
        self.renewals = 0
        self.orchestration_renewals = 0
        self.lose_next_completion = False

    async def renew_activity(self, item: Any) -> None:
        self.renewals += 1
        await super().renew_activity(item)

    async def renew_orchestration(self, item: Any) -> None:
        self.orchestration_renewals += 1
        await super().renew_orchestration(item)

    async def complete_orchestration(self, item: Any, checkpoint: Any, *, keep_session: bool = False) -> Any:
        if self.lose_next_completion:
            self.lose_next_completion = False
            await super().abandon_orchestration(item)  # someone else took the lock meanwhile
            raise ConcurrencyConflictError("lock lost (test)")
        return await super().complete_orchestration(item, checkpoint, keep_session=keep_session)


def scheduled(instance_id: str, task_id: int, name: str, input_json: str) -> TaskMessage:
    event = pb.HistoryEvent(eventId=task_id, taskScheduled=pb.TaskScheduledEvent(name=name))
    event.taskScheduled.input.value = input_json
    return TaskMessage(instance_id, "exec", event)


async def running_instance(
    service: InMemoryOrchestrationService, instance_id: str, activity_messages: tuple[TaskMessage, ...] | list[TaskMessage] = ()
) -> None:
    """Create ``instance_id`` and run its first episode (Running), sending ``activity_messages``."""
    from azure_durable_ext.core.model import OrchestrationCheckpoint

    start = pb.HistoryEvent(eventId=-1, executionStarted=pb.ExecutionStartedEvent(name="Orch"))
    start.executionStarted.orchestrationInstance.instanceId = instance_id
    start.executionStarted.orchestrationInstance.executionId.value = "exec"
    await service.create_instance(TaskMessage(instance_id, "exec", start), frozenset())
    item = await service.lock_next_orchestration(1.0)
    running = item.state.evolve(status=OrchestrationStatus.RUNNING)
    await service.complete_orchestration(item, OrchestrationCheckpoint(state=running, activity_messages=list(activity_messages)))


async def queue_activities(service: InMemoryOrchestrationService, messages: list[TaskMessage]) -> None:
    # Activity messages reach the work-item queue through a checkpoint, as in production.
    await running_instance(service, "host", messages)


async def test_activity_concurrency_limit_is_honoured() -> None:
    service = InMemoryOrchestrationService()
    running, peak, done, lock, release = 0, 0, 0, threading.Lock(), threading.Event()

    def slow(value: int) -> int:
        nonlocal running, peak, done
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
            done += 1
        return value

    registry = Registry()
    registry.add_activity(slow)
    dispatcher = ActivityDispatcher(service, [InProcessActivityRunner(registry)], max_concurrent=2, poll_timeout=0.1)
    await queue_activities(service, [scheduled("host", i, "slow", str(i)) for i in range(5)])
    await dispatcher.start()
    try:
        while running < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert (running, peak, dispatcher.in_flight) == (2, 2, 2)
        release.set()
        while done < 5 or dispatcher.in_flight:
            await asyncio.sleep(0.02)
    finally:
        release.set()
        await dispatcher.stop()
    assert peak == 2


async def test_long_activity_lock_is_renewed() -> None:
    service = RecordingService()
    finished = threading.Event()

    def long_running(_: Any) -> str:
        finished.wait(5)
        return "done"

    registry = Registry()
    registry.add_activity(long_running)
    dispatcher = ActivityDispatcher(
        service, [InProcessActivityRunner(registry)], max_concurrent=1, poll_timeout=0.1, renew_interval=0.05
    )
    await queue_activities(service, [scheduled("host", 0, "long_running", "null")])
    await dispatcher.start()
    try:
        while service.renewals < 3:
            await asyncio.sleep(0.02)
    finally:
        finished.set()
        await dispatcher.stop()
    assert service.renewals >= 3


async def test_stop_puts_unfinished_activities_back() -> None:
    service = InMemoryOrchestrationService()
    started, never = threading.Event(), threading.Event()

    def stuck(_: Any) -> None:
        started.set()
        never.wait(3)

    registry = Registry()
    registry.add_activity(stuck)
    dispatcher = ActivityDispatcher(service, [InProcessActivityRunner(registry)], max_concurrent=1, poll_timeout=0.1)
    await queue_activities(service, [scheduled("host", 0, "stuck", "null")])
    await dispatcher.start()
    while not started.is_set():
        await asyncio.sleep(0.01)
    await dispatcher.stop(grace=0.1)
    never.set()
    again = await service.lock_next_activity(1.0)
    assert again is not None and again.task_id == 0 and again.dequeue_count == 2


def hello(ctx: Any) -> Any:
    first = yield ctx.call_activity("greet", "a")
    second = yield ctx.call_activity("greet", "b")
    return [first, second]


def greet(name: str) -> str:
    return f"hi {name}"


def flaky_then_fine(ctx: Any) -> Any:
    return (yield ctx.call_activity("sometimes", ctx.get_input()))


async def run_hub(service: InMemoryOrchestrationService, registry: Registry) -> Any:
    hub = TaskHub.create(DurableTaskOptions(max_concurrent_orchestrator_functions=2), service)
    dispatchers = create_dispatchers(hub, registry=registry, poll_timeout=0.1)
    await dispatchers.start()
    return hub, dispatchers


async def test_lost_lock_discards_the_episode_and_its_messages_run_again() -> None:
    service = RecordingService()
    registry = Registry()
    registry.add_orchestrator(hello)
    registry.add_activity(greet)
    hub, dispatchers = await run_hub(service, registry)
    try:
        service.lose_next_completion = True
        await hub.durable.start_new("hello", "i1")
        state = await hub.durable.wait_for_completion("i1", 10)
    finally:
        await dispatchers.stop()
    assert state is not None and state.output == '["hi a", "hi b"]'
    kinds = [e.WhichOneof("eventType") for e in await service.get_history("i1")]
    assert kinds.count("executionStarted") == 1 and kinds.count("taskScheduled") == 2


async def test_rewind_reruns_the_failed_activity() -> None:
    service = InMemoryOrchestrationService()
    attempts: list[str] = []

    def sometimes(value: str) -> str:
        attempts.append(value)
        if len(attempts) == 1:
            raise RuntimeError("first time fails")
        return f"ok {value}"

    registry = Registry()
    registry.add_orchestrator(flaky_then_fine)
    registry.add_activity(sometimes)
    hub, dispatchers = await run_hub(service, registry)
    try:
        await hub.durable.start_new("flaky_then_fine", "r1", input='"x"')
        failed = await hub.durable.wait_for_completion("r1", 10)
        assert failed is not None and failed.status is OrchestrationStatus.FAILED
        await hub.durable.rewind("r1", "try again")
        done = await hub.service.wait_for_instance("r1", lambda s: s.status is OrchestrationStatus.COMPLETED, 10)
    finally:
        await dispatchers.stop()
    assert done is not None and done.output == '"ok x"' and done.failure is None
    assert attempts == ["x", "x"]


async def test_orchestration_concurrency_limit_is_honoured() -> None:
    service = InMemoryOrchestrationService()
    registry = Registry()
    in_flight, peak = 0, 0

    class CountingRunner:
        def can_run(self, name: str, version: str | None) -> bool:
            return True

        async def run(self, request: pb.OrchestratorRequest) -> Any:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            from azure_durable_ext.sidecar.dispatch import RunnerOutcome

            done = pb.OrchestratorAction(id=0)
            done.completeOrchestration.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
            return RunnerOutcome.completed(pb.OrchestratorResponse(instanceId=request.instanceId, actions=[done]))

    hub = TaskHub.create(DurableTaskOptions(max_concurrent_orchestrator_functions=3), service)
    dispatchers = create_dispatchers(hub, registry=registry, extra_orchestration_runners=[CountingRunner()], poll_timeout=0.1)
    await dispatchers.start()
    try:
        for i in range(10):
            await hub.durable.start_new("Anything", f"c{i}")
        for i in range(10):
            assert await hub.durable.wait_for_completion(f"c{i}", 10) is not None
    finally:
        await dispatchers.stop()
    assert peak == 3


async def test_timer_created_in_process_fires() -> None:
    service = InMemoryOrchestrationService()

    def napper(ctx: Any) -> Any:
        yield ctx.create_timer(timedelta(milliseconds=200))
        return "rested"

    registry = Registry()
    registry.add_orchestrator(napper)
    hub, dispatchers = await run_hub(service, registry)
    try:
        await hub.durable.start_new("napper", "n1")
        state = await hub.durable.wait_for_completion("n1", 10)
    finally:
        await dispatchers.stop()
    assert state is not None and state.output == '"rested"'


class ManualClock:
    def __init__(self) -> None:
        self.seconds = 100.0

    def now(self) -> Any:
        from datetime import datetime, timezone

        return datetime(2026, 1, 1, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self.seconds


def test_event_bursts_are_gathered_only_right_after_an_episode() -> None:
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import EventBurstCoalescing, OrchestrationDispatcher
    from azure_durable_ext.storage.service import OrchestrationWorkItem

    clock = ManualClock()
    service = InMemoryOrchestrationService()
    dispatcher = OrchestrationDispatcher(
        service, [], clock=clock, event_bursts=EventBurstCoalescing(service.waiting_messages, quiet=0.004)
    )
    raised = TaskMessage("i", None, pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="e")))
    result = TaskMessage("i", "x", pb.HistoryEvent(eventId=-1, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=0)))

    def batch(*messages: TaskMessage, dequeue_count: int = 1) -> OrchestrationWorkItem:
        return OrchestrationWorkItem(
            instance_id="i", state=None, past_events=[], new_messages=list(messages), dequeue_count=dequeue_count
        )

    assert not dispatcher._in_event_burst(batch(raised))  # no episode yet
    dispatcher._episode_done("i")
    clock.seconds += 0.001
    assert dispatcher._in_event_burst(batch(raised, raised))
    assert not dispatcher._in_event_burst(batch(raised, result))  # results never wait
    assert not dispatcher._in_event_burst(batch(raised, dequeue_count=2))  # waited once already
    clock.seconds += 0.01
    assert not dispatcher._in_event_burst(batch(raised))  # the burst is over
    off = OrchestrationDispatcher(InMemoryOrchestrationService(), [], clock=clock)
    off._episode_done("i")
    assert not off._in_event_burst(batch(raised))


async def test_a_burst_of_events_waits_behind_the_held_lock_and_comes_back_as_one_batch() -> None:
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import EventBurstCoalescing, OrchestrationDispatcher

    service = InMemoryOrchestrationService()
    await running_instance(service, "b")
    tick = _tick_to("b")
    # A long quiet period, so "not offered while held" cannot be a matter of timing.
    dispatcher = OrchestrationDispatcher(
        service, [], event_bursts=EventBurstCoalescing(service.waiting_messages, quiet=0.3, limit=0.3)
    )
    dispatcher._episode_done("b")
    await service.send_messages([tick(1)])
    item = await service.lock_next_orchestration(1.0)
    assert item is not None and [m.event.eventRaised.input.value for m in item.new_messages] == ["1"]
    holding = asyncio.create_task(dispatcher.handle(item))
    await asyncio.sleep(0.05)
    await service.send_messages([tick(2)])
    await service.send_messages([tick(3)])
    assert await service.lock_next_orchestration(0.05) is None, "events sent during the hold wait behind the lock"
    await holding
    burst = await service.lock_next_orchestration(1.0)
    assert burst is not None
    assert [m.event.eventRaised.input.value for m in burst.new_messages] == ["1", "2", "3"]
    assert burst.dequeue_count == 2 and not dispatcher._in_event_burst(burst), "it runs now, it is not held again"


def _tick_to(instance_id: str) -> Callable[[int], TaskMessage]:
    def tick(n: int) -> TaskMessage:
        event = pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="tick"))
        event.eventRaised.input.value = str(n)
        return TaskMessage(instance_id, None, event)

    return tick


async def _held_for(quiet: float, limit: float, ticks_every: float | None, ticks_for: float) -> tuple[float, list[str]]:
    """(seconds an item of instance "h" was held, the inputs of the batch that came back)
    while a tick is sent every ``ticks_every`` seconds for ``ticks_for`` seconds."""
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import EventBurstCoalescing, OrchestrationDispatcher

    service = InMemoryOrchestrationService()
    await running_instance(service, "h")
    tick = _tick_to("h")
    dispatcher = OrchestrationDispatcher(
        service, [], event_bursts=EventBurstCoalescing(service.waiting_messages, quiet=quiet, limit=limit)
    )
    dispatcher._episode_done("h")
    await service.send_messages([tick(0)])
    item = await service.lock_next_orchestration(1.0)
    assert item is not None and dispatcher._in_event_burst(item)
    loop = asyncio.get_running_loop()
    began = loop.time()
    holding = asyncio.create_task(dispatcher.handle(item))
    ended: list[float] = []
    holding.add_done_callback(lambda _: ended.append(loop.time()))
    sent = 1
    while ticks_every is not None and not holding.done() and loop.time() - began < ticks_for:
        await asyncio.sleep(ticks_every)
        await service.send_messages([tick(sent)])
        sent += 1
    await holding
    held = ended[0] - began
    burst = await service.lock_next_orchestration(1.0)
    assert burst is not None
    return held, [m.event.eventRaised.input.value for m in burst.new_messages]


async def test_a_burst_is_held_while_events_keep_coming_up_to_the_limit() -> None:
    held, inputs = await _held_for(quiet=0.1, limit=0.5, ticks_every=0.02, ticks_for=1.5)
    # Each tick comes well within the quiet period, so only the limit ends the hold.
    assert 0.5 <= held < 1.2, held
    assert inputs[:3] == ["0", "1", "2"] and len(inputs) >= 10, inputs
    assert inputs == [str(n) for n in range(len(inputs))], "in the order sent"


async def test_a_burst_hold_ends_once_no_event_comes_for_the_quiet_period() -> None:
    held, inputs = await _held_for(quiet=0.1, limit=30.0, ticks_every=None, ticks_for=0.0)
    assert 0.1 <= held < 1.0, held
    assert inputs == ["0"]
    held, inputs = await _held_for(quiet=0.15, limit=30.0, ticks_every=0.03, ticks_for=0.2)
    assert 0.2 <= held < 2.0, held
    assert inputs == [str(n) for n in range(len(inputs))] and len(inputs) >= 4, inputs


def test_event_burst_settings_are_checked() -> None:
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import EventBurstCoalescing

    for quiet, limit in ((0.0, 1.0), (-1.0, 1.0), (0.5, 0.1)):
        with pytest.raises(ValueError, match="quiet"):
            EventBurstCoalescing(lambda _: 0, quiet=quiet, limit=limit)


async def test_slow_episode_lock_is_renewed() -> None:
    from azure_durable_ext.sidecar.dispatch import RunnerOutcome
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import OrchestrationDispatcher

    service = RecordingService()

    class SlowRunner:
        def can_run(self, name: str, version: str | None) -> bool:
            return True

        async def run(self, request: pb.OrchestratorRequest) -> Any:
            while service.orchestration_renewals < 3:
                await asyncio.sleep(0.01)
            return RunnerOutcome.completed(pb.OrchestratorResponse(instanceId=request.instanceId))

    dispatcher = OrchestrationDispatcher(service, [SlowRunner()], poll_timeout=0.1, renew_interval=0.05)
    hub = TaskHub.create(DurableTaskOptions(), service)
    await dispatcher.start()
    try:
        await hub.durable.start_new("Slow", "s1")
        running = await service.wait_for_instance("s1", lambda s: s.status is OrchestrationStatus.RUNNING, 10)
    finally:
        await dispatcher.stop()
    assert running is not None and service.orchestration_renewals >= 3


async def test_messages_to_an_instance_that_never_comes_are_held_back_then_discarded() -> None:
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import OrchestrationDispatcher

    class CountingService(InMemoryOrchestrationService):
        def __init__(self) -> None:
            super().__init__()
            self.held: list[int] = []
            self.discarded: list[int] = []
            self.gone = asyncio.Event()

        async def abandon_orchestration(self, item: Any, *, delay: float = 0.0) -> None:
            self.held.append(item.dequeue_count)
            await super().abandon_orchestration(item, delay=delay)

        async def discard_orchestration(self, item: Any) -> None:
            self.discarded.append(item.dequeue_count)
            await super().discard_orchestration(item)
            self.gone.set()

    service = CountingService()
    dispatcher = OrchestrationDispatcher(
        service, [], poll_timeout=0.1, unknown_instance_delay=0.05, unknown_instance_deliveries=3
    )
    await dispatcher.start()
    try:
        await service.send_messages([TaskMessage("ghost", None, pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="e")))])
        await asyncio.wait_for(service.gone.wait(), 10)
    finally:
        await dispatcher.stop()
    assert service.held == [1, 2], "held back for the start to arrive"
    assert service.discarded == [3], "then discarded"
    assert await service.lock_next_orchestration(0.2) is None and await service.get_instance("ghost") is None


async def test_a_start_that_arrives_while_messages_are_held_back_gets_them() -> None:
    service = InMemoryOrchestrationService()
    registry = Registry()

    def waits(ctx: Any, _: Any) -> Any:
        value = yield ctx.wait_for_external_event("e")
        return value

    registry.add_orchestrator(waits, name="Waits")
    hub, dispatchers = await run_hub(service, registry)
    dispatchers.orchestrations.unknown_instance_delay = 0.2
    try:
        early = pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="e"))
        early.eventRaised.input.value = '"early"'
        await service.send_messages([TaskMessage("late", None, early)])
        await asyncio.sleep(0.1)  # the event is held back: no such instance yet
        await hub.durable.start_new("Waits", "late")
        done = await service.wait_for_instance("late", lambda s: s.status.is_terminal, 10)
    finally:
        await dispatchers.stop()
    assert done is not None and done.status is OrchestrationStatus.COMPLETED and done.output == '"early"'


def four_greetings(ctx: Any) -> Any:
    greetings = []
    for name in "abcd":
        greetings.append((yield ctx.call_activity("greet", name)))
    return greetings


async def test_max_orchestration_actions_fails_the_execution_that_exceeds_it() -> None:
    service = InMemoryOrchestrationService()
    registry = Registry()
    registry.add_orchestrator(four_greetings)
    registry.add_orchestrator(hello)
    registry.add_activity(greet)
    hub = TaskHub.create(DurableTaskOptions(max_orchestration_actions=3), service)
    dispatchers = create_dispatchers(hub, registry=registry, poll_timeout=0.1)
    await dispatchers.start()
    try:
        await hub.durable.start_new("four_greetings", "too-many")
        await hub.durable.start_new("hello", "two")
        failed = await hub.durable.wait_for_completion("too-many", 10)
        fine = await hub.durable.wait_for_completion("two", 10)
    finally:
        await dispatchers.stop()
    assert failed is not None and failed.status is OrchestrationStatus.FAILED
    assert failed.failure is not None and "Maximum amount of orchestration actions (3)" in failed.failure.message
    assert "MaxOrchestrationActions" in failed.failure.message
    assert fine is not None and fine.status is OrchestrationStatus.COMPLETED and fine.output == '["hi a", "hi b"]'


def _completing(request: pb.OrchestratorRequest, output: str) -> Any:
    from azure_durable_ext.sidecar.dispatch import RunnerOutcome

    done = pb.OrchestratorAction(id=0)
    done.completeOrchestration.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
    done.completeOrchestration.result.value = output
    return RunnerOutcome.completed(pb.OrchestratorResponse(instanceId=request.instanceId, actions=[done]))


async def _run_two_episodes(runner: Any) -> tuple[InMemoryOrchestrationService, Any]:
    """'e1' started and run once (Running, a timer pending), then an event: the second
    episode has a history; returns the service and the final state."""
    from azure_durable_ext.sidecar.dispatch.orchestration_dispatcher import OrchestrationDispatcher

    service = InMemoryOrchestrationService()
    dispatcher = OrchestrationDispatcher(service, [runner], poll_timeout=0.1)
    hub = TaskHub.create(DurableTaskOptions(), service)
    await dispatcher.start()
    try:
        await hub.durable.start_new("Waits", "e1", "2.0")
        await service.wait_for_instance("e1", lambda s: s.status is OrchestrationStatus.RUNNING, 10)
        await hub.durable.raise_event("e1", "go", '"x"')
        final = await service.wait_for_instance("e1", lambda s: s.status.is_terminal, 10)
    finally:
        await dispatcher.stop()
    return service, final


class _FirstEpisodeRunsOn:
    """First episode: leaves the instance running (no actions); later: completes."""

    def can_run(self, name: str, version: str | None) -> bool:
        return True

    def answer(self, request: pb.OrchestratorRequest) -> Any:
        from azure_durable_ext.sidecar.dispatch import RunnerOutcome

        if not any(e.HasField("eventRaised") for e in request.newEvents):
            return RunnerOutcome.completed(pb.OrchestratorResponse(instanceId=request.instanceId))
        return _completing(request, '"done"')


async def test_a_runner_taking_the_history_encoded_gets_it_as_stored_and_the_request_without_it() -> None:
    calls: list[tuple[int, bytes | None, str, str | None]] = []

    class EncodedRunner(_FirstEpisodeRunsOn):
        async def run(self, request: pb.OrchestratorRequest) -> Any:
            calls.append((len(request.pastEvents), None, "", None))
            return self.answer(request)

        async def run_encoded(self, request: pb.OrchestratorRequest, wire: bytes, name: str, version: str | None) -> Any:
            calls.append((len(request.pastEvents), wire, name, version))
            return self.answer(request)

    service, final = await _run_two_episodes(EncodedRunner())
    assert final.status is OrchestrationStatus.COMPLETED and final.output == '"done"'
    # The first episode has no stored history (its start brings it): a plain run.
    assert [(past, wire is None, name, version) for past, wire, name, version in calls] == [
        (0, True, "", None), (0, False, "Waits", "2.0")]
    # The second episode's history came as the provider keeps it: the first episode's events.
    wire = calls[1][1]
    assert wire is not None
    history = pb.OrchestratorRequest.FromString(wire).pastEvents
    kinds = [e.WhichOneof("eventType") for e in history]
    assert kinds == ["orchestratorStarted", "executionStarted", "orchestratorCompleted"]
    # The checkpoint stood on that history: stored history = it + the second episode.
    stored = service._instances["e1"].history
    assert [e.SerializeToString() for e in stored[:3]] == [e.SerializeToString() for e in history]
    assert [e.WhichOneof("eventType") for e in stored[3:]] == [
        "orchestratorStarted", "eventRaised", "executionCompleted", "orchestratorCompleted"]


async def test_a_runner_without_run_encoded_gets_the_whole_request() -> None:
    past_counts: list[int] = []

    class PlainRunner(_FirstEpisodeRunsOn):
        async def run(self, request: pb.OrchestratorRequest) -> Any:
            past_counts.append(len(request.pastEvents))
            return self.answer(request)

    _, final = await _run_two_episodes(PlainRunner())
    assert final.status is OrchestrationStatus.COMPLETED
    assert past_counts == [0, 3]
