"""EventStreamWriter: one write at a time, in order, from the caller's task when idle.

The stream here is a recording write function (what is written, by which task, gated so a
write can be held in flight); the real EventStream path runs in the worker-pipeline tests.
"""
from __future__ import annotations

import asyncio

from azure_durable_ext.functions.stream_writer import EventStreamWriter
from azure_durable_ext.protocol.function_rpc import frpc


def _msg(n: int) -> frpc.StreamingMessage:
    return frpc.StreamingMessage(request_id=str(n))


class RecordingStream:
    def __init__(self) -> None:
        self.written: list[str] = []
        self.writers: list[asyncio.Task[object] | None] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.fail_on: str | None = None

    async def write(self, message: frpc.StreamingMessage) -> None:
        self.in_flight += 1
        assert self.in_flight == 1, "two writes at once"
        try:
            await self.gate.wait()
            if message.request_id == self.fail_on:
                raise ConnectionError("stream gone")
            self.written.append(message.request_id)
            self.writers.append(asyncio.current_task())
        finally:
            self.in_flight -= 1


async def test_an_idle_stream_is_written_from_the_callers_task() -> None:
    stream = RecordingStream()
    writer = EventStreamWriter(stream.write)
    await writer.write(_msg(1))
    assert stream.written == ["1"] and stream.writers == [asyncio.current_task()]


async def test_messages_keep_their_order_while_a_write_is_in_flight() -> None:
    stream = RecordingStream()
    writer = EventStreamWriter(stream.write)
    stream.gate.clear()
    first = asyncio.create_task(writer.write(_msg(1)))  # written directly, held in flight
    await asyncio.sleep(0)
    writer.send(_msg(2))
    third = asyncio.create_task(writer.write(_msg(3)))  # busy: queued, not written by its task
    await asyncio.sleep(0)
    writer.send(_msg(4))
    await third  # returns once queued
    assert stream.written == []
    stream.gate.set()
    await first
    await writer.drain()
    assert stream.written == ["1", "2", "3", "4"]
    assert stream.writers[0] is first and all(t is not third for t in stream.writers)
    # Idle again: the next one goes directly.
    await writer.write(_msg(5))
    assert stream.writers[-1] is asyncio.current_task()


async def test_sent_messages_are_drained_by_one_task_in_order() -> None:
    stream = RecordingStream()
    writer = EventStreamWriter(stream.write)
    for n in range(5):
        writer.send(_msg(n))
    await writer.drain()
    assert stream.written == ["0", "1", "2", "3", "4"]
    assert len({id(t) for t in stream.writers}) == 1 and stream.writers[0] is not asyncio.current_task()


async def test_a_failed_write_is_recorded_not_raised_and_later_messages_dropped() -> None:
    stream = RecordingStream()
    stream.fail_on = "2"
    writer = EventStreamWriter(stream.write)
    writer.send(_msg(1))
    writer.send(_msg(2))
    writer.send(_msg(3))
    await asyncio.wait_for(writer.drain(), 1)
    assert writer.failed.is_set() and isinstance(writer.error, ConnectionError)
    await writer.write(_msg(4))  # no exception for the caller
    writer.send(_msg(5))
    await asyncio.wait_for(writer.drain(), 1)
    assert stream.written == ["1"]
    # A direct write that fails is recorded the same way.
    direct = RecordingStream()
    direct.fail_on = "9"
    other = EventStreamWriter(direct.write)
    await other.write(_msg(9))
    assert other.failed.is_set() and isinstance(other.error, ConnectionError)
