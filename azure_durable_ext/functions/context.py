"""FunctionContext: one invocation as it travels through the middleware chain."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from ..protocol.function_rpc import frpc
from .definitions import FunctionDefinition

#: ``invocation_result`` before the function set one.
NO_RESULT: Any = type("NoResult", (), {"__repr__": lambda self: "NO_RESULT"})()


class OutputBinding(func.Out):
    """The ``func.Out`` a function with an output-binding parameter receives."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


@dataclass(eq=False)
class FunctionContext:
    """Inputs, outputs and per-invocation state of one function invocation.

    Middleware reads and writes it; the executor fills ``invocation_result`` and
    ``output_bindings``; the invocation handler turns them into the InvocationResponse.
    """

    invocation_id: str
    function: FunctionDefinition
    request: frpc.InvocationRequest
    inputs: dict[str, frpc.TypedData] = field(default_factory=dict)
    output_bindings: dict[str, Any] = field(default_factory=dict)
    invocation_result: Any = NO_RESULT
    #: The HTTP request forwarded to the worker's own server (HTTP proxying), if any.
    http_request: func.HttpRequest | None = None
    #: Set once the result was written to the real HTTP response (no RpcHttp to send).
    http_response_written: bool = False
    items: dict[str, Any] = field(default_factory=dict)
    closed: bool = False

    @classmethod
    def create(cls, request: frpc.InvocationRequest, function: FunctionDefinition) -> "FunctionContext":
        inputs = {binding.name: binding.data for binding in request.input_data}
        return cls(request.invocation_id, function, request, inputs)

    @property
    def function_name(self) -> str:
        return self.function.name

    def close(self) -> None:
        """Release what the invocation held (idempotent)."""
        self.closed = True
        self.items.clear()
