"""LoopPortal: an event loop on a private thread, for calling async code from sync code.

Blocking callers (plain threads, a loop's executor threads, Functions' ``def`` handlers)
submit coroutines to the portal's loop and wait for the result, so the async client stays
the only implementation. Like anyio's blocking portal, but with nothing beyond asyncio.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")


class LoopPortal:
    """Runs an asyncio loop on a daemon thread until ``close()``."""

    def __init__(self, *, name: str = "durable-client-portal") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._drain()

    def _drain(self) -> None:
        """Cancel what is left, finish async generators and the executor, close the loop."""
        loop = self._loop
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def _check_caller(self) -> None:
        if self._closed:
            raise RuntimeError("the portal is closed")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self._loop:
            raise RuntimeError(
                "a blocking client call was made on the portal's own event loop; it would wait "
                "for itself forever. Use the async client there."
            )
        # Blocking a loop's thread stalls everything on it, and deadlocks outright when the
        # sidecar being called is served by that same loop (an in-process dev host).
        raise RuntimeError(
            "a blocking client call was made from a thread running an event loop; await the "
            "async client instead, or make the call from a worker thread (run_in_executor)"
        )

    def call(self, function: Callable[..., Awaitable[R]], /, *args: Any, **kwargs: Any) -> R:
        """Run ``await function(*args, **kwargs)`` on the portal's loop and return its result
        (exceptions propagate to the caller)."""
        self._check_caller()

        async def run() -> R:
            return await function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def iterate(self, function: Callable[..., AsyncIterator[T]], /, *args: Any, **kwargs: Any) -> Iterator[T]:
        """Iterate ``function(*args, **kwargs)``, an async iterator, from this thread; the
        async generator is closed on the portal's loop if the caller stops early."""
        self._check_caller()
        iterator = function(*args, **kwargs)
        exhausted = False
        try:
            while True:
                try:
                    item = asyncio.run_coroutine_threadsafe(_next(iterator), self._loop).result()
                except StopAsyncIteration:
                    exhausted = True
                    return
                yield item
        finally:
            closer = getattr(iterator, "aclose", None)
            if not exhausted and closer is not None and not self._closed:
                asyncio.run_coroutine_threadsafe(closer(), self._loop).result()

    def close(self) -> None:
        """Stop the loop and join its thread (idempotent). Work still running is cancelled."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a portal cannot be closed from its own loop")
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def __enter__(self) -> "LoopPortal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _next(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()
