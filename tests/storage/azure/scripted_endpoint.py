"""A local storage endpoint whose answers a test writes (throttling, failures, odd bodies)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from azure_durable_ext.storage.azure.connection import StorageAccount, development_connection_string, parse_connection_string

#: Where Put Message to queue "q" and Insert Entity into table "t" of the development
#: account go.
QUEUE_PUT = ("POST", "/devstoreaccount1/q/messages")
TABLE_INSERT = ("POST", "/devstoreaccount1/t")
#: What a Put Message answers when it succeeds.
PUT_ANSWER = (
    b"<QueueMessagesList><QueueMessage><MessageId>m1</MessageId><PopReceipt>r1</PopReceipt>"
    b"</QueueMessage></QueueMessagesList>"
)


@asynccontextmanager
async def scripted_account(
    route: tuple[str, str], handler: Callable[[web.Request], Awaitable[web.Response]]
) -> AsyncIterator[StorageAccount]:
    """Serve ``route`` (method, path) with ``handler`` on 127.0.0.1 (a free port); yields the
    development account whose three endpoints point there."""
    app = web.Application()
    app.router.add_route(route[0], route[1], handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield parse_connection_string(development_connection_string(ports={"blob": port, "queue": port, "table": port}))
    finally:
        await runner.cleanup()
