"""The dev host's HTTP front door: ``/api/<route>`` for HTTP triggers, the Durable management
API under ``/runtime/webhooks/durabletask``.

An HTTP-triggered call becomes an InvocationRequest (the http trigger as RpcHttp, every
``durableClient`` binding as the gRPC-protocol binding data JSON) and, when the worker serves
HTTP itself (``HttpUri``), the request is forwarded to it with ``x-ms-invocation-id``; the
two travel concurrently (the worker pairs them whichever comes first) and the caller gets
the worker's HTTP response.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from ..client.management_urls import WEBHOOK_PATH
from ..functions.client_binding import DurableClientBindingData
from ..protocol.function_rpc import frpc
from ..sidecar.hub import TaskHubRegistry
from .function_rpc_host import FunctionRpcHost, WorkerUnavailableError
from .http_errors import durable_errors, error_response
from .keys import KeyStore, presented_key
from .log_lines import log_line
from .management_api import ManagementApi
from .routes import ROUTE_PREFIX, HttpRoute, RouteTable, prefixed_path

log = logging.getLogger(__name__)

INVOCATION_ID_HEADER = "x-ms-invocation-id"
#: Headers that describe one hop's connection, not the request.
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
GRPC_HTTP_CLIENT_TIMEOUT = "00:01:40"


@dataclass(frozen=True, slots=True)
class FrontDoorSettings:
    """How the front door describes the sidecar to durableClient bindings."""

    rpc_base_url: Callable[[], str]
    max_grpc_message_size: int
    invocation_timeout: float = 230.0  # the Functions host's HTTP timeout
    #: host.json extensions.http.routePrefix ("" = HTTP triggers at the root).
    route_prefix: str = ROUTE_PREFIX


class FrontDoor:
    """Serves HTTP triggers and the management API on 127.0.0.1."""

    def __init__(
        self, functions: FunctionRpcHost, hubs: TaskHubRegistry, keys: KeyStore, settings: FrontDoorSettings
    ) -> None:
        self.functions = functions
        self.hubs = hubs
        self.keys = keys
        self.settings = settings
        self.management = ManagementApi(
            hubs, keys=keys, known_orchestrators=lambda: functions.functions.orchestrator_names() or None
        )
        self._routes: RouteTable | None = None
        self._routes_of: object = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._binding_texts: dict[tuple[object, ...], str] = {}
        self._completions: set[asyncio.Task[frpc.InvocationResponse]] = set()
        self.port = 0

    def application(self) -> web.Application:
        app = web.Application(middlewares=[durable_errors], client_max_size=100 * 1024 * 1024)
        app.add_subapp(WEBHOOK_PATH, self.management.application())
        # The management API is registered first, so an empty prefix does not shadow it.
        app.router.add_route("*", prefixed_path(self.settings.route_prefix, "{tail:.*}"), self.http_trigger)
        return app

    async def start(self, port: int = 7071, host: str = "127.0.0.1") -> int:
        # One pooled session: each forwarded request reuses a kept-alive connection.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)
        )
        self._runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=30.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        """Stop accepting; in-flight requests finish (up to the shutdown timeout), then the
        invocations whose HTTP answer already went out."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._completions:
            await asyncio.wait(set(self._completions), timeout=self.settings.invocation_timeout)
        if self._session is not None:
            await self._session.close()

    def routes(self) -> RouteTable:
        """The HTTP routes of the currently loaded functions (rebuilt after a worker restart)."""
        table = self.functions.functions
        if self._routes is None or self._routes_of is not table:
            self._routes = RouteTable([HttpRoute.of(f) for f in table.http_functions()])
            self._routes_of = table
        return self._routes

    # -- HTTP triggers ---------------------------------------------------------------------
    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        route, params, path_known = self.routes().match(tail, request.method)
        if route is None:
            if path_known:
                return error_response(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}")
            return error_response(404, "NotFound", f"no function serves {request.path}")
        self.keys.check_function(route.auth_level, route.function.name, presented_key(request.query, request.headers))
        body = await request.read()
        invocation_id = str(uuid.uuid4())
        invocation = self._invocation(request, route, params, body, invocation_id)
        name = route.function.name
        log_line(log, logging.INFO, "Executing 'Functions.%s' (%s %s, Id=%s)",
                 (name, request.method, request.path, invocation_id))
        started = time.perf_counter()
        # "Executed" is written in a callback, i.e. once the HTTP answer is out (aiohttp
        # writes it in the same step as this handler returns), not while the caller waits.
        loop = asyncio.get_running_loop()
        try:
            response = await self._run(request, invocation, body)
        except WorkerUnavailableError as exc:
            loop.call_soon(log_line, log, logging.ERROR, "Executed 'Functions.%s' (Failed, Id=%s): %s",
                           (name, invocation_id, exc))
            return error_response(503, "WorkerUnavailable", str(exc))
        except asyncio.TimeoutError:
            # As the Functions host does: the worker is told to cancel (see invoke) and the
            # invocation is logged as failed; the caller gets a gateway timeout naming it.
            limit = self.settings.invocation_timeout
            loop.call_soon(log_line, log, logging.ERROR,
                           "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): timeout value of %g s exceeded",
                           (name, invocation_id, (time.perf_counter() - started) * 1000, limit))
            return error_response(504, "InvocationTimeout", f"function {name!r} did not finish within the "
                                  f"invocation timeout ({limit:g} s); the worker was asked to cancel it")
        loop.call_soon(log_line, log, logging.INFO, "Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)", (
            name, "Succeeded" if response.status < 500 else "Failed", invocation_id,
            (time.perf_counter() - started) * 1000))
        return response

    def _invocation(
        self, request: web.Request, route: HttpRoute, params: dict[str, str], body: bytes, invocation_id: str
    ) -> frpc.InvocationRequest:
        # Filled in place: a message built apart and passed to a constructor is copied.
        invocation = frpc.InvocationRequest(invocation_id=invocation_id, function_id=route.function.function_id)
        http = invocation.input_data.add(name=route.trigger_name).data.http
        http.method = request.method
        http.url = str(request.url)
        http.headers.update({k.lower(): v for k, v in request.headers.items()})
        http.params.update(params)
        http.query.update(request.query.items())
        http.body.bytes = body
        origin = f"{request.scheme}://{request.host}"
        for binding in route.client_bindings:
            invocation.input_data.add(name=str(binding["name"])).data.string = self._binding_json(binding, origin)
        for key, value in params.items():
            invocation.trigger_metadata[key].string = value
        return invocation

    def _binding_json(self, binding: dict[str, object], origin: str) -> str:
        # The same few texts for every request: built once per (hub, connection, origin).
        cache_key = (_str(binding.get("taskHub")), _str(binding.get("connectionName")), origin,
                     self.keys.management_key, self.settings.rpc_base_url())
        text = self._binding_texts.get(cache_key)
        if text is None:
            if len(self._binding_texts) >= 256:  # origins come from Host headers: keep it bounded
                self._binding_texts.clear()
            text = self._binding_texts[cache_key] = self.binding_data(binding, origin).to_json()
        return text

    def binding_data(self, binding: dict[str, object], origin: str) -> DurableClientBindingData:
        """The gRPC-protocol durableClient payload for ``binding`` (its taskHub and
        connectionName properties, else the host's default hub)."""
        hub = self.hubs.get(_str(binding.get("taskHub")), _str(binding.get("connectionName")))
        key = self.keys.management_key
        return DurableClientBindingData(
            rpc_base_url=self.settings.rpc_base_url(),
            task_hub=hub.name,
            connection_name=hub.options.storage.connection_name,
            required_query_string=f"code={key}" if key else None,
            http_base_url=f"{origin}{WEBHOOK_PATH}",
            max_message_size=self.settings.max_grpc_message_size,
            timeout=GRPC_HTTP_CLIENT_TIMEOUT,
            use_forwarded_host=False,
        )

    async def _run(self, request: web.Request, invocation: frpc.InvocationRequest, body: bytes) -> web.StreamResponse:
        timeout = self.settings.invocation_timeout
        uri = self.functions.http_uri
        if uri is None:
            # The worker does not serve HTTP: request and response travel inside the RPC.
            reply = await self.functions.invoke(invocation, timeout=timeout)
            return _from_rpc(reply)
        assert self._session is not None
        invoked = asyncio.create_task(self.functions.invoke(invocation, timeout=timeout))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        headers[INVOCATION_ID_HEADER] = invocation.invocation_id
        try:
            async with self._session.request(request.method, f"{uri}{request.path_qs}", headers=headers, data=body) as forwarded:
                content = await forwarded.read()
                answer = web.Response(status=forwarded.status, body=content, headers={
                    k: v for k, v in forwarded.headers.items() if k.lower() not in _HOP_HEADERS})
        except aiohttp.ClientError as exc:
            self.functions.cancel(invocation.invocation_id)
            invoked.cancel()
            await asyncio.gather(invoked, return_exceptions=True)
            raise WorkerUnavailableError(f"forwarding to the worker's HTTP server failed: {exc}") from exc
        # The caller has its answer: it need not also wait for the InvocationResponse, which
        # the worker sends right after. Its outcome is still logged, and stop() waits for it.
        if invoked.done():
            _log_outcome(invocation.invocation_id, invoked)
        else:
            self._completions.add(invoked)
            invoked.add_done_callback(self._completions.discard)
            invoked.add_done_callback(functools.partial(_log_outcome, invocation.invocation_id))
        return answer


def _log_outcome(invocation_id: str, invoked: "asyncio.Task[frpc.InvocationResponse]") -> None:
    if invoked.cancelled():
        log.warning("function invocation %s was cancelled", invocation_id)
        return
    error = invoked.exception()
    if error is not None:
        log.error("function invocation %s got no response: %s", invocation_id, error)
        return
    reply = invoked.result()
    if reply.result.status != frpc.StatusResult.Success:
        log.error("function invocation %s failed: %s", invocation_id, reply.result.exception.message)


def _from_rpc(reply: frpc.InvocationResponse) -> web.Response:
    if reply.result.status != frpc.StatusResult.Success:
        return error_response(500, "FunctionInvocationException", reply.result.exception.message)
    value = reply.return_value
    if value.WhichOneof("data") != "http":
        return web.Response(status=200 if value.WhichOneof("data") else 204, body=_bytes_of(value))
    http = value.http
    return web.Response(status=int(http.status_code or 200), headers=dict(http.headers), body=_bytes_of(http.body))


def _bytes_of(value: frpc.TypedData) -> bytes:
    kind = value.WhichOneof("data")
    if kind == "bytes":
        return bytes(value.bytes)
    if kind in ("string", "json"):
        text: str = getattr(value, kind)
        return text.encode("utf-8")
    return b"" if kind is None else str(getattr(value, kind)).encode("utf-8")


def _str(value: object) -> str | None:
    return str(value) if value else None
