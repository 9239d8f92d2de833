"""FunctionExecutor: the innermost handler; binds inputs and calls the function.

Dispatch goes through a lookup table keyed by entry point (``module.function``), built once
when functions load; no if/elif over names. Orchestration functions are entry functions over
the app's registry: the replay executor picks the orchestrator by the name AND version in the
instance's history (``Registry.get_orchestrator(name, version)``).

Input binding, by binding type (a table again): HTTP triggers get an ``azure.functions``
HttpRequest (the forwarded one when proxying), activity triggers their decoded JSON input,
``durableClient`` and orchestration triggers the host's text (the adapters in adapters.py
turn it into a client / run the replay), anything else its plain TypedData value. Output
parameters (direction out, not ``$return``) get a ``func.Out``.
"""
from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from typing import Any

from ..core.errors import InvalidArgumentError, NotFoundError
from .binding_types import ACTIVITY_TRIGGER, HTTP_TRIGGER, RETURN_BINDING
from .context import FunctionContext, OutputBinding
from .definitions import BindingDefinition, FunctionDefinition
from .typed_data import from_typed_data, http_request_from_rpc

Invoker = Callable[[FunctionContext], Any]


def _http_input(context: FunctionContext, binding: BindingDefinition) -> Any:
    if context.http_request is not None:
        return context.http_request
    data = context.inputs.get(binding.name)
    if data is None or data.WhichOneof("data") != "http":
        raise InvalidArgumentError(f"function {context.function_name}: no HTTP request for '{binding.name}'")
    return http_request_from_rpc(data.http)


def _activity_input(context: FunctionContext, binding: BindingDefinition) -> Any:
    value = from_typed_data(context.inputs.get(binding.name))
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            return json.loads(value) if value else None
        except ValueError:
            return value  # a plain string input the host did not JSON-encode
    return value


def _plain_input(context: FunctionContext, binding: BindingDefinition) -> Any:
    return from_typed_data(context.inputs.get(binding.name))


_INPUT_BINDERS: dict[str, Callable[[FunctionContext, BindingDefinition], Any]] = {
    HTTP_TRIGGER: _http_input,
    ACTIVITY_TRIGGER: _activity_input,
}


class FunctionExecutor:
    """Calls the function of ``context`` and stores its return value on the context.

    ``def`` functions run in a worker thread (``asyncio.to_thread`` carries the context
    variables over, so user logs keep their invocation id).
    """

    def __init__(self) -> None:
        self._invokers: dict[str, Invoker] = {}

    def load(self, function: FunctionDefinition) -> None:
        """Add ``function`` to the dispatch table (FunctionLoadRequest)."""
        self._invokers[function.entry_point] = _invoker(function)

    def is_loaded(self, function: FunctionDefinition) -> bool:
        return function.entry_point in self._invokers

    async def __call__(self, context: FunctionContext) -> None:
        invoker = self._invokers.get(context.function.entry_point)
        if invoker is None:
            raise NotFoundError(
                f"function {context.function_name} ({context.function.entry_point}) was not loaded "
                "(no FunctionLoadRequest for it)"
            )
        context.invocation_result = await invoker(context)


def _invoker(function: FunctionDefinition) -> Callable[[FunctionContext], Any]:
    fn = function.user_function
    parameters = inspect.signature(fn).parameters
    inputs = [b for b in function.bindings if b.is_input and b.name in parameters]
    outputs = [b for b in function.bindings if b.is_output and b.name != RETURN_BINDING and b.name in parameters]
    binders = [(b.name, _INPUT_BINDERS.get(b.type, _plain_input), b) for b in inputs]
    output_names = [b.name for b in outputs]

    def arguments(context: FunctionContext) -> dict[str, Any]:
        kwargs = {name: binder(context, binding) for name, binder, binding in binders}
        for name in output_names:
            out = OutputBinding()
            context.output_bindings[name] = out
            kwargs[name] = out
        return kwargs

    if inspect.iscoroutinefunction(fn):

        async def call_async(context: FunctionContext) -> Any:
            return await fn(**arguments(context))

        return call_async

    async def call_in_thread(context: FunctionContext) -> Any:
        result = await asyncio.to_thread(fn, **arguments(context))  # copies context variables
        if inspect.isawaitable(result):  # a def that returned a coroutine
            result = await result
        return result

    return call_in_thread
