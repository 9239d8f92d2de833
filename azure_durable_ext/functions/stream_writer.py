"""The worker's side of the EventStream's writes: one at a time, in order, with few hand-offs.

grpc.aio takes one write at a time on a stream. A writer task that takes messages from a
queue costs every message a hand-off to that task (a loop turn, on every invocation's
response). ``EventStreamWriter`` lets a coroutine that has its message ready (an
invocation's response) write it in its own task when nothing is queued or being written,
and queues it behind the others otherwise; ``send`` (any code on the loop: log records,
handshake answers) queues the message and starts a drain task when none runs. Either way
the messages go out in the order they were handed over.

A failed write (the stream is gone) is not raised to the code that handed the message
over: ``failed`` is set with the error, later messages are dropped, and the worker's main
loop ends on it.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from ..protocol.function_rpc import frpc

log = logging.getLogger(__name__)

Write = Callable[[frpc.StreamingMessage], Awaitable[None]]


class EventStreamWriter:
    """Serializes writes of StreamingMessages to one stream (see module doc)."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._queue: deque[frpc.StreamingMessage] = deque()
        #: Set while no write is in flight; messages queue only while it is clear.
        self._idle = asyncio.Event()
        self._idle.set()
        #: The running drain task: the loop keeps only a weak reference to tasks.
        self._drainer: asyncio.Task[None] | None = None
        #: Set once a write failed; ``error`` says why.
        self.failed = asyncio.Event()
        self.error: BaseException | None = None

    def send(self, message: frpc.StreamingMessage) -> None:
        """Queue ``message`` (call on the loop); a drain task writes it."""
        if self.failed.is_set():
            return
        self._queue.append(message)
        if self._idle.is_set():
            self._start_drain()

    async def write(self, message: frpc.StreamingMessage) -> None:
        """Write ``message`` now in this task when the stream is idle, else queue it."""
        if not self._idle.is_set():
            self.send(message)
            return
        if self.failed.is_set():
            return
        self._idle.clear()
        try:
            await self._write(message)
        except Exception as exc:  # noqa: BLE001 - recorded for the main loop (see module doc)
            self._fail(exc)
        finally:
            if self._queue:  # handed over while this write was in flight
                self._start_drain()
            else:
                self._idle.set()

    async def drain(self) -> None:
        """Wait until everything handed over was written (or a write failed: the failing
        write ends the writing, and the queue is dropped)."""
        await self._idle.wait()

    def _start_drain(self) -> None:
        self._idle.clear()
        self._drainer = asyncio.get_running_loop().create_task(self._drain(), name="function-rpc-writer")

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._write(self._queue.popleft())
        except Exception as exc:  # noqa: BLE001 - recorded for the main loop (see module doc)
            self._fail(exc)
        finally:
            self._drainer = None
            self._idle.set()

    def _fail(self, exc: BaseException) -> None:
        if not self.failed.is_set():
            self.error = exc
            self.failed.set()
        dropped = len(self._queue)
        self._queue.clear()
        if dropped:
            log.debug("dropping %d queued messages: the stream write failed", dropped)
