"""The fetch-and-process loop both dispatchers share: bounded concurrency, graceful stop.

One task fetches: it takes a free slot (at most ``max_concurrent`` items in flight), locks
the next item from storage (waiting up to ``poll_timeout``), and starts a task processing
it. Storage errors while fetching back off exponentially (up to ``max_backoff``) instead of
spinning. ``stop`` stops fetching, gives in-flight items ``grace`` seconds to finish, then
cancels the rest: ``process`` gets CancelledError and must put its item back.
"""
from __future__ import annotations

import abc
import asyncio
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ...core.clock import SYSTEM_CLOCK, Clock
from ...core.errors import ConcurrencyConflictError, StorageUnavailableError

log = logging.getLogger(__name__)

W = TypeVar("W")
R = TypeVar("R")


class WorkLoop(abc.ABC, Generic[W]):
    """Fetch items with ``fetch`` and handle each with ``process``, ``max_concurrent`` at a time."""

    kind = "work"

    def __init__(self, *, max_concurrent: int, poll_timeout: float = 1.0, max_backoff: float = 5.0) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.max_concurrent = max_concurrent
        self.poll_timeout = poll_timeout
        self.max_backoff = max_backoff
        self._slots = asyncio.Semaphore(max_concurrent)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._fetcher: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @abc.abstractmethod
    async def fetch(self, timeout: float) -> W | None:
        """Lock the next item, or None when none came within ``timeout``."""

    @abc.abstractmethod
    async def process(self, item: W) -> None:
        """Handle one locked item (complete it or put it back)."""

    async def start(self) -> None:
        if self._fetcher is None:
            self._stopping = False
            self._fetcher = asyncio.get_running_loop().create_task(self._fetch_loop(), name=f"{self.kind}-fetcher")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop fetching; let in-flight items finish within ``grace`` seconds, cancel the rest."""
        self._stopping = True
        fetcher, self._fetcher = self._fetcher, None
        if fetcher is not None:
            fetcher.cancel()
            await asyncio.gather(fetcher, return_exceptions=True)
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.info("%s dispatcher: %d in-flight items put back at stop", self.kind, len(late))
                await asyncio.gather(*late, return_exceptions=True)

    def accepting(self) -> bool:
        """Whether fetched work could run now; while it could not, the fetcher only sweeps
        storage now and then (see ``until_accepting``)."""
        return True

    async def until_accepting(self) -> None:
        """Return when work may run again or the next periodic sweep is due."""

    async def _fetch_loop(self) -> None:
        backoff = 0.05
        sweeping = False
        while not self._stopping:
            if not sweeping and not self.accepting():
                # Nothing could run what comes in: instead of one wake-up per new item,
                # take everything queued in one sweep when runners change or periodically.
                await self.until_accepting()
                sweeping = True
            await self._slots.acquire()
            try:
                item = await self.fetch(0.0 if sweeping else self.poll_timeout)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception as exc:
                self._slots.release()
                if isinstance(exc, StorageUnavailableError):
                    # Storage down or silent: the error names it; a traceback per retry would not help.
                    log.warning("%s dispatcher: fetching work failed (%s); retrying in %.2fs", self.kind, exc, backoff)
                else:
                    log.exception("%s dispatcher: fetching work failed; retrying in %.2fs", self.kind, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.05
            if item is None:
                self._slots.release()
                sweeping = False
                continue
            self._spawn(item)

    def _spawn(self, item: W) -> None:
        """Process ``item`` in its own task; the caller has taken a slot for it."""
        task = asyncio.get_running_loop().create_task(self._guarded(item))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    async def _guarded(self, item: W) -> None:
        try:
            await self.process(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s dispatcher: processing an item failed", self.kind)


def _always() -> bool:
    return True


@dataclass(slots=True)
class _Parked(Generic[W]):
    item: W
    name: str
    version: str | None
    since: float


def retry_delay(base: float, attempts: int, cap: float = 5.0) -> float:
    """Delay before offering put-back work again: ``base`` growing with the attempts."""
    return min(base * max(1, attempts), cap)


class RoutingDispatcher(WorkLoop[W], Generic[W, R]):
    """A WorkLoop that hands each item to the first runner able to run it, and puts the
    item back when processing fails or the dispatcher stops mid-item.

    Subclasses implement ``fetch``, ``handle`` (the work), ``put_back`` and ``describe``.
    """

    def __init__(
        self,
        runners: Sequence[R],
        *,
        clock: Clock = SYSTEM_CLOCK,
        max_concurrent: int = 10,
        poll_timeout: float = 1.0,
        abandon_delay: float = 0.5,
        renew_interval: float = 60.0,
        park_limit: float = 30.0,
        park_recheck: float = 1.0,
    ) -> None:
        """``abandon_delay``: base delay before work a runner gave back, or whose processing
        failed, is offered again (it grows with the attempts, see ``retry_delay``);
        ``renew_interval``: how often the lock of an item still running is renewed
        (visibility timeouts are 5 minutes). Work no runner can take is parked (see
        ``park``): ``park_recheck`` is how often parked work is checked against runners
        that do not announce changes, ``park_limit`` how long an item stays parked before
        it goes back to storage (so messages that arrived meanwhile join it)."""
        super().__init__(max_concurrent=max_concurrent, poll_timeout=poll_timeout)
        self.runners = list(runners)
        self.clock = clock
        self.abandon_delay = abandon_delay
        self.renew_interval = renew_interval
        # Parked items are not renewed: they must go back before their lock needs it.
        self.park_limit = min(park_limit, renew_interval)
        self.park_recheck = park_recheck
        self._parked: dict[int, _Parked[W]] = {}
        self._park_keys = itertools.count(1)
        self._runners_changed = asyncio.Event()
        self._fetch_wake = asyncio.Event()
        self._parking: asyncio.Task[None] | None = None

    def runner_for(self, name: str, version: str | None) -> R | None:
        """The first runner that can run (name, version) now, or None."""
        for runner in self.runners:
            if runner.can_run(name, version):  # type: ignore[attr-defined]
                return runner
        return None

    # -- parked work ---------------------------------------------------------------------------
    @property
    def parked(self) -> int:
        """How many items wait, locked, for a runner able to run them."""
        return len(self._parked)

    def park(self, item: W, name: str, version: str | None) -> None:
        """Keep ``item`` locked, outside the concurrency slots, until a runner can run
        (name, version): it is processed again at once when ``runners_changed`` is called
        (a worker connected) or a periodic check finds a runner. Nothing polls storage
        meanwhile. After ``park_limit`` seconds the item goes back to storage, which offers
        it again with any messages that arrived since (a terminate, say)."""
        self._parked[next(self._park_keys)] = _Parked(item, name, version, self.clock.monotonic())
        if self._parking is None or self._parking.done():
            self._parking = asyncio.get_running_loop().create_task(self._parking_loop(), name=f"{self.kind}-parking")

    def runners_changed(self) -> None:
        """Runners may take other work now (a worker connected): look at parked work."""
        self._runners_changed.set()
        self._fetch_wake.set()

    def accepting(self) -> bool:
        """False when no runner can run anything at all (no worker connected, no app in
        process): new work then waits in storage for a sweep instead of being fetched one
        item at a time."""
        return any(getattr(runner, "can_run_any", _always)() for runner in self.runners)

    async def until_accepting(self) -> None:
        try:
            await asyncio.wait_for(self._fetch_wake.wait(), self.park_recheck)
        except asyncio.TimeoutError:
            pass  # the periodic sweep: work that needs no runner (a terminate) still goes on
        self._fetch_wake.clear()

    async def _parking_loop(self) -> None:
        while self._parked and not self._stopping:
            try:
                await asyncio.wait_for(self._runners_changed.wait(), self.park_recheck)
            except asyncio.TimeoutError:
                pass  # the periodic check
            self._runners_changed.clear()
            now = self.clock.monotonic()
            runnable: list[W] = []
            expired: list[W] = []
            for key, parked in list(self._parked.items()):
                if self.runner_for(parked.name, parked.version) is not None:
                    runnable.append(self._parked.pop(key).item)
                elif now - parked.since >= self.park_limit:
                    expired.append(self._parked.pop(key).item)
            for item in expired:
                await self._put_back_parked(item)
            for item in runnable:
                await self._slots.acquire()
                if self._stopping:
                    self._slots.release()
                    await self._put_back_parked(item)
                    continue
                self._spawn(item)

    async def _put_back_parked(self, item: W) -> None:
        try:
            await self.put_back(item, 0.0)
        except Exception:
            # The lock lapses by itself (visibility timeout) and storage offers it again.
            log.exception("putting back parked %s failed", self.describe(item))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop as WorkLoop does; parked items go back to storage."""
        self._stopping = True
        self._runners_changed.set()
        # Not cancelled: it may hold items between parked and processing. Seeing
        # ``_stopping`` it puts back what it takes, and ends once the in-flight items
        # (which super().stop finishes or cancels) have freed the slots it waits for.
        await super().stop(grace)
        parking, self._parking = self._parking, None
        if parking is not None:
            await parking
        parked, self._parked = list(self._parked.values()), {}
        for entry in parked:
            await self._put_back_parked(entry.item)

    @abc.abstractmethod
    async def handle(self, item: W) -> W | None:
        """Run the item and record its outcome; the answer, if any, is the next item of the
        same session (an extended orchestration session), processed next in the same slot."""

    @abc.abstractmethod
    async def put_back(self, item: W, delay: float) -> None:
        """Release the item so it is offered again after ``delay`` seconds."""

    @abc.abstractmethod
    def describe(self, item: W) -> str:
        """The item, for log messages."""

    @abc.abstractmethod
    async def renew(self, item: W) -> None:
        """Extend the item's lock (ConcurrencyConflictError when it is lost)."""

    def renewing(self, item: W) -> "LockRenewal[W]":
        """``async with`` it: the item's lock is renewed every ``renew_interval`` seconds
        while the block runs."""
        return LockRenewal(self, item)

    async def _renew_loop(self, item: W) -> None:
        while True:
            try:
                await self.renew(item)
            except ConcurrencyConflictError as exc:
                log.warning("lost the lock of %s: %s", self.describe(item), exc)
                return
            except Exception:
                log.exception("renewing the lock of %s failed; will retry", self.describe(item))
            await asyncio.sleep(self.renew_interval)

    async def process(self, item: W) -> None:
        current: W | None = item
        while current is not None:
            current = await self._process_one(current)

    async def _process_one(self, item: W) -> W | None:
        try:
            return await self.handle(item)
        except ConcurrencyConflictError as exc:
            log.info("%s discarded (its lock was lost): %s", self.describe(item), exc)
        except asyncio.CancelledError:
            await self.put_back(item, 0.0)
            raise
        except Exception:
            log.exception("%s failed; it is put back", self.describe(item))
            await self.put_back(item, retry_delay(self.abandon_delay, getattr(item, "dequeue_count", 1)))
        return None


class LockRenewal(Generic[W]):
    """Renews one item's lock while a block runs (``RoutingDispatcher.renewing``).

    Most items finish long before the first renewal is due, so the renewing task starts only
    once it is (a timer per item, no task). A class rather than an ``asynccontextmanager``:
    this runs for every work item, and the generator-based form cost several times more.
    """

    __slots__ = ("_dispatcher", "_item", "_due", "_task")

    def __init__(self, dispatcher: RoutingDispatcher[W, Any], item: W) -> None:
        self._dispatcher = dispatcher
        self._item = item
        self._due: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self._due = asyncio.get_running_loop().call_later(self._dispatcher.renew_interval, self._start)

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._dispatcher._renew_loop(self._item))

    async def __aexit__(self, *exc_info: object) -> None:
        if self._due is not None:
            self._due.cancel()
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
