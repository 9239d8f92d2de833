"""The contract every storage provider implements (in-memory, Azure Storage).

Providers are dumb about orchestration semantics: the sidecar decides what an episode
produced (``OrchestrationCheckpoint``); a provider stores it atomically enough that an
episode is applied once or not at all, and hands out work under locks.

All methods are coroutines: the host side runs on one asyncio loop.
"""
from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._proto import pb
from ..core.model import (
    InstancePage,
    InstanceQuery,
    InstanceState,
    OrchestrationCheckpoint,
    PurgeFilter,
    TaskMessage,
)
from ..core.status import OrchestrationStatus


@dataclass(slots=True, kw_only=True)
class OrchestrationWorkItem:
    """A locked batch of new messages for one instance, with its history so far.

    ``past_events_wire``, when the provider keeps it, is ``past_events`` encoded as
    OrchestratorRequest.pastEvents entries (see protocol.history_wire): the episode then
    sends the history to a worker as these bytes, or parses them once, instead of copying
    each event.
    ``lock`` is the provider's own token; only the provider reads it. ``new_messages`` come in
    no promised order (a start may follow messages sent after it). ``dequeue_count`` is how
    many times the batch's most-delivered message has been handed out, this time included
    (1: every message is new); each abandon counts as a delivery.
    """

    instance_id: str
    state: InstanceState | None
    past_events: list[pb.HistoryEvent]
    new_messages: list[TaskMessage]
    lock: object = None
    dequeue_count: int = 1
    past_events_wire: bytes | None = None
    #: An extended session waiting for messages (see ``complete_orchestration``).
    is_session: bool = False

    @classmethod
    def session(cls, instance_id: str, state: InstanceState | None, lock: object) -> "OrchestrationWorkItem":
        """The session ``complete_orchestration(keep_session=True)`` answers: no messages,
        the instance still locked by ``lock``."""
        return cls(instance_id=instance_id, state=state, past_events=[], new_messages=[], lock=lock, is_session=True)


@dataclass(slots=True, kw_only=True)
class ActivityWorkItem:
    """One locked activity invocation (a TaskScheduled message on the work-item queue)."""

    message: TaskMessage
    lock: object = None
    dequeue_count: int = 1

    @property
    def instance_id(self) -> str:
        return self.message.instance_id

    @property
    def task_id(self) -> int:
        return self.message.event.eventId

    @property
    def scheduled(self) -> pb.TaskScheduledEvent:
        return self.message.event.taskScheduled


class OrchestrationService(abc.ABC):
    """Storage-backed orchestration service (AzureStorageOrchestrationService's role)."""

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Begin background work (partition leases, pollers). Idempotent."""

    async def stop(self) -> None:
        """Release leases and stop background work. Idempotent."""

    @abc.abstractmethod
    async def create_task_hub(self, *, recreate: bool = False) -> None:
        """Create tables/queues/containers if missing (drop everything first if ``recreate``)."""

    @abc.abstractmethod
    async def delete_task_hub(self) -> None:
        """Delete every resource of the task hub."""

    # -- client operations ----------------------------------------------------------------
    @abc.abstractmethod
    async def create_instance(
        self, start: TaskMessage, dedupe_statuses: frozenset[OrchestrationStatus]
    ) -> None:
        """Create an instance from an ExecutionStarted message.

        Raises InstanceAlreadyExistsError when an instance with that id exists in one of
        ``dedupe_statuses``. Otherwise Generation = previous + 1 (or 0), the start message is
        enqueued (delayed to ``start.visible_at`` when set) and the instance row is written
        as Pending. A start of another execution of the same id sent before this create
        (e.g. one scheduled for later and not yet due) is never offered nor run, even once
        this execution has finished.
        """

    @abc.abstractmethod
    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        """Deliver events (raised events, terminate, suspend, resume...) to instances."""

    @abc.abstractmethod
    async def get_instance(self, instance_id: str, *, include_payloads: bool = True) -> InstanceState | None:
        """The instance row, or None."""

    @abc.abstractmethod
    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """One page of instances matching ``query`` (ordered by instance id)."""

    @abc.abstractmethod
    async def get_history(self, instance_id: str) -> list[pb.HistoryEvent]:
        """The current execution's history, oldest first (empty when unknown)."""

    @abc.abstractmethod
    async def purge_instance(self, instance_id: str) -> int:
        """Delete the instance's row, history and blobs; returns 1 or 0."""

    @abc.abstractmethod
    async def purge_instances(self, purge: PurgeFilter) -> int:
        """Delete every terminal instance matching ``purge``; returns how many."""

    async def wait_for_instance(
        self,
        instance_id: str,
        condition: Callable[[InstanceState], bool],
        timeout: float | None,
        *,
        include_payloads: bool = True,
    ) -> InstanceState | None:
        """Wait until the instance exists and ``condition`` holds; None on timeout.

        This default polls with backoff; providers that can be notified override it.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.01
        while True:
            state = await self.get_instance(instance_id, include_payloads=include_payloads)
            if state is not None and condition(state):
                return state
            if deadline is not None and loop.time() >= deadline:
                return None
            pause = delay if deadline is None else min(delay, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)
            delay = min(delay * 2, 1.0)

    # -- orchestration work ---------------------------------------------------------------
    @abc.abstractmethod
    async def lock_next_orchestration(self, timeout: float) -> OrchestrationWorkItem | None:
        """Lock the next instance with due messages; None if none came within ``timeout``.

        An instance is locked by one work item at a time; messages that arrive while it is
        locked wait for a later work item.
        """

    @abc.abstractmethod
    async def complete_orchestration(
        self, item: OrchestrationWorkItem, checkpoint: OrchestrationCheckpoint, *, keep_session: bool = False
    ) -> OrchestrationWorkItem | None:
        """Store the episode and release the lock. Raises ConcurrencyConflictError when the
        lock was lost or the history changed underneath (the episode is then not applied).

        With ``keep_session`` (extended sessions) the instance stays locked instead and the
        answer is its session: a work item without messages (``is_session``), holding the
        row and history just stored, for ``continue_session``. Abandoning or discarding a
        session item ends the session (nothing to put back). Without ``keep_session`` the
        answer is None.
        """

    @abc.abstractmethod
    async def continue_session(self, session: OrchestrationWorkItem, timeout: float) -> OrchestrationWorkItem | None:
        """The next work item of a session: the messages that reached its instance, within
        ``timeout`` seconds, with the lock kept (no other work item can take the instance
        meanwhile). None when none came in time (or all of them were dropped as another
        execution's): the session has then ended and the instance is unlocked, so later
        messages are offered as usual. ConcurrencyConflictError when the session was lost
        (the instance purged, the provider stopping or giving the instance's partition up).
        """

    @abc.abstractmethod
    async def abandon_orchestration(self, item: OrchestrationWorkItem, *, delay: float = 0.0) -> None:
        """Release the lock without applying anything; the item's messages come back after
        ``delay`` seconds (0: at once), each counted as delivered once more.

        Only these messages wait, not the instance: it is unlocked at once, and messages that
        arrived during the lock or arrive later (a new start, events, results) are offered as
        soon as they are due, in work items of their own whose ``dequeue_count`` counts only
        their own deliveries. Nothing orders the put-back messages against later ones: they
        may come back after later messages were consumed, or in one work item with them.
        A start put back here that a later ``create_instance`` of the same id superseded is
        never offered again (nor run) once it comes back.
        """

    @abc.abstractmethod
    async def discard_orchestration(self, item: OrchestrationWorkItem) -> None:
        """Consume the locked messages without storing anything and release the lock (what
        DurableTask.AzureStorage does with messages to an instance that does not exist)."""

    @abc.abstractmethod
    async def renew_orchestration(self, item: OrchestrationWorkItem) -> None:
        """Extend the lock of a long-running episode."""

    # -- activity work ---------------------------------------------------------------------
    @abc.abstractmethod
    async def lock_next_activity(self, timeout: float) -> ActivityWorkItem | None:
        """Lock the next activity message; None if none came within ``timeout``."""

    @abc.abstractmethod
    async def complete_activity(self, item: ActivityWorkItem, result: TaskMessage) -> None:
        """Send the TaskCompleted/TaskFailed ``result`` to the orchestration and delete the
        activity message."""

    @abc.abstractmethod
    async def abandon_activity(self, item: ActivityWorkItem, *, delay: float = 0.0) -> None:
        """Put the activity message back, visible again after ``delay``."""

    @abc.abstractmethod
    async def renew_activity(self, item: ActivityWorkItem) -> None:
        """Extend the lock (visibility timeout) of a long-running activity."""
