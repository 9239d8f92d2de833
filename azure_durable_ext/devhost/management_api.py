"""The Durable HTTP management API (``/runtime/webhooks/durabletask/...``) over DurableClient.

    app = web.Application()
    app.add_subapp(WEBHOOK_PATH, ManagementApi(hubs, keys=keys).application())

Routes (Durable Functions' HTTP API):

- ``POST orchestrators/{functionName}[/{instanceId}]``: start (JSON body = input, ``?version=``);
  202 with the check-status payload, ``Location`` and ``Retry-After: 10``.
- ``GET instances/``: query (instanceIdPrefix, createdTimeFrom, createdTimeTo, runtimeStatus,
  top + ``x-ms-continuation-token`` paging, showInput); ``DELETE instances/``: purge by filter.
- ``GET instances/{id}`` (showHistory, showHistoryOutput, showInput): 202 + Location while not
  finished, 200 when terminal, 404 unknown. ``DELETE instances/{id}``: purge.
- ``POST instances/{id}/terminate|suspend|resume?reason=``, ``.../restart``, ``.../rewind``,
  ``.../raiseEvent/{eventName}`` (JSON body = event data).

Every link carries ``taskHub=..&connection=..`` (the hub the request named, else the default)
and ``code=`` when keys are in use. Errors answer with the exception's http_status and
``{"error", "message"}``.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from functools import partial
from typing import Any

from aiohttp import web

from ..client.management_urls import WEBHOOK_PATH, build_management_urls
from ..core.errors import InvalidArgumentError, NotFoundError
from ..core.model import InstanceQuery, PurgeFilter
from ..sidecar.hub import TaskHub, TaskHubRegistry
from .http_errors import durable_errors
from .keys import KeyStore, presented_key
from .query_params import get_bool, get_datetime, get_positive_int, get_statuses, json_body_text
from .status_json import history_event, instance_status

RETRY_AFTER_SECONDS = 10
CONTINUATION_HEADER = "x-ms-continuation-token"
#: Page size when the caller gives no ``top`` (pages are then followed to the end).
_PAGE_SIZE = 100

HUB_KEY = web.AppKey("durable_hub_registry", TaskHubRegistry)


class ManagementApi:
    """Handlers of the management API for the hubs of one host.

    ``known_orchestrators`` (optional) returns the orchestrator names the app has; a start
    naming another one is refused with 404 naming it. ``public_base_url`` fixes the links'
    origin (default: the origin the request came to).
    """

    def __init__(
        self,
        hubs: TaskHubRegistry,
        *,
        keys: KeyStore | None = None,
        known_orchestrators: Callable[[], Collection[str] | None] | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.hubs = hubs
        self.keys = keys or KeyStore()
        self.known_orchestrators = known_orchestrators
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    def application(self) -> web.Application:
        """A sub-application to mount at WEBHOOK_PATH."""
        app = web.Application(middlewares=[durable_errors, self._auth])
        app[HUB_KEY] = self.hubs
        r = app.router
        r.add_post("/orchestrators/{functionName}", self.start)
        r.add_post("/orchestrators/{functionName}/{instanceId}", self.start)
        for path in ("/instances", "/instances/"):
            r.add_get(path, self.list_instances)
            r.add_delete(path, self.purge_by_filter)
        r.add_get("/instances/{instanceId}", self.get_instance)
        r.add_delete("/instances/{instanceId}", self.purge_instance)
        for operation in ("terminate", "suspend", "resume", "rewind"):
            r.add_post(f"/instances/{{instanceId}}/{operation}", partial(self._with_reason, operation=operation))
        r.add_post("/instances/{instanceId}/restart", self.restart)
        r.add_post("/instances/{instanceId}/raiseEvent/{eventName}", self.raise_event)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.keys.check_management(presented_key(request.query, request.headers))
        return await handler(request)  # type: ignore[no-any-return]

    # -- helpers ---------------------------------------------------------------------------
    def _hub(self, request: web.Request) -> TaskHub:
        return self.hubs.get(request.query.get("taskHub"), request.query.get("connection"))

    def _base_url(self, request: web.Request) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}{WEBHOOK_PATH}"
        return f"{request.scheme}://{request.host}{WEBHOOK_PATH}"

    def links(self, request: web.Request, hub: TaskHub, instance_id: str) -> dict[str, str]:
        return build_management_urls(
            self._base_url(request),
            instance_id,
            task_hub=hub.name,
            connection=hub.options.storage.connection_name,
            code=self.keys.management_key,
        )

    def check_status_response(self, request: web.Request, hub: TaskHub, instance_id: str) -> web.Response:
        payload = self.links(request, hub, instance_id)
        return web.json_response(
            payload,
            status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    def _check_orchestrator(self, name: str) -> None:
        known = self.known_orchestrators() if self.known_orchestrators is not None else None
        if known is None:
            return
        if name.casefold() not in {k.casefold() for k in known}:
            listed = ", ".join(sorted(known)) or "none"
            raise NotFoundError(f"orchestrator function {name!r} does not exist in this app (known: {listed})")

    # -- start -----------------------------------------------------------------------------
    async def start(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        name = request.match_info["functionName"]
        self._check_orchestrator(name)
        data = json_body_text(await request.read(), f"starting {name}")
        instance_id = await hub.durable.start_new(
            name,
            request.match_info.get("instanceId") or None,
            request.query.get("version") or None,
            data,
        )
        return self.check_status_response(request, hub, instance_id)

    # -- queries ---------------------------------------------------------------------------
    async def list_instances(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        q = request.query
        top = get_positive_int(q, "top")
        query = InstanceQuery(
            statuses=get_statuses(q),
            created_from=get_datetime(q, "createdTimeFrom"),
            created_to=get_datetime(q, "createdTimeTo"),
            instance_id_prefix=q.get("instanceIdPrefix") or None,
            page_size=top or _PAGE_SIZE,
            continuation_token=request.headers.get(CONTINUATION_HEADER) or None,
            include_payloads=get_bool(q, "showInput", False),
        )
        show_input = query.include_payloads
        page = await hub.durable.query(query)
        states = list(page.instances)
        token = page.continuation_token
        while top is None and token:
            page = await hub.durable.query(replace(query, continuation_token=token))
            states += page.instances
            token = page.continuation_token
        body = [instance_status(s, show_input=show_input) for s in states]
        headers = {CONTINUATION_HEADER: token} if token else {}
        return web.json_response(body, headers=headers)

    async def get_instance(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        instance_id = request.match_info["instanceId"]
        q = request.query
        show_input = get_bool(q, "showInput", True)
        show_history = get_bool(q, "showHistory", False)
        show_output = get_bool(q, "showHistoryOutput", False)
        state = await hub.durable.get_status(instance_id, include_payloads=True)
        if state is None:
            raise NotFoundError(f"No orchestration instance with the ID {instance_id} was found.")
        body = instance_status(state, show_input=show_input)
        if show_history:
            events = await hub.durable.history(instance_id)
            body["historyEvents"] = [history_event(e, show_output=show_output) for e in events]
        if state.status.is_terminal:
            return web.json_response(body)
        location = self.links(request, hub, instance_id)["statusQueryGetUri"]
        return web.json_response(
            body, status=202, headers={"Location": location, "Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    # -- purge -----------------------------------------------------------------------------
    async def purge_instance(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        instance_id = request.match_info["instanceId"]
        deleted = await hub.durable.purge(instance_id)
        if deleted == 0:
            raise NotFoundError(f"No orchestration instance with the ID {instance_id} was found.")
        return web.json_response({"instancesDeleted": deleted})

    async def purge_by_filter(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        q = request.query
        created_from = get_datetime(q, "createdTimeFrom")
        if created_from is None:
            # As in Durable: a filter purge names its time window, so a bare DELETE cannot
            # wipe the hub by accident.
            raise InvalidArgumentError("query parameter createdTimeFrom is required to purge by filter")
        deleted = await hub.durable.purge_by_filter(
            PurgeFilter(created_from=created_from, created_to=get_datetime(q, "createdTimeTo"), statuses=get_statuses(q))
        )
        if deleted == 0:
            raise NotFoundError("no instance matched the purge filter")
        return web.json_response({"instancesDeleted": deleted})

    # -- operations on one instance --------------------------------------------------------
    async def _with_reason(self, request: web.Request, operation: str) -> web.Response:
        """terminate / suspend / resume / rewind: ``?reason=``, 202 when accepted."""
        durable = self._hub(request).durable
        await getattr(durable, operation)(request.match_info["instanceId"], request.query.get("reason"))
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        new_id = get_bool(request.query, "restartWithNewInstanceId", True)
        instance_id = await hub.durable.restart(request.match_info["instanceId"], new_instance_id=new_id)
        return self.check_status_response(request, hub, instance_id)

    async def raise_event(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        event_name = request.match_info["eventName"]
        data = json_body_text(await request.read(), f"event {event_name}")
        await hub.durable.raise_event(request.match_info["instanceId"], event_name, data)
        return web.Response(status=202)

