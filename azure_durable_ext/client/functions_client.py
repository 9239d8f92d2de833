"""FunctionsDurableTaskClient: the client a Functions app receives through ``durableClient``.

Like the .NET isolated worker's class of the same name, it wraps an inner DurableTaskClient
(the gRPC one) and delegates every operation to it unchanged, adding what only makes sense
inside a Functions app: the HTTP management links of an instance and the 202 check-status
response built from them.
"""
from __future__ import annotations

import json
from typing import TypeVar

import azure.functions as func

from .base import DurableTaskClient
from .management_urls import (
    base_url_from_request_url,
    build_management_urls,
    code_from_query_string,
    forwarded_origin,
    with_origin,
)
from .operations import Operation

R = TypeVar("R")

#: Seconds a poller should wait before asking again (the Retry-After header).
RETRY_AFTER_SECONDS = 10


class FunctionsDurableTaskClient(DurableTaskClient):
    """Delegates to ``inner``; knows the task hub, connection and key for management links.

    ``http_base_url`` is the binding's httpBaseUrl (``http://localhost:7071/runtime/webhooks/durabletask``);
    when absent, links are derived from the triggering request's URL. The function key
    (``code``) comes from ``required_query_string`` (the binding's
    requiredQueryStringParameters), else from ``query_string`` (the triggering request's).
    ``close()`` closes ``inner`` unless ``owns_inner`` is False (a shared inner client); either
    way this wrapper refuses calls once closed. ``use_forwarded_host`` (the binding's
    useForwardedHost) builds links from the request's ``X-Forwarded-Host`` /
    ``X-Forwarded-Proto`` headers, for apps behind a proxy or gateway.
    """

    def __init__(
        self,
        inner: DurableTaskClient,
        *,
        http_base_url: str | None = None,
        task_hub: str,
        connection_name: str | None = None,
        required_query_string: str | None = None,
        query_string: str | None = None,
        owns_inner: bool = True,
        use_forwarded_host: bool = False,
    ) -> None:
        self.inner = inner
        self.http_base_url = http_base_url or None
        self.task_hub = task_hub
        self.connection_name = connection_name or "Storage"
        self.required_query_string = required_query_string
        self.query_string = query_string
        self._owns_inner = owns_inner
        self.use_forwarded_host = use_forwarded_host
        self._closed = False

    def __repr__(self) -> str:
        return f"FunctionsDurableTaskClient({self.inner!r}, task_hub={self.task_hub!r})"

    async def execute(self, operation: Operation[R]) -> R:
        if self._closed:
            raise RuntimeError("this FunctionsDurableTaskClient is closed (a durableClient lives for one invocation)")
        return await self.inner.execute(operation)

    async def close(self) -> None:
        self._closed = True
        if self._owns_inner:
            await self.inner.close()

    @property
    def code(self) -> str | None:
        """The function key links carry, if known."""
        return code_from_query_string(self.required_query_string) or code_from_query_string(self.query_string)

    def _base_url(self, request: func.HttpRequest | None) -> str:
        if self.use_forwarded_host and request is not None:
            forwarded = forwarded_origin(request.headers)
            if forwarded is not None:
                return with_origin(self.http_base_url or base_url_from_request_url(request.url), forwarded)
        if self.http_base_url:
            return self.http_base_url
        if request is not None:
            return base_url_from_request_url(request.url)
        raise ValueError(
            "no base URL for management links: the binding gave no httpBaseUrl and no HTTP request was passed"
        )

    def create_http_management_payload(
        self, instance_id: str, request: func.HttpRequest | None = None
    ) -> dict[str, str]:
        """The instance's id and management links, keys in Durable Functions' order."""
        return build_management_urls(
            self._base_url(request),
            instance_id,
            task_hub=self.task_hub,
            connection=self.connection_name,
            code=self.code,
        )

    def create_check_status_response(self, request: func.HttpRequest, instance_id: str) -> func.HttpResponse:
        """HTTP 202 with ``Location`` (the status link), ``Retry-After: 10`` and the
        management payload as the JSON body."""
        payload = self.create_http_management_payload(instance_id, request)
        return func.HttpResponse(
            body=json.dumps(payload),
            status_code=202,
            mimetype="application/json",
            headers={
                "Location": payload["statusQueryGetUri"],
                "Retry-After": str(RETRY_AFTER_SECONDS),
                "Content-Type": "application/json",
            },
        )
