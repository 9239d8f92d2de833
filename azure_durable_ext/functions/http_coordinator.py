"""HttpCoordinator: joins a forwarded HTTP request and its InvocationRequest by invocation id.

With HTTP proxying the host sends the InvocationRequest over gRPC and forwards the HTTP
request to the worker's own HTTP server with header ``x-ms-invocation-id``. Either may arrive
first. The HTTP side waits (bounded) for the invocation to claim the request, then for the
response; the invocation side waits (bounded) for the request. Nothing hangs: a missing
partner ends in HttpCoordinationTimeout, which both sides turn into a clear 5xx / failure.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import azure.functions as func

from ..core.errors import InvalidStateError, OperationTimeoutError

log = logging.getLogger(__name__)

INVOCATION_ID_HEADER = "x-ms-invocation-id"
#: Seconds one side waits for the other (the request for its invocation and vice versa).
DEFAULT_PAIRING_TIMEOUT = 30.0


class HttpCoordinationTimeout(OperationTimeoutError):
    """The HTTP request or the invocation it belongs to did not arrive in time."""


class InvocationCancelledError(InvalidStateError):
    """The invocation an HTTP request waited for was cancelled."""


class DuplicateHttpRequestError(InvalidStateError):
    """A second HTTP request named an invocation that already has one."""


@dataclass(eq=False)
class _Pairing:
    request: asyncio.Future[func.HttpRequest]
    claimed: asyncio.Future[None]
    response: asyncio.Future[func.HttpResponse]
    loop: asyncio.AbstractEventLoop = field(repr=False)


class HttpCoordinator:
    """Per-invocation rendezvous between the HTTP server and the middleware chain."""

    def __init__(self, *, pairing_timeout: float = DEFAULT_PAIRING_TIMEOUT) -> None:
        self.pairing_timeout = pairing_timeout
        self._pairings: dict[str, _Pairing] = {}

    def _pairing(self, invocation_id: str) -> _Pairing:
        pairing = self._pairings.get(invocation_id)
        if pairing is None:
            loop = asyncio.get_running_loop()
            pairing = _Pairing(loop.create_future(), loop.create_future(), loop.create_future(), loop)
            self._pairings[invocation_id] = pairing
        return pairing

    @property
    def pending(self) -> int:
        """Invocations with a request or an invocation still waiting for its partner."""
        return len(self._pairings)

    # -- HTTP server side ------------------------------------------------------------------------
    async def handle_request(self, invocation_id: str, request: func.HttpRequest) -> func.HttpResponse:
        """Hand ``request`` to its invocation and wait for the function's response.

        Raises HttpCoordinationTimeout when no invocation claims the request in time,
        DuplicateHttpRequestError for a second request of one invocation, and whatever the
        invocation failed with.
        """
        pairing = self._pairing(invocation_id)
        if pairing.request.done():
            raise DuplicateHttpRequestError(f"a request for invocation {invocation_id} was already forwarded")
        pairing.request.set_result(request)
        try:
            await asyncio.wait_for(asyncio.shield(pairing.claimed), self.pairing_timeout)
        except asyncio.TimeoutError:
            self._forget(invocation_id, pairing)
            raise HttpCoordinationTimeout(
                f"no invocation {invocation_id} arrived within {self.pairing_timeout:g} s for this HTTP request"
            ) from None
        except asyncio.CancelledError:  # the caller went away before any invocation came
            self._forget(invocation_id, pairing)
            raise
        # Claimed: the middleware always completes the response (its finally), so no timeout.
        return await pairing.response

    def _forget(self, invocation_id: str, pairing: _Pairing) -> None:
        if self._pairings.get(invocation_id) is pairing and not pairing.claimed.done():
            del self._pairings[invocation_id]

    # -- middleware side ------------------------------------------------------------------------
    async def claim_request(self, invocation_id: str) -> func.HttpRequest:
        """Wait for the forwarded request of ``invocation_id`` and claim it.

        Raises HttpCoordinationTimeout when it does not arrive in time.
        """
        pairing = self._pairing(invocation_id)
        try:
            request = await asyncio.wait_for(asyncio.shield(pairing.request), self.pairing_timeout)
        except asyncio.TimeoutError:
            self._forget(invocation_id, pairing)
            raise HttpCoordinationTimeout(
                f"the HTTP request for invocation {invocation_id} was not forwarded to the worker within "
                f"{self.pairing_timeout:g} s (header {INVOCATION_ID_HEADER})"
            ) from None
        if not pairing.claimed.done():
            pairing.claimed.set_result(None)
        return request

    def complete(self, invocation_id: str, response: func.HttpResponse | BaseException) -> None:
        """Give the waiting HTTP request its response (or the error to answer with); idempotent."""
        pairing = self._pairings.pop(invocation_id, None)
        if pairing is None or pairing.response.done():
            return
        if not pairing.claimed.done():
            pairing.claimed.set_result(None)
        if isinstance(response, BaseException):
            if not isinstance(response, Exception):  # cancellation: answer, do not abort the caller
                response = InvocationCancelledError(f"invocation {invocation_id} was cancelled")
            pairing.response.set_exception(response)
            # Nobody may be waiting (the request never came); mark the exception retrieved.
            pairing.response.exception()
        else:
            pairing.response.set_result(response)
