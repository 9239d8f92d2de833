"""The invocation middleware chain: one ``Handler`` signature, each middleware wraps the next.

    pipeline = build_pipeline(FunctionExecutor(...), [
        Middleware(HttpProxyingMiddleware, coordinator=coordinator),
        Middleware(OutputBindingsMiddleware),
    ])
    await pipeline(context)

The first middleware in the list is the outermost. Middleware forwards by awaiting
``self.app(context)``; there is no ``call_next`` adapter.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import azure.functions as func

from .binding_types import HTTP_OUTPUT, RETURN_BINDING
from .context import NO_RESULT, FunctionContext, OutputBinding
from .http_coordinator import HttpCoordinator

Handler = Callable[[FunctionContext], Awaitable[None]]


class Middleware:
    """A middleware class and its options, instantiated once around the next handler."""

    def __init__(self, cls: Callable[..., Handler], **options: Any) -> None:
        self.cls = cls
        self.options = options

    def wrap(self, app: Handler) -> Handler:
        return self.cls(app, **self.options)


def build_pipeline(endpoint: Handler, middleware: Sequence[Middleware]) -> Handler:
    """``middleware[0](middleware[1](... endpoint))``."""
    app = endpoint
    for item in reversed(middleware):
        app = item.wrap(app)
    return app


class HttpProxyingMiddleware:
    """For HTTP triggers: joins the forwarded HTTP request, runs the rest of the chain, writes
    the result to the real HTTP response. Other triggers pass straight through."""

    def __init__(self, app: Handler, *, coordinator: HttpCoordinator) -> None:
        self.app = app
        self.coordinator = coordinator

    async def __call__(self, context: FunctionContext) -> None:
        if not context.function.is_http_trigger:
            await self.app(context)
            return
        outcome: func.HttpResponse | BaseException = RuntimeError(
            f"invocation {context.invocation_id} produced no HTTP response"
        )
        try:
            forwarded = await self.coordinator.claim_request(context.invocation_id)
            context.http_request = _with_route_params(forwarded, context)
            await self.app(context)
            response = _http_result(context)
            if response is not None:
                outcome = response
                context.http_response_written = True
                # Written to the real response: the host gets no RpcHttp copy of it.
                for binding in context.function.bindings:
                    if binding.name == RETURN_BINDING or binding.type == HTTP_OUTPUT:
                        context.output_bindings.pop(binding.name, None)
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            self.coordinator.complete(context.invocation_id, outcome)


def _with_route_params(forwarded: func.HttpRequest, context: FunctionContext) -> func.HttpRequest:
    """The forwarded request plus the route parameters the host matched (they travel only in
    the invocation's RpcHttp)."""
    trigger = context.inputs.get(context.function.trigger.name)
    if trigger is None or trigger.WhichOneof("data") != "http" or not trigger.http.params:
        return forwarded
    return func.HttpRequest(
        method=forwarded.method,
        url=forwarded.url,
        headers=dict(forwarded.headers),
        params=dict(forwarded.params),
        route_params={**forwarded.route_params, **dict(trigger.http.params)},
        body=forwarded.get_body(),
    )


def _http_result(context: FunctionContext) -> func.HttpResponse | None:
    """The HttpResponse the function produced, through ``$return`` or an ``http`` output."""
    if isinstance(context.invocation_result, func.HttpResponse):
        return context.invocation_result
    for binding in context.function.bindings:
        if binding.type == HTTP_OUTPUT and binding.is_output:
            value = context.output_bindings.get(binding.name)
            if isinstance(value, func.HttpResponse):
                return value
    if context.invocation_result is NO_RESULT or context.invocation_result is None:
        return func.HttpResponse(status_code=204)
    if isinstance(context.invocation_result, (str, bytes)):
        return func.HttpResponse(context.invocation_result)
    if isinstance(context.invocation_result, (dict, list)):
        return func.HttpResponse(json.dumps(context.invocation_result), mimetype="application/json")
    return None


class OutputBindingsMiddleware:
    """After the function ran: output-binding parameters (``func.Out``) become output data and
    the return value goes to ``$return`` when the function declares one."""

    def __init__(self, app: Handler) -> None:
        self.app = app

    async def __call__(self, context: FunctionContext) -> None:
        await self.app(context)
        outputs: dict[str, Any] = {}
        for binding in context.function.bindings:
            if not binding.is_output or binding.name == RETURN_BINDING:
                continue
            value = context.output_bindings.get(binding.name)
            outputs[binding.name] = value.get() if isinstance(value, OutputBinding) else value
        has_return = any(b.name == RETURN_BINDING for b in context.function.bindings)
        if has_return and context.invocation_result is not NO_RESULT and not context.http_response_written:
            outputs[RETURN_BINDING] = context.invocation_result
        context.output_bindings = outputs
