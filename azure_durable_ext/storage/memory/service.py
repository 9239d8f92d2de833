"""InMemoryOrchestrationService: the provider contract kept in process memory.

Semantics (the same contract as the Azure Storage provider, minus durability):

- Each instance has an ordered message queue. An instance with messages and no lock is on
  the ready queue once; ``lock_next_orchestration`` takes it and hands out every message
  queued at that moment. Messages arriving while it is locked wait for the next episode.
- Messages with ``visible_at`` in the future are held on an event-loop timer for the
  difference between ``visible_at`` and the injected clock's ``now()`` (timers, scheduled
  starts, abandon delays).
- Extended sessions: ``complete_orchestration(keep_session=True)`` keeps the lock; messages
  queued behind it wake ``continue_session`` at once.
- Locks do not expire (a crash loses the memory anyway). A completion, renewal or abandon
  with a lock that is no longer current raises ConcurrencyConflictError and changes nothing.
- ``abandon_orchestration`` unlocks the instance at once; only the abandoned messages wait
  for ``delay`` (held in the record, on a timer), then go back in front of newer ones. Messages
  arriving meanwhile are offered as soon as they are due. ``dequeue_count`` is one more than
  the most times any message of the batch was handed out before.
- ``create_instance`` replaces the history: the instance row now names the new execution, and
  start messages of other executions still waiting for the instance (queued, held, or
  scheduled for later on a timer) are dropped: they were sent before the row that
  supersedes them.
- ``wait_for_instance`` is woken by every change of the instance (no polling).
- Query order is instance id; the continuation token is the last id of the previous page.
- ``purge_instance`` deletes whatever the status (callers enforce policy).
- Messages addressed to an execution that is no longer the instance's current one are
  dropped when the instance is locked (start messages excepted).
- Nothing is copied on the way in or out (that is what makes it fast): history events and
  messages handed out are the stored objects, so callers treat them as read-only, and
  must not change events or messages after handing them to the provider.
"""
from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections.abc import Callable, Sequence

from ..._proto import pb
from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError, InvalidArgumentError
from ...core.model import (
    InstancePage,
    InstanceQuery,
    InstanceState,
    OrchestrationCheckpoint,
    PurgeFilter,
    TaskMessage,
)
from ...core.status import OrchestrationStatus
from ...protocol.convert import from_timestamp, optional_string
from ..service import ActivityWorkItem, OrchestrationService, OrchestrationWorkItem
from .activities import ActivityQueue
from .records import (
    HeldBatch,
    InstanceRecord,
    current_execution_only,
    drop_superseded_starts,
    matches,
    same_execution,
    start_execution_id,
    superseded_start,
    without_payloads,
)
from ..waiting import ChangeNotifier
from .signals import WorkQueue

log = logging.getLogger(__name__)


class InMemoryOrchestrationService(OrchestrationService):
    """A complete, fast provider for tests, ``--storage memory`` and benchmarks."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, task_hub: str = "TestHubName") -> None:
        self.clock = clock
        self.task_hub = task_hub
        self._instances: dict[str, InstanceRecord] = {}
        self._ready: WorkQueue[str] = WorkQueue()
        self._activities = ActivityQueue()
        self._changes: ChangeNotifier[str] = ChangeNotifier()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tokens = itertools.count(1)
        #: Orders row creations and delayed sends (a scheduled start older than its row is dropped).
        self._sequence = itertools.count(1)
        #: Ids of instances with a row, sorted; None when rows were added or removed since.
        self._sorted_ids: list[str] | None = None
        #: Extended sessions waiting for messages to their instance (see continue_session).
        self._session_waits: ChangeNotifier[str] = ChangeNotifier()

    # -- lifecycle -------------------------------------------------------------------------
    async def stop(self) -> None:
        """Cancel pending delayed deliveries (their messages are dropped with the memory)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    async def create_task_hub(self, *, recreate: bool = False) -> None:
        """Nothing to create in memory; ``recreate`` drops every instance and message."""
        if recreate:
            await self.delete_task_hub()

    async def delete_task_hub(self) -> None:
        """Drop everything; waiters on instances are woken (they see the instance gone)."""
        await self.stop()
        self._instances.clear()
        self._sorted_ids = None
        self._ready.clear()
        self._activities.clear()
        self._changes.notify_all()
        self._session_waits.notify_all()

    # -- client operations ----------------------------------------------------------------
    async def create_instance(
        self, start: TaskMessage, dedupe_statuses: frozenset[OrchestrationStatus]
    ) -> None:
        """See the contract. Dedupe and the new row happen in one step (no await between
        them), so two concurrent creates of one id cannot both pass the check."""
        event = start.event
        if event.WhichOneof("eventType") != "executionStarted":
            raise InvalidArgumentError("create_instance needs an executionStarted message")
        started = event.executionStarted
        inst = self._instances.get(start.instance_id)
        previous = inst.state if inst is not None else None
        if previous is not None and previous.status in dedupe_statuses:
            raise InstanceAlreadyExistsError(start.instance_id)
        if inst is None:
            inst = self._instances[start.instance_id] = InstanceRecord()
        if previous is None:
            self._sorted_ids = None
        now = self.clock.now()
        inst.state = InstanceState(
            instance_id=start.instance_id,
            name=started.name,
            version=optional_string(started, "version"),
            execution_id=start.execution_id or "",
            status=OrchestrationStatus.PENDING,
            created_at=now,
            last_updated_at=now,
            input=optional_string(started, "input"),
            scheduled_start_at=(
                from_timestamp(started.scheduledStartTimestamp)
                if started.HasField("scheduledStartTimestamp")
                else None
            ),
            generation=0 if previous is None else previous.generation + 1,
            tags=dict(started.tags) if started.tags else {},
            parent_instance_id=(
                started.parentInstance.orchestrationInstance.instanceId
                if started.HasField("parentInstance")
                else None
            ),
        )
        if previous is not None:
            inst.history = []
        inst.created_seq = next(self._sequence)
        if inst.messages or inst.held:
            drop_superseded_starts(inst, start_execution_id(start))
        self._deliver(start)
        self._changes.notify(start.instance_id)

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        """Queue each message on its instance (delayed ones on a timer). Messages for an
        unknown instance are kept until it exists or is purged, as a queue would keep them."""
        for message in messages:
            self._deliver(message)

    async def get_instance(self, instance_id: str, *, include_payloads: bool = True) -> InstanceState | None:
        """The instance row; without payloads input, output and custom status are None."""
        inst = self._instances.get(instance_id)
        if inst is None or inst.state is None:
            return None
        return inst.state if include_payloads else without_payloads(inst.state)

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """Instances ordered by id, filtered, one page; the token is the last id returned.

        The sorted id list is rebuilt only after instances were added or removed, so paging
        through a stable store sorts once and then costs one bisect per page.
        """
        if query.page_size < 1:
            raise InvalidArgumentError(f"page size must be at least 1, got {query.page_size}")
        ids = self._ordered_ids()
        prefix = query.instance_id_prefix or ""
        after = query.continuation_token
        index = bisect.bisect_left(ids, prefix)
        if after is not None:
            index = max(index, bisect.bisect_right(ids, after))
        page: list[InstanceState] = []
        more = False
        for instance_id in itertools.islice(ids, index, None):
            if not instance_id.startswith(prefix):
                break  # sorted: past the prefix's range
            state = self._instances[instance_id].state
            if state is None or not matches(state, query.statuses, query.created_from, query.created_to):
                continue
            if len(page) == query.page_size:
                more = True
                break
            page.append(state if query.include_payloads else without_payloads(state))
        return InstancePage(page, page[-1].instance_id if more else None)

    def _ordered_ids(self) -> list[str]:
        if self._sorted_ids is None:
            self._sorted_ids = sorted(iid for iid, inst in self._instances.items() if inst.state is not None)
        return self._sorted_ids

    async def get_history(self, instance_id: str) -> list[pb.HistoryEvent]:
        inst = self._instances.get(instance_id)
        return list(inst.history) if inst is not None else []

    async def purge_instance(self, instance_id: str) -> int:
        """Delete row, history and pending messages of one instance; 1 if it existed."""
        inst = self._instances.pop(instance_id, None)
        if inst is None:
            return 0
        if inst.state is not None:
            self._sorted_ids = None
        self._ready.discard(instance_id)
        self._changes.notify(instance_id)
        self._session_waits.notify(instance_id)
        return 1 if inst.state is not None else 0

    async def purge_instances(self, purge: PurgeFilter) -> int:
        """Delete every terminal instance matching the filter; returns how many."""
        doomed = [
            iid
            for iid, inst in self._instances.items()
            if inst.state is not None
            and inst.state.status.is_terminal
            and matches(inst.state, purge.statuses, purge.created_from, purge.created_to)
        ]
        for iid in doomed:
            await self.purge_instance(iid)
        return len(doomed)

    async def wait_for_instance(
        self,
        instance_id: str,
        condition: Callable[[InstanceState], bool],
        timeout: float | None,
        *,
        include_payloads: bool = True,
    ) -> InstanceState | None:
        """Wait, woken by each change of the instance, until it exists and ``condition``
        holds; None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            state = await self.get_instance(instance_id, include_payloads=include_payloads)
            if state is not None and condition(state):
                return state
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            await self._changes.wait(instance_id, remaining)

    # -- orchestration work ---------------------------------------------------------------
    async def lock_next_orchestration(self, timeout: float) -> OrchestrationWorkItem | None:
        """Lock the next ready instance and take all its queued messages."""
        return await self._ready.claim(timeout, self._lock_instance)

    def _lock_instance(self, instance_id: str) -> OrchestrationWorkItem | None:
        inst = self._instances.get(instance_id)
        if inst is None or inst.lock is not None or not inst.messages:
            return None
        return self._take_messages(instance_id, inst)

    def _take_messages(self, instance_id: str, inst: InstanceRecord) -> OrchestrationWorkItem | None:
        """Hand the instance's queued messages out under a new lock; None (and unlocked)
        when none of them is for its current execution."""
        messages = current_execution_only(inst)
        inst.messages.clear()
        dequeue_count = inst.redeliveries + 1
        inst.redeliveries = 0
        if not messages:
            inst.lock = None
            return None
        inst.lock = next(self._tokens)
        return OrchestrationWorkItem(
            instance_id=instance_id,
            state=inst.state,
            past_events=list(inst.history),
            past_events_wire=inst.history_wire.of(inst.history),
            new_messages=messages,
            lock=inst.lock,
            dequeue_count=dequeue_count,
        )

    async def complete_orchestration(
        self, item: OrchestrationWorkItem, checkpoint: OrchestrationCheckpoint, *, keep_session: bool = False
    ) -> OrchestrationWorkItem | None:
        """Apply the episode in contract order: outbound messages, history, row, unlock (or
        keep the lock as the instance's session)."""
        inst = self._locked_instance(item)
        for message in checkpoint.orchestrator_messages:
            self._deliver(message)
        for message in checkpoint.activity_messages:
            self._activities.put(message)
        if checkpoint.new_execution:
            inst.history = list(checkpoint.new_events)
        else:
            inst.history.extend(checkpoint.new_events)
        previous = inst.state
        state = checkpoint.state
        if previous is not None and state.generation != previous.generation:
            state = state.evolve(generation=previous.generation)
        inst.state = state
        session = None
        if keep_session:
            inst.lock = next(self._tokens)
            session = OrchestrationWorkItem.session(item.instance_id, state, inst.lock)
        else:
            self._unlock(item.instance_id, inst)
        self._changes.notify(item.instance_id)
        return session

    async def continue_session(self, session: OrchestrationWorkItem, timeout: float) -> OrchestrationWorkItem | None:
        """See the contract: messages queued behind the session's lock wake it at once."""
        inst = self._locked_instance(session)
        if not inst.messages and timeout > 0:
            await self._session_waits.wait(session.instance_id, timeout)
            inst = self._locked_instance(session)
        if inst.messages:
            item = self._take_messages(session.instance_id, inst)
            if item is not None:
                return item
        self._unlock(session.instance_id, inst)
        return None

    def _unlock(self, instance_id: str, inst: InstanceRecord) -> None:
        inst.lock = None
        if inst.messages:
            self._ready.put(instance_id)

    async def discard_orchestration(self, item: OrchestrationWorkItem) -> None:
        """See the contract: the messages are gone; an instance that is nothing but those
        messages is forgotten."""
        inst = self._locked_instance(item)
        self._unlock(item.instance_id, inst)
        if not inst.messages and inst.state is None and not inst.history and not inst.held:
            del self._instances[item.instance_id]

    async def abandon_orchestration(self, item: OrchestrationWorkItem, *, delay: float = 0.0) -> None:
        """See the contract: only the abandoned messages wait for ``delay`` (then they go back
        ahead of newer ones); the instance is unlocked at once, so messages that arrived
        during the lock or arrive meanwhile are offered as soon as they are due."""
        inst = self._locked_instance(item)
        if item.is_session:  # a session holds no messages: ending it only unlocks
            self._unlock(item.instance_id, inst)
            return
        inst.lock = None
        if delay > 0:
            batch = HeldBatch(item.new_messages, item.dequeue_count)
            inst.held.append(batch)
            self._call_later(delay, self._release_held, item.instance_id, inst, batch)
            if inst.messages:
                self._ready.put(item.instance_id)
        else:
            self._put_back(item.instance_id, inst, item.new_messages, item.dequeue_count)

    async def renew_orchestration(self, item: OrchestrationWorkItem) -> None:
        """Locks never expire here; this only checks the lock is still held."""
        self._locked_instance(item)

    # -- activity work ---------------------------------------------------------------------
    async def lock_next_activity(self, timeout: float) -> ActivityWorkItem | None:
        return await self._activities.lock_next(timeout)

    async def complete_activity(self, item: ActivityWorkItem, result: TaskMessage) -> None:
        self._activities.release(item)
        self._deliver(result)

    async def abandon_activity(self, item: ActivityWorkItem, *, delay: float = 0.0) -> None:
        message, count = self._activities.release(item)
        if delay > 0:
            self._call_later(delay, self._activities.put, message, count)
        else:
            self._activities.put(message, count, front=True)

    async def renew_activity(self, item: ActivityWorkItem) -> None:
        self._activities.check_held(item)

    # -- internals -------------------------------------------------------------------------
    def _deliver(self, message: TaskMessage) -> None:
        if message.visible_at is not None:
            delay = (message.visible_at - self.clock.now()).total_seconds()
            if delay > 0:
                self._call_later(delay, self._enqueue_due, message, next(self._sequence))
                return
        self._enqueue(message)

    def _enqueue_due(self, message: TaskMessage, sent_seq: int) -> None:
        if superseded_start(self._instances.get(message.instance_id), message, sent_seq):
            log.debug("dropping scheduled start of execution %s of %s: superseded by a later start",
                      start_execution_id(message), message.instance_id)
            return
        self._enqueue(message)

    def waiting_messages(self, instance_id: str) -> int:
        """How many messages are queued for ``instance_id`` (behind its lock, if locked)."""
        inst = self._instances.get(instance_id)
        return len(inst.messages) if inst is not None else 0

    def _enqueue(self, message: TaskMessage) -> None:
        inst = self._instances.get(message.instance_id)
        if inst is None:
            inst = self._instances[message.instance_id] = InstanceRecord()
        inst.messages.append(message)
        if inst.lock is None:
            self._ready.put(message.instance_id)
        else:
            self._session_waits.notify(message.instance_id)

    def _release_held(self, instance_id: str, inst: InstanceRecord, batch: HeldBatch) -> None:
        if self._instances.get(instance_id) is not inst:
            return  # purged meanwhile: the held messages went with the instance
        inst.held.remove(batch)
        self._put_back(instance_id, inst, batch.messages, batch.deliveries)

    def _put_back(self, instance_id: str, inst: InstanceRecord, messages: Sequence[TaskMessage], deliveries: int) -> None:
        """Queue handed-out messages again, ahead of those that arrived after them."""
        if not messages:
            return
        inst.messages.extendleft(reversed(messages))
        inst.redeliveries = max(inst.redeliveries, deliveries)
        if inst.lock is None:
            self._ready.put(instance_id, front=True)
        else:
            self._session_waits.notify(instance_id)

    def _locked_instance(self, item: OrchestrationWorkItem) -> InstanceRecord:
        inst = self._instances.get(item.instance_id)
        if inst is None or inst.lock is None or inst.lock != item.lock or not same_execution(inst, item):
            raise ConcurrencyConflictError(
                f"the lock on instance {item.instance_id!r} is no longer held (purged, completed or abandoned)"
            )
        return inst

    def _call_later(self, delay: float, callback: Callable[..., None], *args: object) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            callback(*args)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)
