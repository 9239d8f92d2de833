"""Orchestration work items: lock an instance's buffered messages, checkpoint, abandon, renew.

Reads are skipped when this process stored the instance last (``InstanceCache``); every
write is ETag-guarded, so a stale read only costs a retry. Checkpoint order: outbound
messages, history batch with the sentinel, instance row, then the consumed messages deleted.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from ...core.clock import Clock
from ...core.errors import ConcurrencyConflictError
from ...core.model import InstanceState, OrchestrationCheckpoint
from ..service import OrchestrationWorkItem
from .instance_cache import CachedInstance, InstanceCache
from .message_queue import ReceivedMessage
from .sessions import SessionTable
from .tracking_store import HistorySnapshot, TrackingStore
from .row_repair import awaits_continuation, repaired_row
from .work_filter import select_messages, start_execution_id

log = logging.getLogger(__name__)
SendOutbound = Callable[[tuple[str, str | None]], Awaitable[None]]


@dataclass(slots=True, eq=False)
class OrchestrationLock:
    """The provider's lock token inside an OrchestrationWorkItem."""

    messages: list[ReceivedMessage]
    row_etag: str | None
    snapshot: HistorySnapshot
    new_execution: bool
    released: bool = False


class OrchestrationWork:
    """Hands out one work item per instance and stores what its episode produced."""

    def __init__(
        self,
        sessions: SessionTable,
        tracking: TrackingStore,
        clock: Clock,
        where: Callable[[str], AbstractContextManager[None]],
        notify: Callable[[str, InstanceState | None], None],
    ) -> None:
        self._sessions = sessions
        self._tracking = tracking
        self._clock = clock
        self._where = where
        self._notify = notify
        self._locks: dict[str, OrchestrationLock] = {}
        self.cache = InstanceCache()

    def clear(self) -> None:
        """Forget locks, buffered messages and cached state (stopping, hub deleted)."""
        self._sessions.drop_all()
        self._locks.clear()
        self.cache.clear()

    async def lock_next(self, timeout: float) -> OrchestrationWorkItem | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            taken = await self._sessions.take(max(0.0, deadline - loop.time()))
            if taken is None:
                return None
            instance_id, messages = taken
            try:
                item = await self._open(instance_id, messages)
            except Exception:
                self._sessions.release(instance_id)
                await self._release_messages_after_failure(messages)
                raise
            if item is not None:
                return item
            self._sessions.release(instance_id)

    async def _open(self, instance_id: str, messages: list[ReceivedMessage]) -> OrchestrationWorkItem | None:
        with self._where(f"loading instance {instance_id!r}"):
            cached = self.cache.take(instance_id)
            if cached is not None:
                state, etag, snapshot = cached.state, cached.row_etag, cached.snapshot
                selection = select_messages(messages, state, snapshot.execution_id, snapshot.events)
                if selection.dropped or selection.deferred or _starts_other_execution(messages, state):
                    cached = None  # never drop, defer or restart on cached knowledge: check afresh
            if cached is None:
                (state, etag), snapshot = await asyncio.gather(
                    self._tracking.fetch_instance(instance_id), self._tracking.load_history(instance_id)
                )
                # Before anything else: the messages that would otherwise rewrite the row are
                # duplicates of the history now, and whatever runs next must see the real state.
                state, etag = await self._repair_row_if_behind(instance_id, state, etag, snapshot, messages)
                if awaits_continuation(state, snapshot.execution_id, snapshot.events):
                    await self._await_continuation(instance_id, messages, snapshot.execution_id)
                    return None
                selection = select_messages(messages, state, snapshot.execution_id, snapshot.events, snapshot.refused)
            for message, reason in selection.dropped:
                log.warning("dropping message %s for %r: %s", message.message_id, instance_id, reason)
            await asyncio.gather(*(m.queue.delete(m) for m, _ in selection.dropped))
            for message, reason in selection.deferred:
                log.info("deferring start message %s for %r: %s", message.message_id, instance_id, reason)
                await self._defer(message)
            if not selection.runnable:
                return None
        lock = OrchestrationLock(selection.runnable, etag, snapshot, selection.new_execution)
        self._locks[instance_id] = lock
        return OrchestrationWorkItem(
            instance_id=instance_id,
            state=state,
            past_events=[] if selection.new_execution else list(snapshot.events),
            past_events_wire=b"" if selection.new_execution else snapshot.wire.of(snapshot.events),
            new_messages=[m.task_message for m in selection.runnable],
            lock=lock,
            dequeue_count=max(m.dequeue_count for m in selection.runnable),
        )

    async def _defer(self, message: ReceivedMessage) -> None:
        try:
            await message.queue.hide(message, abandon_backoff(message.dequeue_count))
        except ConcurrencyConflictError:
            log.debug("deferred message %s is gone (deleted meanwhile, e.g. by its start)", message.message_id)

    async def _repair_row_if_behind(
        self,
        instance_id: str,
        state: InstanceState | None,
        etag: str | None,
        snapshot: HistorySnapshot,
        messages: Sequence[ReceivedMessage],
    ) -> tuple[InstanceState | None, str | None]:
        """A checkpoint stored its history but not the row (it died, or storage failed in
        between): bring the row up to date (``row_repair``). Returns the row (and ETag) the
        episode goes on with."""
        starts = [m.task_message for m in messages if m.task_message.event.HasField("executionStarted")]
        repair = repaired_row(state, snapshot.execution_id, snapshot.events, starts, self._clock.now())
        if repair is None:
            return state, etag
        try:
            new_etag = await self._tracking.write_instance(repair.state, etag)
        except ConcurrencyConflictError:
            # Someone wrote the row meanwhile; the episode's own ETag-guarded write will
            # conflict too, and its messages come back to a fresh read.
            log.info("instance %r: row changed while being repaired; leaving the newer row", instance_id)
            return state, etag
        log.warning(
            "instance %r: row was behind its history (%s); repaired to %s of execution %s",
            instance_id, repair.reason, repair.state.status.durable_name, repair.state.execution_id,
        )
        self._notify(instance_id, repair.state)
        return repair.state, new_etag

    async def _await_continuation(
        self, instance_id: str, messages: Sequence[ReceivedMessage], execution_id: str | None
    ) -> None:
        """The history has moved on to a new execution whose start message is not in this
        batch: hide the batch until that start (already sent) moves the row along."""
        log.warning(
            "instance %r: the history names execution %s, the row an older one; deferring %d messages "
            "until the start of %s arrives",
            instance_id, execution_id, len(messages), execution_id,
        )
        await asyncio.gather(*(self._defer(m) for m in messages))

    def _held(self, item: OrchestrationWorkItem) -> OrchestrationLock:
        lock = item.lock
        if not isinstance(lock, OrchestrationLock) or lock.released or self._locks.get(item.instance_id) is not lock:
            raise ConcurrencyConflictError(f"the lock on instance {item.instance_id!r} is no longer held")
        return lock

    def _release(self, item: OrchestrationWorkItem, lock: OrchestrationLock) -> None:
        lock.released = True
        if self._locks.get(item.instance_id) is lock:
            del self._locks[item.instance_id]
        self._sessions.release(item.instance_id)

    async def complete(
        self,
        item: OrchestrationWorkItem,
        checkpoint: OrchestrationCheckpoint,
        send_outbound: SendOutbound,
        *,
        keep_session: bool = False,
    ) -> OrchestrationWorkItem | None:
        """Store the episode; with ``keep_session`` the instance stays locked and its
        session comes back (see OrchestrationService.complete_orchestration)."""
        lock = self._held(item)
        state = _with_stored_generation(checkpoint.state, item, lock)
        if _changes_nothing(checkpoint, state, item, lock):
            # Messages that change nothing (a dispatcher discarding them): only consume them.
            self.cache.put(item.instance_id, CachedInstance(item.state, lock.row_etag, lock.snapshot))
            return await self._consume(item, lock, item.state, lock.row_etag, keep_session=keep_session)
        try:
            with self._where(f"checkpointing {item.instance_id!r}"):
                await send_outbound((state.instance_id, state.execution_id))
                await self._tracking.append_history(
                    item.instance_id,
                    state.execution_id,
                    checkpoint.new_events,
                    lock.snapshot,
                    self._clock.now(),
                    replace=checkpoint.new_execution or lock.new_execution,
                )
                row_etag = await self._write_row_after_history(state, lock.row_etag)
        except Exception:
            # Conflict or storage failure: nothing more of this episode is applied; the
            # messages come back at once and the next episode reads fresh state.
            self.cache.forget(item.instance_id)
            self._release(item, lock)
            await self._release_messages_after_failure(lock.messages)
            raise
        self.cache.put(item.instance_id, CachedInstance(state, row_etag, lock.snapshot))
        session = await self._consume(item, lock, state, row_etag, keep_session=keep_session)
        self._notify(item.instance_id, state)
        return session

    async def continue_session(self, session: OrchestrationWorkItem, timeout: float) -> OrchestrationWorkItem | None:
        """The session's next work item from messages buffered for its instance (the lock
        never left it), or None once the session ended."""
        lock = self._held(session)
        messages = await self._sessions.wait_for_messages(session.instance_id, timeout)
        try:
            self._held(session)
        except ConcurrencyConflictError:
            # Locks forgotten meanwhile (stopping, the task hub deleted): the instance must
            # not stay locked in the session table for whatever comes next.
            self._sessions.release(session.instance_id)
            raise
        # The next item's own lock replaces the session's; without one the session ends here.
        lock.released = True
        del self._locks[session.instance_id]
        item = None
        try:
            if messages:
                item = await self._open(session.instance_id, messages)
        except BaseException:  # a stop cancelling it must not leave the messages locked
            await self._release_messages_after_failure(messages)
            raise
        finally:
            if item is None:
                self._sessions.release(session.instance_id)
        return item

    async def _write_row_after_history(self, state: InstanceState, etag: str | None) -> str | None:
        """Write the row; if it changed only because a start (from any process) wrote it for
        this very execution, write again over the fresh row: the history already holds the
        episode and the row must follow it."""
        try:
            return await self._tracking.write_instance(state, etag)
        except ConcurrencyConflictError:
            current, fresh_etag = await self._tracking.fetch_instance(state.instance_id, include_payloads=False)
            if current is None or current.execution_id != state.execution_id:
                raise
            return await self._tracking.write_instance(state.evolve(generation=current.generation), fresh_etag)

    async def discard(self, item: OrchestrationWorkItem) -> None:
        lock = self._held(item)
        await self._consume(item, lock, item.state, lock.row_etag)

    async def _consume(
        self,
        item: OrchestrationWorkItem,
        lock: OrchestrationLock,
        state: InstanceState | None,
        row_etag: str | None,
        *,
        keep_session: bool = False,
    ) -> OrchestrationWorkItem | None:
        """Release the instance (or hand its lock on to a session), then delete the messages
        the lock held (after the release, so the next episode need not wait for the deletes)."""
        session = None
        if keep_session:
            lock.released = True
            held = OrchestrationLock([], row_etag, lock.snapshot, new_execution=False)
            self._locks[item.instance_id] = held
            session = OrchestrationWorkItem.session(item.instance_id, state, held)
        else:
            self._release(item, lock)
        try:
            with self._where(f"deleting the messages {item.instance_id!r} consumed"):
                await asyncio.gather(*(m.queue.delete(m) for m in lock.messages))
        except BaseException:
            if session is not None:  # nobody will continue or end a session not handed out
                self._release(session, held)
            raise
        return session

    async def abandon(self, item: OrchestrationWorkItem, delay: float) -> None:
        lock = self._held(item)
        self.cache.put(item.instance_id, CachedInstance(item.state, lock.row_etag, lock.snapshot))
        self._release(item, lock)
        await self._hide_all(lock.messages, delay, deliberate=True)

    async def renew(self, item: OrchestrationWorkItem, visibility_timeout: float) -> None:
        await self._hide_all(self._held(item).messages, visibility_timeout)

    async def _hide_all(self, messages: Sequence[ReceivedMessage], seconds: float, *, deliberate: bool = False) -> None:
        with self._where("releasing messages"):
            await asyncio.gather(*(m.queue.hide(m, seconds, deliberate=deliberate) for m in messages))

    async def _release_messages_after_failure(self, messages: Sequence[ReceivedMessage]) -> None:
        try:
            await self._hide_all(messages, 0)
        except Exception:
            log.exception("could not release %d messages; they reappear after their visibility timeout", len(messages))


def abandon_backoff(dequeue_count: int) -> float:
    """DurableTask.AzureStorage's abandon delay: min(2^dequeueCount, 600) seconds."""
    return float(min(2 ** min(dequeue_count, 10), 600))


def _with_stored_generation(state: InstanceState, item: OrchestrationWorkItem, lock: OrchestrationLock) -> InstanceState:
    """Generation is the provider's: kept across episodes and continue-as-new, previous + 1
    when a start replaces an older execution's row."""
    if item.state is None:
        return state
    generation = item.state.generation
    if lock.new_execution and item.state.execution_id != state.execution_id:
        generation += 1
    return state if state.generation == generation else state.evolve(generation=generation)


def _starts_other_execution(messages: Sequence[ReceivedMessage], state: InstanceState | None) -> bool:
    return any(
        m.task_message.event.HasField("executionStarted")
        and (state is None or start_execution_id(m.task_message) != state.execution_id)
        for m in messages
    )


def _changes_nothing(
    checkpoint: OrchestrationCheckpoint, state: InstanceState, item: OrchestrationWorkItem, lock: OrchestrationLock
) -> bool:
    return (
        not checkpoint.new_events
        and not checkpoint.new_execution
        and not lock.new_execution
        and not checkpoint.activity_messages
        and not checkpoint.orchestrator_messages
        and item.state is not None
        and state == item.state
    )
