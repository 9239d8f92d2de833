"""The worker's own HTTP server: receives HTTP requests the host forwards (HTTP proxying).

Listens on 127.0.0.1 on a free port; its URL is the ``HttpUri`` capability the worker
reports in WorkerInitResponse. Every request must carry ``x-ms-invocation-id``; the
HttpCoordinator pairs it with its invocation and returns the function's response.
"""
from __future__ import annotations

import logging
import socket

import azure.functions as func
from aiohttp import web

from .http_coordinator import INVOCATION_ID_HEADER, DuplicateHttpRequestError, HttpCoordinationTimeout, HttpCoordinator

log = logging.getLogger(__name__)


class WorkerHttpServer:
    """aiohttp server in front of an HttpCoordinator."""

    def __init__(self, coordinator: HttpCoordinator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.coordinator = coordinator
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Start listening; returns the base URL (``http://127.0.0.1:<port>``)."""
        if self._runner is not None:
            assert self.url is not None
            return self.url
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a caller that goes away stops waiting for its invocation.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        # Bind the socket ourselves to learn the free port the OS picked.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        invocation_id = request.headers.get(INVOCATION_ID_HEADER)
        if not invocation_id:
            return web.Response(status=400, text=f"missing header {INVOCATION_ID_HEADER}: requests to the worker "
                                                 "come from the Functions host, which names the invocation")
        body = await request.read()
        forwarded = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            body=body,
        )
        try:
            response = await self.coordinator.handle_request(invocation_id, forwarded)
        except HttpCoordinationTimeout as exc:
            log.warning("forwarded HTTP request timed out: %s", exc)
            return web.Response(status=504, text=str(exc))
        except DuplicateHttpRequestError as exc:
            return web.Response(status=409, text=str(exc))
        except Exception as exc:
            log.exception("invocation %s failed", invocation_id)
            return web.Response(status=500, text=f"function invocation {invocation_id} failed: {exc}")
        return _to_aiohttp(response)


def _to_aiohttp(response: func.HttpResponse) -> web.Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    content_type = response.mimetype or "text/plain"
    return web.Response(
        status=response.status_code,
        body=response.get_body(),
        headers=headers,
        content_type=content_type,
        charset=response.charset if content_type.startswith("text/") or "json" in content_type else None,
    )
