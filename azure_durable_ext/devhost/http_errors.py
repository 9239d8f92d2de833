"""Errors to HTTP answers: one JSON shape for every refusal the dev host makes."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..core.errors import DurableError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, error: str, message: str) -> web.Response:
    """``{"error": <kind>, "message": <what went wrong>}`` with ``status``."""
    return web.json_response({"error": error, "message": message}, status=status)


@web.middleware
async def durable_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn DurableError into its http_status with a JSON body naming the problem; anything
    unexpected is logged and answered 500."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DurableError as exc:
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, exc)
        return error_response(exc.http_status, type(exc).__name__, str(exc))
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, type(exc).__name__, str(exc))
