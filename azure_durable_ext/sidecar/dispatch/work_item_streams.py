"""Workers connected through GetWorkItems, and the work handed to them.

Rules:

- A worker's capacity is the ``maxConcurrentOrchestrationWorkItems`` /
  ``maxConcurrentActivityWorkItems`` of its GetWorkItemsRequest (0 = unlimited). Work goes
  to the matching worker with the most free capacity; when every matching worker is busy the
  dispatcher waits for one to free up.
- Work-item filters: with ``workItemFilters`` in the request, a worker receives only work
  whose name is listed (names compare case-insensitively) and, when the filter lists
  versions, whose version is one of them. Without filters it receives everything. Work no
  connected worker matches is not sent anywhere (``can_run`` is False).
- Every work item carries a fresh, unique ``completionToken``. Complete*/Abandon* calls
  must echo it; a token that is unknown, already used, or of the other work kind is ignored
  and logged, never applied.
- A silent stream counts as dead on the worker side after 120 s: a ``healthPing`` work item
  is sent after ``health_ping_interval`` seconds without work.
- A worker that disconnects abandons its in-flight items: the dispatcher puts them back and
  they are offered again.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

from ..._proto import pb
from ...core.episode import find_execution_started
from ...core.versions import compare_versions
from ...protocol.history_wire import encoded_orchestrator_work_item
from .runners import ActivityOutcome, RunnerOutcome

log = logging.getLogger(__name__)

Kind = Literal["orchestration", "activity"]
HEALTH_PING_INTERVAL = 30.0
_CLOSED = object()
#: How many instances' "declined by these workers" sets are remembered at most.
_MAX_DECLINED = 10_000


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _filter_map(filters: object) -> dict[str, tuple[str, ...]]:
    accepted: dict[str, tuple[str, ...]] = {}
    for f in filters:  # type: ignore[attr-defined]
        key = f.name.casefold()
        accepted[key] = accepted.get(key, ()) + tuple(f.versions)
    return accepted


def _matches(accepted: dict[str, tuple[str, ...]] | None, name: str, version: str | None) -> bool:
    if accepted is None:
        return True
    versions = accepted.get(name.casefold())
    if versions is None:
        return False
    return not versions or any(compare_versions(v, version) == 0 for v in versions)


@dataclass(eq=False)
class WorkerConnection:
    """One open GetWorkItems stream."""

    worker_id: str
    orchestration_capacity: int
    activity_capacity: int
    orchestration_filter: dict[str, tuple[str, ...]] | None
    activity_filter: dict[str, tuple[str, ...]] | None
    queue: deque[object] = field(default_factory=deque)
    in_flight: dict[Kind, int] = field(default_factory=lambda: {"orchestration": 0, "activity": 0})
    tokens: set[str] = field(default_factory=set)
    closed: bool = False
    waiter: asyncio.Future[None] | None = None

    def put(self, item: object) -> None:
        """Queue an item for the stream and wake it."""
        self.queue.append(item)
        if self.waiter is not None:
            _wake(self.waiter)

    def accepts(self, kind: Kind, name: str, version: str | None) -> bool:
        accepted = self.orchestration_filter if kind == "orchestration" else self.activity_filter
        return not self.closed and _matches(accepted, name, version)

    def free(self, kind: Kind) -> float:
        capacity = self.orchestration_capacity if kind == "orchestration" else self.activity_capacity
        return float("inf") if capacity <= 0 else capacity - self.in_flight[kind]


@dataclass(slots=True)
class _Pending:
    kind: Kind
    connection: WorkerConnection
    instance_id: str
    future: asyncio.Future[object]


class WorkItemStreams:
    """The connected workers of one task hub and the completion tokens of their work."""

    def __init__(self, *, health_ping_interval: float = HEALTH_PING_INTERVAL) -> None:
        self.health_ping_interval = health_ping_interval
        self._connections: list[WorkerConnection] = []
        self._pending: dict[str, _Pending] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._declined: dict[str, set[WorkerConnection]] = {}
        #: Called (no arguments) when a worker connects: parked work may run now.
        self.on_connect: list[Callable[[], None]] = []
        self._token_prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._ids = itertools.count(1)

    @property
    def connections(self) -> list[WorkerConnection]:
        return list(self._connections)

    # -- connections ----------------------------------------------------------------------------
    def connect(self, request: pb.GetWorkItemsRequest) -> WorkerConnection:
        """Register a worker from its GetWorkItemsRequest."""
        has_filters = request.HasField("workItemFilters")
        conn = WorkerConnection(
            worker_id=request.worker_instance_id or f"worker-{next(self._ids)}",
            orchestration_capacity=request.maxConcurrentOrchestrationWorkItems,
            activity_capacity=request.maxConcurrentActivityWorkItems,
            orchestration_filter=_filter_map(request.workItemFilters.orchestrations) if has_filters else None,
            activity_filter=_filter_map(request.workItemFilters.activities) if has_filters else None,
        )
        self._connections.append(conn)
        log.info("worker %s connected (filters: %s)", conn.worker_id, "yes" if has_filters else "none")
        self._notify()
        for callback in self.on_connect:
            callback()
        return conn

    def disconnect(self, conn: WorkerConnection) -> None:
        """Forget a worker; its in-flight items come back as abandoned."""
        if conn.closed:
            return
        conn.closed = True
        if conn in self._connections:
            self._connections.remove(conn)
        for token in list(conn.tokens):
            pending = self._pending.pop(token, None)
            if pending is not None and not pending.future.done():
                pending.future.set_result(None)
        conn.tokens.clear()
        for declined in self._declined.values():
            declined.discard(conn)
        log.info("worker %s disconnected", conn.worker_id)
        self._notify()

    def close_all(self) -> None:
        """End every stream (the host is stopping); in-flight items are abandoned."""
        for conn in list(self._connections):
            conn.put(_CLOSED)
            self.disconnect(conn)

    async def stream(self, conn: WorkerConnection) -> AsyncIterator[pb.WorkItem | bytes]:
        """The work items of one connection, with health pings while idle; orchestrator
        work items come already encoded (bytes), the rest as WorkItem messages."""
        try:
            while True:
                item = conn.queue.popleft() if conn.queue else await self._get_or_ping(conn)
                if item is _CLOSED:
                    return
                yield item  # type: ignore[misc]
        finally:
            self.disconnect(conn)

    async def _get_or_ping(self, conn: WorkerConnection) -> object:
        """The next queued item, or a health ping after ``health_ping_interval`` idle seconds."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        conn.waiter = waiter
        timer = loop.call_later(self.health_ping_interval, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            conn.waiter = None
        return conn.queue.popleft() if conn.queue else pb.WorkItem(healthPing=pb.HealthPing())

    def _notify(self) -> None:
        """Wake everyone waiting for a worker to connect or free up."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- dispatch -------------------------------------------------------------------------------
    def can_run(self, kind: Kind, name: str, version: str | None) -> bool:
        return any(c.accepts(kind, name, version) for c in self._connections)

    @property
    def any_connected(self) -> bool:
        return any(not c.closed for c in self._connections)

    async def _choose(
        self, kind: Kind, name: str, version: str | None, instance_id: str | None = None
    ) -> WorkerConnection | None:
        """The matching worker with the most free capacity, waiting while all are busy;
        None when no connected worker matches."""
        while True:
            matching = [c for c in self._connections if c.accepts(kind, name, version)]
            if not matching:
                return None
            declined = self._declined.get(instance_id, ()) if instance_id is not None else ()
            # Prefer workers that have not given this item back (a versioning REJECT on
            # one worker should not keep it away from another that can run it).
            best = max(matching, key=lambda c: (c not in declined, c.free(kind)))
            if best.free(kind) > 0:
                return best
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    async def _send(
        self, kind: Kind, name: str, version: str | None, instance_id: str, item_for: Callable[[str], object]
    ) -> object:
        """Queue ``item_for(completion token)`` on a matching worker's stream and wait for
        its answer."""
        conn = await self._choose(kind, name, version, instance_id if kind == "orchestration" else None)
        if conn is None:
            return None
        token = f"{self._token_prefix}-{next(self._counter)}"
        item = item_for(token)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending(kind, conn, instance_id, future)
        conn.tokens.add(token)
        conn.in_flight[kind] += 1
        try:
            conn.put(item)
            return await future
        finally:
            conn.in_flight[kind] -= 1
            conn.tokens.discard(token)
            self._pending.pop(token, None)
            self._notify()

    async def run_orchestration(
        self, request: pb.OrchestratorRequest, name: str, version: str | None, past_events_wire: bytes = b""
    ) -> RunnerOutcome:
        """Run an episode on a worker; ``past_events_wire`` (encoded ``pastEvents`` entries)
        extends the request's history as it is sent."""
        # Written around the request's encoding: a WorkItem message would copy the request
        # (its whole history) once more before the stream encodes it anyway.
        answer = await self._send(
            "orchestration", name, version, request.instanceId,
            lambda token: encoded_orchestrator_work_item(request, token, past_events_wire),
        )
        if isinstance(answer, pb.OrchestratorResponse):
            return RunnerOutcome.completed(answer)
        if answer == "abandon":
            return RunnerOutcome.abandoned("the worker abandoned the work item")
        return RunnerOutcome.abandoned("no worker finished the work item (disconnected or none matching)", 0.0)

    async def run_activity(self, request: pb.ActivityRequest) -> ActivityOutcome:
        version = request.version.value if request.HasField("version") else None
        answer = await self._send(
            "activity", request.name, version, request.orchestrationInstance.instanceId,
            lambda token: pb.WorkItem(activityRequest=request, completionToken=token),
        )
        if isinstance(answer, pb.ActivityResponse):
            return ActivityOutcome.completed(answer)
        if answer == "abandon":
            return ActivityOutcome.abandoned("the worker abandoned the work item")
        return ActivityOutcome.abandoned("no worker finished the work item (disconnected or none matching)", 0.0)

    # -- completions ----------------------------------------------------------------------------
    def _take(self, kind: Kind, token: str, instance_id: str | None) -> _Pending | None:
        pending = self._pending.get(token)
        if pending is None or pending.future.done():
            log.warning("ignoring a %s completion with an unknown or stale completion token %r", kind, token)
            return None
        if pending.kind != kind:
            log.warning("ignoring a %s completion carrying the token of a %s work item", kind, pending.kind)
            return None
        if instance_id is not None and instance_id != pending.instance_id:
            log.warning(
                "ignoring a %s completion for instance %r: its token belongs to instance %r",
                kind, instance_id, pending.instance_id,
            )
            return None
        del self._pending[token]
        return pending

    def complete(self, kind: Kind, token: str, response: pb.OrchestratorResponse | pb.ActivityResponse) -> bool:
        """Hand a worker's response to the waiting dispatcher; False when the token is not
        current (the response is then ignored)."""
        pending = self._take(kind, token, response.instanceId or None)
        if pending is None:
            return False
        if kind == "orchestration":
            self._declined.pop(pending.instance_id, None)
        pending.future.set_result(response)
        return True

    def abandon(self, kind: Kind, token: str) -> bool:
        """The worker gave the item back (versioning REJECT, shutdown); False when the token
        is not current."""
        pending = self._take(kind, token, None)
        if pending is None:
            return False
        if kind == "orchestration":
            if len(self._declined) >= _MAX_DECLINED and pending.instance_id not in self._declined:
                # Only a preference: forgetting it is safe, growing without bound is not.
                self._declined.clear()
            self._declined.setdefault(pending.instance_id, set()).add(pending.connection)
        pending.future.set_result("abandon")
        return True


class WorkerOrchestrationRunner:
    """OrchestrationRunner over the connected workers."""

    def __init__(self, streams: WorkItemStreams) -> None:
        self.streams = streams

    def can_run(self, name: str, version: str | None) -> bool:
        return self.streams.can_run("orchestration", name, version)

    def can_run_any(self) -> bool:
        return self.streams.any_connected

    async def run(self, request: pb.OrchestratorRequest) -> RunnerOutcome:
        started = find_execution_started(request.pastEvents) or find_execution_started(request.newEvents)
        name = started.name if started is not None else ""
        version = started.version.value if started is not None and started.HasField("version") else None
        return await self.streams.run_orchestration(request, name, version)

    async def run_encoded(
        self, request: pb.OrchestratorRequest, past_events_wire: bytes, name: str, version: str | None
    ) -> RunnerOutcome:
        """Run an episode whose past events are ``past_events_wire``, not in ``request``."""
        return await self.streams.run_orchestration(request, name, version, past_events_wire)


class WorkerActivityRunner:
    """ActivityRunner over the connected workers."""

    def __init__(self, streams: WorkItemStreams) -> None:
        self.streams = streams

    def can_run(self, name: str, version: str | None) -> bool:
        return self.streams.can_run("activity", name, version)

    def can_run_any(self) -> bool:
        return self.streams.any_connected

    async def run(self, request: pb.ActivityRequest) -> ActivityOutcome:
        return await self.streams.run_activity(request)
