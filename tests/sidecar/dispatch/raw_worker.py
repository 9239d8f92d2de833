"""A GetWorkItems stream driven by hand, for protocol-level tests."""
from __future__ import annotations

import asyncio
from typing import Any

import grpc

from azure_durable_ext._proto import pb

READ_TIMEOUT = 10.0


class RawWorker:
    """A GetWorkItems stream driven by hand: read items, complete or abandon them."""

    def __init__(self, stub: Any, request: pb.GetWorkItemsRequest, metadata: Any = None) -> None:
        self.stub = stub
        self.call = stub.GetWorkItems(request, metadata=metadata)
        self._read: asyncio.Task[Any] | None = None

    async def _next(self, timeout: float) -> Any:
        # Cancelling a read cancels the whole call, so a read that times out is kept for
        # the next attempt instead.
        if self._read is None:
            self._read = asyncio.ensure_future(self.call.read())
        done, _ = await asyncio.wait({self._read}, timeout=timeout)
        if not done:
            raise asyncio.TimeoutError
        read, self._read = self._read, None
        return read.result()

    async def next_item(self, *, skip_pings: bool = True, timeout: float = READ_TIMEOUT) -> pb.WorkItem:
        """The next work item within ``timeout`` seconds (health pings skipped by default)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self._next(max(0.0, deadline - loop.time()))
            assert item is not grpc.aio.EOF, "the work-item stream ended"
            if skip_pings and item.HasField("healthPing"):
                continue
            return item

    async def nothing_for(self, seconds: float) -> bool:
        """True when no (non-ping) work item arrives within ``seconds``."""
        try:
            await self.next_item(timeout=seconds)
        except asyncio.TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.call.cancel()
