"""IdleLimitedTransport: a pooled connection that idled past the keep-alive is not reused, so a
POST never goes out on a connection the server is closing (azure-core retries no POST).

The server below answers the first request of each connection and keeps it open; a later
request on the same connection that comes after the server's idle limit is dropped without
an answer, as Azurite's keep-alive close does when it meets a request.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest

from azure_durable_ext.storage.azure.connection import (
    DEV_ACCOUNT,
    DEV_KEY,
    client_options,
    development_connection_string,
    is_local_endpoint,
    parse_connection_string,
)
from azure_durable_ext.storage.azure.http_transport import EMULATOR_KEEPALIVE, IdleLimitedTransport

SERVER_IDLE = 0.3


class IdleClosingServer:
    """HTTP/1.1 on 127.0.0.1 that drops a request arriving on a connection idle >= SERVER_IDLE s."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if idle_since is not None and loop.time() - idle_since >= SERVER_IDLE:
                    self.dropped += 1
                    return  # closed without an answer
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
                await writer.drain()
                self.answered += 1
                idle_since = loop.time()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[IdleClosingServer, str]]:
    state = IdleClosingServer()
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield state, f"http://127.0.0.1:{port}/devstoreaccount1/$batch"
    finally:
        srv.close()
        await srv.wait_closed()


async def _post_twice(transport: AioHttpTransport, url: str, pause: float) -> list[int]:
    async with AsyncPipeline(transport, policies=[]) as pipeline:
        statuses = []
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(pause)
            response = await pipeline.run(HttpRequest("POST", url, content=b"batch"))
            statuses.append(response.http_response.status_code)
        return statuses


async def test_a_connection_idle_past_the_keepalive_is_not_reused(server: tuple[IdleClosingServer, str]) -> None:
    state, url = server
    transport = IdleLimitedTransport(keepalive=SERVER_IDLE / 2)
    assert await _post_twice(transport, url, pause=SERVER_IDLE + 0.2) == [200, 200]
    assert (state.connections, state.answered, state.dropped) == (2, 2, 0)


async def test_without_it_the_post_fails_on_the_closing_connection(server: tuple[IdleClosingServer, str]) -> None:
    state, url = server
    with pytest.raises(ServiceRequestError):
        await _post_twice(AioHttpTransport(), url, pause=SERVER_IDLE + 0.2)  # aiohttp keeps 15 s
    assert (state.answered, state.dropped) == (1, 1)


async def test_a_connection_within_the_keepalive_is_reused(server: tuple[IdleClosingServer, str]) -> None:
    state, url = server
    assert await _post_twice(IdleLimitedTransport(keepalive=5.0), url, pause=0.05) == [200, 200]
    assert (state.connections, state.answered) == (1, 2)


async def test_a_closed_transport_does_not_open_again(server: tuple[IdleClosingServer, str]) -> None:
    _, url = server
    transport = IdleLimitedTransport()
    await _post_twice(transport, url, pause=0)
    with pytest.raises(ValueError, match="already been closed"):
        await transport.open()


def test_keepalive_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keepalive must be positive, got 0"):
        IdleLimitedTransport(keepalive=0)


def test_emulator_accounts_get_it_and_remote_accounts_keep_the_sdk_transport() -> None:
    assert EMULATOR_KEEPALIVE < 5.0  # Azurite closes idle connections after 5 s
    for endpoint in ("http://127.0.0.1:10002/x", "http://localhost:10002/x", "http://[::1]:1/x"):
        assert is_local_endpoint(endpoint)
    assert not is_local_endpoint("https://acct.table.core.windows.net")
    local = parse_connection_string(development_connection_string())
    in_container = parse_connection_string(  # Azurite under another host name, the well-known account
        f"AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint=http://azurite:10000/{DEV_ACCOUNT};"
        f"QueueEndpoint=http://azurite:10001/{DEV_ACCOUNT};TableEndpoint=http://azurite:10002/{DEV_ACCOUNT}"
    )
    proxied = parse_connection_string(  # another account, every endpoint on this machine
        "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acct;"
        "QueueEndpoint=http://127.0.0.1:2/acct;TableEndpoint=http://127.0.0.1:3/acct"
    )
    remote = parse_connection_string("AccountName=acct;AccountKey=a2V5")
    assert local.is_emulator and in_container.is_emulator and proxied.is_emulator
    assert not remote.is_emulator
    transport = client_options(emulator=True)["transport"]
    assert isinstance(transport, IdleLimitedTransport)
    assert transport.connection_config.timeout == 5 and transport.connection_config.read_timeout == 60
    assert "transport" not in client_options()


async def test_the_account_clients_use_it_on_azurite(azurite) -> None:  # type: ignore[no-untyped-def]
    account = parse_connection_string(azurite.connection_string)
    async with account.table_service() as tables:
        transport = tables._client._client._pipeline._transport  # noqa: SLF001 - which transport the SDK kept
        assert isinstance(transport, IdleLimitedTransport) and transport.keepalive == EMULATOR_KEEPALIVE
        await tables.create_table("IdleLimited")
        assert "IdleLimited" in [t.name async for t in tables.list_tables()]
        assert transport.session is not None  # the requests went through it
