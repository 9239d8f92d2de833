"""A local storage endpoint whose answers a test writes (throttling, failures, odd bodies)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from azure_durable_ext.storage.azure.connection import StorageAccount, development_connection_string, parse_connection_string

#: What a Put Message to queue "q" of the development account answers when it succeeds.
PUT_ANSWER = (
    b"<QueueMessagesList><QueueMessage><MessageId>m1</MessageId><PopReceipt>r1</PopReceipt>"
    b"</QueueMessage></QueueMessagesList>"
)


@asynccontextmanager
async def queue_put_endpoint(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[StorageAccount]:
    """Serve Put Message for queue "q" with ``handler`` on 127.0.0.1 (a free port); yields
    the development account whose three endpoints point there."""
    app = web.Application()
    app.router.add_post("/devstoreaccount1/q/messages", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield parse_connection_string(development_connection_string(ports={"blob": port, "queue": port, "table": port}))
    finally:
        await runner.cleanup()
