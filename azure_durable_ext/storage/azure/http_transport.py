"""The SDK clients' HTTP transport for a local emulator: idle connections are not reused
after a few seconds.

Azurite (a Node HTTP server) closes a keep-alive connection after 5 s without a request;
aiohttp keeps idle pooled connections for 15 s. A request sent on a connection just as
Azurite closes it fails with "Server disconnected" before any answer. The queue and blob
clients retry that (``retry.StorageRetry``), but azure-core's policy, which the table client
uses, retries no POST, and table inserts and batches (checkpoints) are POSTs: a checkpoint
after a pause of about 5 s then failed now and then. Dropping pooled connections that idled
longer than ``EMULATOR_KEEPALIVE`` (shorter than the emulator's 5 s) means a request never
goes out on a connection the emulator may be closing. Azure Storage keeps idle connections
much longer than aiohttp's 15 s, so clients of real accounts keep the SDK's own transport.
"""
from __future__ import annotations

from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport

#: Seconds a pooled connection to a local emulator may idle and still be reused (Azurite's
#: keep-alive timeout is 5 s).
EMULATOR_KEEPALIVE = 4.0


class IdleLimitedTransport(AioHttpTransport):
    """azure-core's aiohttp transport whose pooled connections are reused only while they
    have idled at most ``keepalive`` seconds (aiohttp checks when it takes one from the
    pool). Owns its session, as the SDK's default transport does."""

    session: aiohttp.ClientSession | None

    def __init__(self, *, keepalive: float = EMULATOR_KEEPALIVE, use_env_settings: bool = True, **kwargs: Any) -> None:
        if keepalive <= 0:
            raise ValueError(f"keepalive must be positive, got {keepalive!r}")
        super().__init__(use_env_settings=use_env_settings, **kwargs)
        self.keepalive = keepalive
        self._trust_env = use_env_settings
        self._session_made = False

    async def open(self) -> None:
        # The session is made on first use, inside the running loop (as the base class does);
        # once closed, the base class refuses to open again.
        if self.session is None and not self._session_made:
            self._session_made = True
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=self.keepalive),
                trust_env=self._trust_env,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # as azure-core's: the pipeline decodes content itself
            )
        await super().open()
