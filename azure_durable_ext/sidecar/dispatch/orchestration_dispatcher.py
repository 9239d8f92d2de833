"""The orchestration dispatcher: locked batches of messages -> episodes -> checkpoints.

For each locked work item: ``plan_episode`` decides what the messages mean (episode_input's
rules); a RUN plan goes to the first runner that can run (name, version) — the in-process
registry first, then connected workers, in the order given — and ``checkpoint_episode``
turns the response into what storage records. When no runner can run the orchestration yet
the item is parked (kept locked, no storage polling) and runs as soon as a runner can take
it, e.g. when a matching worker connects (an instance nobody can run stays Pending until
then). A runner's abandon (versioning REJECT, a
worker that went away) puts the work back too, with a delay growing with the number of
attempts. A lost lock (ConcurrencyConflictError) discards the episode: its messages come
back and run again.

With ``event_bursts`` (the in-memory provider, where holding a lock costs nothing), a
batch of only external events that arrives within ``quiet`` seconds of the instance's
previous episode keeps the instance locked until no new message has come for ``quiet``
seconds (at most ``limit`` seconds in all), and is then put back at once: events arriving
meanwhile queue behind the lock (a locked instance is not offered), so the burst comes back
as one batch and the worker replays the history once per burst instead of once or twice
per event. A lone event, or one that comes after a pause, is not held.

With ``extended_sessions`` (host.json ``extendedSessionsEnabled``), an episode that leaves
the instance running keeps its lock as a session: the same task waits up to ``idle_timeout``
seconds for the instance's next messages and runs the next episode at once, without a
fetch, a new lock or a storage read. A waiting session still holds its concurrency slot; at
most ``max_sessions`` (half of maxConcurrentOrchestratorFunctions, as in Durable Functions)
wait at a time, and stopping ends them first. Workers still get the whole history with
every episode (no replay is skipped), so orchestrator code behaves exactly as without.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.episode import checkpoint_episode, new_execution_id
from ...core.errors import ConcurrencyConflictError
from ...core.model import OrchestrationCheckpoint
from ...storage.service import OrchestrationService, OrchestrationWorkItem
from .episode_input import EpisodePlan, PlanKind, plan_episode
from .runners import OrchestrationRunner, RunnerOutcome
from .work_loop import RoutingDispatcher, retry_delay

log = logging.getLogger(__name__)

#: How long messages to an instance without a row (or sent before its start) are held back,
#: and how many deliveries they get before they are discarded: a start that queues do not
#: deliver in order gets about five minutes to arrive; after that the messages go, as
#: DurableTask.AzureStorage discards messages to an instance that does not exist.
UNKNOWN_INSTANCE_DELAY = 60.0
UNKNOWN_INSTANCE_DELIVERIES = 5
DEFERRED_DELAY = 1.0


@dataclass(frozen=True)
class EventBurstCoalescing:
    """How a burst of external events to one instance is gathered into one episode."""

    #: Messages waiting behind an instance's lock (the provider's count).
    backlog: Callable[[str], int]
    #: The burst is over once this long passes without a new message.
    quiet: float = 0.004
    #: The longest an instance is held for one burst. A steady stream of events then runs
    #: at most about 1/limit episodes per second, each taking everything that came.
    limit: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.quiet <= self.limit:
            raise ValueError(f"need 0 < quiet <= limit, got quiet={self.quiet!r}, limit={self.limit!r}")


@dataclass(frozen=True)
class ExtendedSessions:
    """How long and how many orchestration sessions are kept between episodes."""

    idle_timeout: float = 30.0
    max_sessions: int = 1

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0 or self.max_sessions < 1:
            raise ValueError(
                f"need idle_timeout > 0 and max_sessions >= 1, got {self.idle_timeout!r}, {self.max_sessions!r}"
            )

    @classmethod
    def for_concurrency(cls, max_concurrent: int, idle_timeout: float) -> "ExtendedSessions | None":
        """Durable Functions' rule: at most half the orchestration slots may wait in a
        session (None when that is none: a single slot must never idle)."""
        half = max_concurrent // 2
        return cls(idle_timeout=idle_timeout, max_sessions=half) if half >= 1 else None


class OrchestrationDispatcher(RoutingDispatcher[OrchestrationWorkItem, OrchestrationRunner]):
    """Runs orchestration episodes from one OrchestrationService."""

    kind = "orchestration"

    def __init__(
        self,
        service: OrchestrationService,
        runners: Sequence[OrchestrationRunner],
        *,
        make_execution_id: Callable[[], str] = new_execution_id,
        event_bursts: EventBurstCoalescing | None = None,
        extended_sessions: ExtendedSessions | None = None,
        max_actions: int | None = None,
        unknown_instance_delay: float = UNKNOWN_INSTANCE_DELAY,
        unknown_instance_deliveries: int = UNKNOWN_INSTANCE_DELIVERIES,
        **options: Any,
    ) -> None:
        """``options``: RoutingDispatcher's (clock, max_concurrent, poll_timeout, delays)."""
        super().__init__(runners, **options)
        self.service = service
        self.make_execution_id = make_execution_id
        self.event_bursts = event_bursts
        self.extended_sessions = extended_sessions
        #: host.json maxOrchestrationActions (None: no limit).
        self.max_actions = max_actions
        #: Tasks waiting in a session (stop ends them at once).
        self._session_waits: set[asyncio.Task[Any]] = set()
        self._sessions_held = 0
        self.unknown_instance_delay = unknown_instance_delay
        self.unknown_instance_deliveries = unknown_instance_deliveries
        self._last_episode: dict[str, float] = {}

    async def fetch(self, timeout: float) -> OrchestrationWorkItem | None:
        """The next item to process; items that can only wait for a runner are parked here
        at once (no task, no episode planned), which keeps a backlog no worker can take
        from costing more than the lock."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self.service.lock_next_orchestration(max(0.0, deadline - loop.time()))
            if item is None or not self._park_early(item):
                return item
            if loop.time() >= deadline:
                return None

    def _park_early(self, item: OrchestrationWorkItem) -> bool:
        """Park ``item`` when it would run the orchestrator (its execution has started, or
        starts in this batch) and no runner can run the instance's (name, version), which
        the row holds for its current execution."""
        state = item.state
        if state is None or state.status.is_terminal:
            return False
        starts = [m for m in item.new_messages if m.event.HasField("executionStarted")]
        if not item.past_events and not starts:
            return False
        if any(m.execution_id and m.execution_id != state.execution_id for m in starts):
            return False  # another execution's start: the episode plan decides what it means
        if self.runner_for(state.name, state.version) is not None:
            return False
        self.park(item, state.name, state.version)
        return True

    def describe(self, item: OrchestrationWorkItem) -> str:
        if item.is_session:
            return f"the session of {item.instance_id!r}"
        return f"the episode of {item.instance_id!r}"

    async def put_back(self, item: OrchestrationWorkItem, delay: float) -> None:
        await self._put_back(item, delay, None)

    async def renew(self, item: OrchestrationWorkItem) -> None:
        await self.service.renew_orchestration(item)

    def _in_event_burst(self, item: OrchestrationWorkItem) -> EventBurstCoalescing | None:
        """The settings to hold ``item`` under (``event_bursts``) when it holds external events
        arriving right after the instance's previous episode, else None: waiting for the rest
        of the burst lets one episode (one replay of the whole history by the worker) take it
        instead of one per event or two."""
        bursts = self.event_bursts
        if bursts is None or item.dequeue_count > 1:
            return None
        last = self._last_episode.get(item.instance_id)
        if last is None or self.clock.monotonic() - last > bursts.quiet:
            return None
        return bursts if all(m.event.HasField("eventRaised") for m in item.new_messages) else None

    async def _hold_for_burst(self, item: OrchestrationWorkItem, bursts: EventBurstCoalescing) -> None:
        """Keep ``item``'s lock until its backlog stops growing for ``quiet`` seconds or
        ``limit`` seconds have passed."""
        held = 0.0
        backlog = bursts.backlog(item.instance_id)
        while held < bursts.limit:
            step = min(bursts.quiet, bursts.limit - held)
            await asyncio.sleep(step)
            held += step
            now = bursts.backlog(item.instance_id)
            if now == backlog:
                return
            backlog = now

    def _episode_done(self, instance_id: str) -> None:
        if self.event_bursts is None:
            return
        if len(self._last_episode) >= 10_000:
            self._last_episode.clear()
        self._last_episode[instance_id] = self.clock.monotonic()

    @property
    def sessions_waiting(self) -> int:
        """Sessions kept after an episode and not yet continued or ended."""
        return self._sessions_held

    async def handle(self, item: OrchestrationWorkItem) -> OrchestrationWorkItem | None:
        if item.is_session:
            return await self._continue_session(item)
        bursts = self._in_event_burst(item)
        if bursts is not None:
            # Hold the lock, not the messages: an abandon delays only the messages it puts
            # back, while everything sent to a locked instance waits behind the lock. Put
            # back at once, the whole burst then comes as one batch (delivered twice, so it
            # is not held again).
            await self._hold_for_burst(item, bursts)
            await self._put_back(item, 0.0, "coalescing a burst of external events")
            return None
        plan = plan_episode(item, self.clock.now())
        for kind, reason in plan.dropped:
            log.info("instance %r: dropped a %s message (%s)", item.instance_id, kind, reason)
        if plan.kind is PlanKind.RUN:
            return await self._run(item, plan)
        elif plan.kind is PlanKind.CHECKPOINT:
            assert plan.checkpoint is not None
            await self._complete(item, plan.checkpoint, plan)
        elif plan.kind is PlanKind.DISCARD:
            await self._discard(item, plan)
        elif plan.kind is PlanKind.DEFER:
            await self._put_back(item, retry_delay(DEFERRED_DELAY, item.dequeue_count, 30.0), "messages before the start")
        else:
            await self._unknown_instance(item)
        return None

    async def _run(self, item: OrchestrationWorkItem, plan: EpisodePlan) -> OrchestrationWorkItem | None:
        """Run the episode and store it; the instance's session when it is kept."""
        assert plan.request is not None
        name, version = plan.name, plan.version
        runner = self.runner_for(name, version)
        if runner is None:
            self.park(item, name, version)
            return None
        run_encoded = getattr(runner, "run_encoded", None)  # optional (runners.py)
        async with self.renewing(item):
            if run_encoded is not None and plan.past_events_wire is not None:
                outcome = await run_encoded(plan.request, plan.past_events_wire, name, version)
            else:
                outcome = await runner.run(plan.full_request())
        if outcome.abandon or outcome.response is None:
            delay = outcome.delay if outcome.delay is not None else retry_delay(self.abandon_delay, item.dequeue_count)
            await self._put_back(item, delay, outcome.reason)
            return None
        checkpoint = checkpoint_episode(
            item.state,
            plan.request,
            outcome.response,
            past_events=plan.past_events,
            replaced_history=plan.replaced_history,
            make_execution_id=self.make_execution_id,
            max_actions=self.max_actions,
        )
        keep = self._reserve_session(checkpoint)
        session = None
        try:
            session = await self._complete(item, checkpoint, plan, keep_session=keep)
        finally:
            if keep and session is None:  # completing failed, or the provider kept no session
                self._sessions_held -= 1
        self._episode_done(item.instance_id)
        return session

    def _reserve_session(self, checkpoint: OrchestrationCheckpoint) -> bool:
        """Whether to keep the instance's lock after this episode (and count it if so)."""
        sessions = self.extended_sessions
        if (
            sessions is None
            or self._stopping
            or checkpoint.state.status.is_terminal
            or self._sessions_held >= sessions.max_sessions
        ):
            return False
        self._sessions_held += 1
        return True

    async def _continue_session(self, session: OrchestrationWorkItem) -> OrchestrationWorkItem | None:
        assert self.extended_sessions is not None
        task = asyncio.current_task()
        assert task is not None
        self._session_waits.add(task)
        try:
            return await self.service.continue_session(session, self.extended_sessions.idle_timeout)
        finally:
            self._session_waits.discard(task)
            self._sessions_held -= 1

    async def stop(self, grace: float = 5.0) -> None:
        """Stop as RoutingDispatcher does; sessions waiting for messages end at once (their
        instances are unlocked, nothing is lost: a session holds no messages)."""
        self._stopping = True
        for task in list(self._session_waits):
            task.cancel()
        await super().stop(grace)

    async def _complete(
        self,
        item: OrchestrationWorkItem,
        checkpoint: OrchestrationCheckpoint,
        plan: EpisodePlan,
        *,
        keep_session: bool = False,
    ) -> OrchestrationWorkItem | None:
        checkpoint.orchestrator_messages.extend(plan.extra_messages)
        return await self.service.complete_orchestration(item, checkpoint, keep_session=keep_session)

    async def _discard(self, item: OrchestrationWorkItem, plan: EpisodePlan) -> None:
        """Consume messages that change nothing (the row stays as it is)."""
        if item.state is None:
            await self._unknown_instance(item)
            return
        await self._complete(item, OrchestrationCheckpoint(state=item.state), plan)

    async def _unknown_instance(self, item: OrchestrationWorkItem) -> None:
        """Messages to an instance with no row and no start: held back for the start to
        arrive, then discarded."""
        kinds = ",".join(m.event.WhichOneof("eventType") or "?" for m in item.new_messages)
        if item.dequeue_count >= self.unknown_instance_deliveries:
            log.warning(
                "instance %r does not exist: discarding %d message(s) (%s) after %d deliveries",
                item.instance_id, len(item.new_messages), kinds, item.dequeue_count,
            )
            await self.service.discard_orchestration(item)
            return
        log.warning(
            "instance %r does not exist; holding back %d message(s) (%s) for %gs (delivery %d of %d)",
            item.instance_id, len(item.new_messages), kinds, self.unknown_instance_delay,
            item.dequeue_count, self.unknown_instance_deliveries,
        )
        await self._put_back(item, self.unknown_instance_delay, None)

    async def _put_back(self, item: OrchestrationWorkItem, delay: float, reason: str | None) -> None:
        if reason is not None:
            log.debug("instance %r put back for %.2fs: %s", item.instance_id, delay, reason)
        try:
            await self.service.abandon_orchestration(item, delay=delay)
        except ConcurrencyConflictError as exc:
            log.info("could not put back %r (lock already lost): %s", item.instance_id, exc)
