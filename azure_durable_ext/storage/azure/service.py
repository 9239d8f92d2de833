"""AzureStorageOrchestrationService: the provider contract on Azure Storage (or Azurite).

Layout and message formats are DurableTask.AzureStorage's (``names``, ``message_codec``,
``history_codec``, ``instance_codec``), so its tools can read a hub this package wrote.

Storage round trips (``counter`` counts them by kind):

- start of a new instance id: one queue send + one row insert. The row is read only when
  the insert finds one (dedupe, Generation), and a refused start deletes its message again
  (or, when a poller holds it already, leaves a refusal note in the history partition).
- episode: control messages are received 32 at a time per partition and grouped per
  instance; the row and history are read (2) unless this process stored them last
  (``InstanceCache``); the checkpoint is the outbound sends, one history batch per 99 rows
  with the ETag-guarded sentinel, one row replace, one delete per consumed message.
- activity: received 8 at a time; completion is one send + one delete.

Robustness rules, each in its own module: which messages an episode may see, including
start messages whose row is missing or newer (``work_filter``); poison messages moved to
``{Hub}Poison`` and their instance failed (``poison``); polling backoff cut short by local
enqueues (``polling``). ``abandon_*`` with ``delay=0`` makes the work visible at once; pass
``abandon_backoff(dequeue_count)`` for DurableTask.AzureStorage's min(2^n, 600) s. Abandons
are deliberate and recorded in the message, so they never make it poison.

This process polls the control queues of ``owned_partitions`` (once it has asked for
orchestration work: until then the messages stay in storage): all of them until ``start``,
which (with ``useTablePartitionManagement``, the default) starts a ``TablePartitionManager``
that decides through :meth:`set_owned_partitions` and :meth:`drain_partition`, so several
processes share the hub; ``stop`` hands its partitions over.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from collections.abc import Callable, Sequence

from ..._proto import pb
from ...config import HostConfig
from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.errors import ConcurrencyConflictError, InstanceAlreadyExistsError, InvalidArgumentError
from ...core.model import InstancePage, InstanceQuery, InstanceState, OrchestrationCheckpoint, PurgeFilter, TaskMessage
from ...core.options import AzureStorageOptions
from ...core.status import TERMINAL_STATES, OrchestrationStatus
from ..service import ActivityWorkItem, OrchestrationService, OrchestrationWorkItem
from .activity_queue import ActivityQueue
from .connection import StorageAccount, parse_connection_string
from .control_queue import ControlQueue
from .hub_resources import HubResources
from .instance_start import pending_state, settle_failed_start, write_pending_row
from .large_messages import MessageManager
from .message_codec import MessageData
from .message_queue import MessageQueue, ReceivedMessage, gather_sends
from .names import TaskHubNames
from .operations import StorageOperationCounter, unavailable_as
from .poison import PoisonMessageHandler
from .orchestration_work import OrchestrationWork
from .partition_manager import TablePartitionManager
from .sessions import SessionTable
from .instance_cache import CachedInstance
from .tracking_store import HistorySnapshot, TrackingStore

log = logging.getLogger(__name__)


class AzureStorageOrchestrationService(OrchestrationService):
    """Orchestration service on Azure Storage tables, queues and blobs."""

    def __init__(
        self,
        account: StorageAccount,
        *,
        hub_name: str = "TestHubName",
        options: AzureStorageOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        counter: StorageOperationCounter | None = None,
    ) -> None:
        self.options = options or AzureStorageOptions()
        self.names = TaskHubNames(hub_name, self.options.partition_count)
        self.clock = clock
        self.counter = counter or StorageOperationCounter()
        self._account = account
        self._parts: _HubParts | None = None
        self._hub_ready = False
        self._hub_lock = asyncio.Lock()
        self._sessions = SessionTable()
        self.owned_partitions: frozenset[int] = frozenset(range(self.options.partition_count))
        self._pollers: dict[int, ControlQueue] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self.partition_manager: TablePartitionManager | None = None

    @classmethod
    def from_config(
        cls, config: HostConfig, *, hub_name: str | None = None, clock: Clock | None = None
    ) -> "AzureStorageOrchestrationService":
        """Build from host.json + app settings; the connection comes from the app setting named
        by storageProvider.connectionName (default AzureWebJobsStorage)."""
        storage = config.durable.storage
        account = parse_connection_string(config.storage_connection_string, storage.connection_name)
        return cls(account, hub_name=hub_name or config.durable.hub_name, options=storage, clock=clock or SYSTEM_CLOCK)

    # -- wiring ----------------------------------------------------------------------------
    @property
    def _hub(self) -> "_HubParts":
        """The hub's clients and stores, built on first use (and again after ``stop``)."""
        if self._parts is None:
            self._parts = _HubParts.build(self)
        return self._parts

    async def _ready(self) -> "_HubParts":
        """The hub's parts, its resources created once per process (as the .NET client does)."""
        hub = self._hub
        if not self._hub_ready:
            async with self._hub_lock:
                if not self._hub_ready:
                    await hub.resources.create()
                    self._hub_ready = True
        return hub

    def _where(self, what: str) -> AbstractContextManager[None]:
        return unavailable_as(self._account.setting_name, what)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the hub if needed and start polling: the partitions this process wins
        leases for, or all of them when table partition management is off. Leases are
        claimed once this process asks for orchestration work (its first
        ``lock_next_orchestration``, at once if that came before ``start``): a client-only
        process takes no partitions from the processes that run orchestrations."""
        hub = await self._ready()
        if not self.options.use_table_partition_management:
            log.info(
                "task hub %s: useTablePartitionManagement is false: this process polls all %d "
                "partitions (run one host per task hub)", self.names.hub, self.options.partition_count,
            )
        elif self.partition_manager is None:
            await self.set_owned_partitions(frozenset())
            manager = self.partition_manager = TablePartitionManager(
                hub.resources.partitions,
                self.names.control_queues,
                self,
                self.options.partition_leases,
                clock=self.clock,
                counter=self.counter,
                setting_name=self._account.setting_name,
            )
            if self._sessions.consumed.is_set():
                try:
                    await manager.start()
                except Exception:
                    self.partition_manager = None
                    raise
                log.info("task hub %s: worker %s owns partitions %s", self.names.hub,
                         manager.worker_id, sorted(self.owned_partitions))
            else:
                manager.start_when(self._sessions.consumed)
                log.info("task hub %s: worker %s claims partitions once this process asks for "
                         "orchestration work", self.names.hub, manager.worker_id)
        for p in sorted(self.owned_partitions):
            self._poller(p).start()

    def _poller(self, partition: int) -> ControlQueue:
        poller = self._pollers.get(partition)
        if poller is None:
            poller = self._pollers[partition] = ControlQueue(
                partition, self._hub.control[partition], self._sessions, self.options, self._hub.poison, self.clock
            )
        return poller

    async def set_owned_partitions(self, partitions: frozenset[int]) -> None:
        """Poll exactly these control queues from now on (a partition manager's decision)."""
        gained = frozenset(partitions) - self.owned_partitions
        self.owned_partitions = frozenset(partitions)
        if self._parts is not None:
            # Another process may run those instances now, or ran them until now (instances
            # this one started there are cached with the history they had at start): what
            # this one cached about them is stale.
            self._parts.work.cache.forget_where(
                lambda iid: (p := self.names.partition_of(iid)) not in partitions or p in gained
            )
        for p, poller in list(self._pollers.items()):
            if p not in partitions:
                await poller.stop()
                del self._pollers[p]
        if self._hub_ready:
            for p in partitions:
                self._poller(p).start()

    async def drain_partition(self, partition: int) -> None:
        """Give up ``partition`` locally: stop its poller, put its buffered messages back on
        the queue at once (for the next owner), and wait until its locked episodes end."""
        poller = self._pollers.pop(partition, None)
        if poller is not None:
            await poller.stop()
        parts = self._parts
        if parts is None:
            return

        def belongs(instance_id: str) -> bool:
            return self.names.partition_of(instance_id) == partition

        dropped = self._sessions.drop_where(belongs)
        self._sessions.end_sessions(belongs)
        # Deliberate put-backs: a hand-over must never count towards making a message poison.
        results = await asyncio.gather(*(m.queue.hide(m, 0, deliberate=True) for m in dropped), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for error in failed:
            if not isinstance(error, Exception):
                raise error
        if failed:
            log.warning(
                "partition %d: %d of %d buffered messages could not be put back (%s); they "
                "reappear after their visibility timeout", partition, len(failed), len(dropped), failed[0],
            )
        while self._sessions.any_locked(belongs):
            await asyncio.sleep(0.05)
        parts.work.cache.forget_where(belongs)

    async def stop(self) -> None:
        manager, self.partition_manager = self.partition_manager, None
        if manager is not None:
            await manager.stop()  # drains and hands over while the clients are still open
        for poller in self._pollers.values():
            await poller.stop()
        self._pollers.clear()
        parts, self._parts = self._parts, None
        if parts is not None:
            parts.work.clear()
            await parts.resources.close()
        self._hub_ready = False

    async def create_task_hub(self, *, recreate: bool = False) -> None:
        if recreate:
            await self.delete_task_hub()
        await self._hub.resources.create()
        self._hub_ready = True

    async def delete_task_hub(self) -> None:
        manager, self.partition_manager = self.partition_manager, None
        if manager is not None:
            await manager.halt()  # its table is going away: nothing to hand over
        for poller in self._pollers.values():
            await poller.stop()
        self._pollers.clear()
        hub = self._hub
        hub.work.clear()
        await hub.resources.delete()
        self._hub_ready = False

    # -- client operations ----------------------------------------------------------------
    async def create_instance(self, start: TaskMessage, dedupe_statuses: frozenset[OrchestrationStatus]) -> None:
        """The documented create (enqueue the start, then write the row as Pending), with the
        read moved after the first write: a new instance id costs one queue send and one row
        insert. Only when the row exists is it read, for dedupe and Generation, and the start
        message deleted again if the start is refused. ``work_filter`` decides what a poller
        does with a start message whose row is not written yet (or never will be).
        """
        if start.event.WhichOneof("eventType") != "executionStarted":
            raise InvalidArgumentError("create_instance needs an executionStarted message")
        await self._ready()
        self._hub.work.cache.forget(start.instance_id)
        state = pending_state(start, self.clock.now())
        queue = self._hub.control[self.names.partition_of(start.instance_id)]
        with self._where(f"starting instance {start.instance_id!r}"):
            sent = await queue.send(
                MessageData(message=start), visible_at=start.visible_at or state.scheduled_start_at, now=self.clock.now()
            )
            try:
                inserted_etag = await write_pending_row(self._hub.tracking, state, dedupe_statuses)
            except (InstanceAlreadyExistsError, ConcurrencyConflictError):
                if not await queue.delete(sent):
                    # A poller holds the message already: leave it a note not to run it.
                    await self._hub.tracking.record_refused_start(start.instance_id, state.execution_id)
                raise
            except Exception as error:
                if not await settle_failed_start(self._hub.tracking, queue, sent, state, error):
                    raise
                inserted_etag = None
            except BaseException:
                # Cancelled: the row write may have been applied, so the message stays (see
                # settle_failed_start for what becomes of it).
                log.warning("instance %r: start cancelled; leaving start message %s on %s",
                            start.instance_id, sent.message_id, queue.name)
                raise
        if inserted_etag is not None and not self._sessions.is_locked(start.instance_id):
            # A brand-new instance: its first episode in this process needs no reads (unless
            # a poller already took the start: then its episode's entry must win).
            self._hub.work.cache.put_if_absent(start.instance_id, CachedInstance(state, inserted_etag, HistorySnapshot()))
        self._local_enqueue(start.instance_id)
        self._notify(start.instance_id)

    async def send_messages(self, messages: Sequence[TaskMessage]) -> None:
        await self._ready()
        with self._where("sending messages"):
            await self._send_to_instances(messages, sender=None)

    async def _send_to_instances(
        self, messages: Sequence[TaskMessage], sender: tuple[str, str | None] | None
    ) -> None:
        """Send to the instances' control queues. A message due now for an instance of a
        partition this process polls goes straight into its sessions instead, sent already
        locked (``MessageQueue.send_locked``): the poller need not receive it. Starts are
        left to the pollers: their row is written after the message (see create_instance)."""
        now = self.clock.now()
        locked, sends, polled = [], [], []
        for message in messages:
            data = MessageData(message=message)
            if sender is not None:
                data.sender_instance_id, data.sender_execution_id = sender
            partition = self.names.partition_of(message.instance_id)
            queue = self._hub.control[partition]
            if self._runs_here(message, partition):
                locked.append(queue.send_locked(data, self.options.control_queue_visibility_timeout))
            else:
                sends.append(queue.send(data, visible_at=message.visible_at, now=now))
                polled.append(message.instance_id)
        handed, failure = await gather_sends(locked, sends)
        for received in handed:
            await self._hand_over(received)
        for instance_id in polled:
            self._local_enqueue(instance_id)
        if failure is not None:
            raise failure

    def _runs_here(self, message: TaskMessage, partition: int) -> bool:
        return (
            message.visible_at is None
            and partition in self._pollers
            and self._sessions.consumed.is_set()
            and self._sessions.pending_count < self.options.control_queue_buffer_threshold
            and message.event.WhichOneof("eventType") != "executionStarted"
        )

    async def _hand_over(self, message: ReceivedMessage) -> None:
        """Buffer a message sent locked, or release it at once if its partition went to
        another process meanwhile (``drain_partition`` stops the poller first, then drops
        what is buffered: checked and added in one step, nothing slips between)."""
        task = message.task_message
        if self.names.partition_of(task.instance_id) in self._pollers:
            self._sessions.add(task.instance_id, message)
            return
        try:
            await message.queue.release_unhanded(message)
        except Exception as exc:  # noqa: BLE001 - it reappears when its lock runs out
            log.warning("message %s for %r sent locked could not be released (%s); it reappears "
                        "after its lock runs out", message.message_id, task.instance_id, exc)

    def _local_enqueue(self, instance_id: str) -> None:
        poller = self._pollers.get(self.names.partition_of(instance_id))
        if poller is not None:
            poller.backoff.wake()

    async def get_instance(self, instance_id: str, *, include_payloads: bool = True) -> InstanceState | None:
        await self._ready()
        with self._where(f"reading instance {instance_id!r}"):
            state, _ = await self._hub.tracking.fetch_instance(instance_id, include_payloads=include_payloads)
        return state

    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        await self._ready()
        with self._where("querying instances"):
            return await self._hub.tracking.query_instances(query)

    async def get_history(self, instance_id: str) -> list[pb.HistoryEvent]:
        """The history of the execution the instance row names (empty when unknown)."""
        await self._ready()
        with self._where(f"reading the history of {instance_id!r}"):
            (state, _), snapshot = await asyncio.gather(
                self._hub.tracking.fetch_instance(instance_id, include_payloads=False),
                self._hub.tracking.load_history(instance_id),
            )
        if state is None or snapshot.execution_id != state.execution_id:
            return []
        return snapshot.events

    async def purge_instance(self, instance_id: str) -> int:
        await self._ready()
        self._hub.work.cache.forget(instance_id)
        with self._where(f"purging {instance_id!r}"):
            state, _ = await self._hub.tracking.fetch_instance(instance_id, include_payloads=False)
            await self._hub.tracking.delete_history(instance_id)
            await self._hub.blobs.delete_instance_blobs(instance_id)
            if state is None:
                return 0
            await self._hub.tracking.delete_instance_row(instance_id)
        self._notify(instance_id)
        return 1

    async def purge_instances(self, purge: PurgeFilter) -> int:
        await self._ready()
        statuses = (purge.statuses & TERMINAL_STATES) if purge.statuses else TERMINAL_STATES
        if not statuses:
            return 0
        with self._where("purging instances"):
            ids = await self._hub.tracking.instance_ids_matching(statuses, purge.created_from, purge.created_to)
        count = 0
        for instance_id in ids:
            count += await self.purge_instance(instance_id)
        return count

    async def wait_for_instance(
        self,
        instance_id: str,
        condition: Callable[[InstanceState], bool],
        timeout: float | None,
        *,
        include_payloads: bool = True,
    ) -> InstanceState | None:
        """Poll the row with backoff; changes made by this process wake the wait at once.
        A checkpoint of this process tells the state it wrote: when that state does not
        meet ``condition`` the row is not read again (one read per wait, not per episode)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.05
        known: InstanceState | None = None
        while True:
            event = self._changed.setdefault(instance_id, asyncio.Event())
            remaining = None if deadline is None else deadline - loop.time()
            expired = remaining is not None and remaining <= 0
            if known is None or condition(known) or expired:
                state = await self.get_instance(instance_id, include_payloads=include_payloads)
                remaining = None if deadline is None else deadline - loop.time()
                if (state is not None and condition(state)) or (remaining is not None and remaining <= 0):
                    if self._changed.get(instance_id) is event and not event.is_set():
                        del self._changed[instance_id]  # other waiters re-arm after their pause
                    return state if state is not None and condition(state) else None
            pause = delay if remaining is None else min(delay, remaining)
            known = None
            try:
                await asyncio.wait_for(event.wait(), pause)
                known = getattr(event, "written_state", None)
            except asyncio.TimeoutError:
                delay = min(delay * 2, 2.0)

    def _notify(self, instance_id: str, written: InstanceState | None = None) -> None:
        """Wake waiters on ``instance_id``; ``written``: the row this process just stored."""
        event = self._changed.pop(instance_id, None)
        if event is not None:
            event.written_state = written  # type: ignore[attr-defined]
            event.set()

    # -- orchestration work (see orchestration_work.py) -----------------------------------
    async def lock_next_orchestration(self, timeout: float) -> OrchestrationWorkItem | None:
        """Lock the next instance with buffered control messages (history loaded)."""
        await self._ready()
        for p in self.owned_partitions:
            self._poller(p).start()
        return await self._hub.work.lock_next(timeout)

    async def complete_orchestration(
        self, item: OrchestrationWorkItem, checkpoint: OrchestrationCheckpoint, *, keep_session: bool = False
    ) -> OrchestrationWorkItem | None:
        """Checkpoint in order: outbound messages, history (+ sentinel), instance row, deletes."""

        async def send_outbound(sender: tuple[str, str | None]) -> None:
            await asyncio.gather(
                self._send_to_instances(checkpoint.orchestrator_messages, sender=sender),
                self._hub.activities.send_all(checkpoint.activity_messages),
            )

        return await self._hub.work.complete(item, checkpoint, send_outbound, keep_session=keep_session)

    async def continue_session(self, session: OrchestrationWorkItem, timeout: float) -> OrchestrationWorkItem | None:
        """Messages for the session's instance are buffered behind its lock by the control
        queue pollers; the next episode needs no read (the instance cache holds what the
        previous one stored)."""
        return await self._hub.work.continue_session(session, timeout)

    async def abandon_orchestration(self, item: OrchestrationWorkItem, *, delay: float = 0.0) -> None:
        """Messages become visible again after ``delay`` seconds (0: at once)."""
        await self._hub.work.abandon(item, delay)
        self._local_enqueue(item.instance_id)

    async def discard_orchestration(self, item: OrchestrationWorkItem) -> None:
        """Delete the locked messages and release the instance."""
        await self._hub.work.discard(item)

    async def renew_orchestration(self, item: OrchestrationWorkItem) -> None:
        await self._hub.work.renew(item, self.options.control_queue_visibility_timeout)

    # -- activity work ---------------------------------------------------------------------
    async def lock_next_activity(self, timeout: float) -> ActivityWorkItem | None:
        await self._ready()
        with self._where("receiving activity work"):
            return await self._hub.activities.lock_next(timeout)

    async def complete_activity(self, item: ActivityWorkItem, result: TaskMessage) -> None:
        """Send the result to the orchestration's control queue, then delete the work item."""
        received = self._hub.activities.held(item)
        with self._where("completing an activity"):
            await self._send_to_instances([result], sender=None)
            await self._hub.activities.finish(item, received)

    async def abandon_activity(self, item: ActivityWorkItem, *, delay: float = 0.0) -> None:
        """Visible again after ``delay`` seconds (0: at once); see ``abandon_backoff`` for a
        dequeue-count based delay."""
        with self._where("abandoning an activity"):
            await self._hub.activities.abandon(item, delay)

    async def renew_activity(self, item: ActivityWorkItem) -> None:
        with self._where("renewing an activity lock"):
            await self._hub.activities.renew(item)




@dataclass(frozen=True, slots=True)
class _HubParts:
    """Everything built on the hub's SDK clients, wired once per service lifetime."""

    resources: HubResources
    blobs: MessageManager
    tracking: TrackingStore
    control: list[MessageQueue]
    poison: PoisonMessageHandler
    work: OrchestrationWork
    activities: ActivityQueue

    @classmethod
    def build(cls, service: AzureStorageOrchestrationService) -> "_HubParts":
        counter, clock = service.counter, service.clock
        resources = HubResources(service._account, service.names, counter)
        blobs = MessageManager(resources.large_messages, counter)
        tracking = TrackingStore(resources.instances, resources.history, blobs, counter, service.names.hub)
        poison = PoisonMessageHandler(resources.poison, tracking, blobs, counter, clock)
        return cls(
            resources=resources,
            blobs=blobs,
            tracking=tracking,
            control=[MessageQueue(q, blobs, counter) for q in resources.control_queues],
            poison=poison,
            work=OrchestrationWork(service._sessions, tracking, clock, service._where, service._notify),
            activities=ActivityQueue(MessageQueue(resources.work_items, blobs, counter), service.options, poison, clock),
        )
