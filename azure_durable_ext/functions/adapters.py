"""The functions a Functions worker actually calls for durable decorators.

This module is the one place where user functions are wrapped. The wrapping is unavoidable:
the real Python worker hands a ``durableClient`` parameter to the function as the host's JSON
string and refuses, when it loads the function, any annotation other than ``str`` for it. So
the function the worker sees is a wrapper (``functools.wraps``, ``def`` or ``async def`` like
the user's) whose own ``__signature__`` / ``__annotations__`` say ``str`` for those parameters;
per call it turns the JSON into a client, calls the user's function and closes the client (the
gRPC channel under it is shared across invocations, see client_pool.py). The user's function
object is never modified.

Orchestrators are different: under the gRPC protocol the trigger payload is a base64
``OrchestratorRequest`` and the result a base64 ``OrchestratorResponse``, so the worker calls
an entry function (``(context: func.OrchestrationContext) -> str``, the annotation the real
worker requires for orchestration triggers) that runs the replay executor over the app's
registry.
"""
from __future__ import annotations

import base64
import binascii
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
from google.protobuf.message import DecodeError

from .._proto import pb
from ..client.base import DurableTaskClient
from ..client.sync import SyncDurableTaskClient
from ..core.errors import InvalidArgumentError, VersionMismatchError
from ..core.orchestration import Registry, execute_orchestrator
from ..core.versions import VersioningOptions
from .client_binding import DurableClientBindingData

log = logging.getLogger(__name__)

#: Attribute of an adapted function listing its durableClient parameter names (mutable: a
#: second durable_client_input decorator adds to it).
CLIENT_PARAMETERS_ATTR = "durable_client_parameters"


def client_parameters(fn: Callable[..., Any]) -> list[str] | None:
    """The durableClient parameter list of an adapted function, None for other callables."""
    value = getattr(fn, CLIENT_PARAMETERS_ATTR, None)
    return value if isinstance(value, list) else None


def adapt_client_parameters(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A wrapper of ``fn`` converting its durableClient parameters (see the module doc).

    Parameter names are added later with ``add_client_parameter``. A value that already is a
    client (a test passing one) is handed through untouched and not closed.
    """
    names: list[str] = []
    signature = inspect.signature(fn)
    # Workers pass every argument by name; for such a call to a function whose parameters
    # can all be named, the keywords are the arguments as they are (no Signature.bind per call).
    by_name = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in signature.parameters.values())

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def adapted_async(*args: Any, **kwargs: Any) -> Any:
            bound = None if by_name and not args else signature.bind(*args, **kwargs)
            arguments = kwargs if bound is None else bound.arguments
            opened: list[DurableTaskClient | None] = []
            try:
                opened.extend(_open_async(arguments, name) for name in names if name in arguments)
                if bound is None:
                    return await fn(**arguments)
                return await fn(*bound.args, **bound.kwargs)
            finally:
                for client in opened:
                    if client is not None:
                        await client.close()

        adapted: Callable[..., Any] = adapted_async
    else:

        @functools.wraps(fn)
        def adapted_sync(*args: Any, **kwargs: Any) -> Any:
            bound = None if by_name and not args else signature.bind(*args, **kwargs)
            arguments = kwargs if bound is None else bound.arguments
            opened: list[SyncDurableTaskClient | None] = []
            try:
                opened.extend(_open_sync(arguments, name) for name in names if name in arguments)
                if bound is None:
                    return fn(**arguments)
                return fn(*bound.args, **bound.kwargs)
            finally:
                for client in opened:
                    if client is not None:
                        client.close()

        adapted = adapted_sync
    setattr(adapted, CLIENT_PARAMETERS_ATTR, names)
    _describe_as_str(adapted, signature, names)
    return adapted


def add_client_parameter(adapted: Callable[..., Any], name: str) -> None:
    """Mark parameter ``name`` of an adapted function as a durableClient parameter."""
    names = client_parameters(adapted)
    if names is None:
        raise InvalidArgumentError(f"{adapted!r} is not a function adapted for durableClient parameters")
    signature = inspect.signature(inspect.unwrap(adapted))
    if name not in signature.parameters:
        raise InvalidArgumentError(
            f"durable_client_input(client_name={name!r}): function "
            f"{getattr(adapted, '__name__', adapted)!r} has no parameter {name!r}"
        )
    if name not in names:
        names.append(name)
    _describe_as_str(adapted, signature, names)


def _describe_as_str(adapted: Callable[..., Any], signature: inspect.Signature, names: list[str]) -> None:
    # The worker reads the wrapper's own signature and annotations (functools.wraps copied the
    # user's; these replace the copies, never the user's originals).
    parameters = [p.replace(annotation=str) if p.name in names else p for p in signature.parameters.values()]
    adapted.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    annotations = dict(getattr(adapted, "__annotations__", {}))
    annotations.update({name: str for name in names})
    adapted.__annotations__ = annotations


def _open_async(arguments: dict[str, Any], name: str) -> DurableTaskClient | None:
    value = arguments[name]
    if isinstance(value, (DurableTaskClient, SyncDurableTaskClient)):
        return None
    client = DurableClientBindingData.parse(value).invocation_client()
    arguments[name] = client
    return client


def _open_sync(arguments: dict[str, Any], name: str) -> SyncDurableTaskClient | None:
    value = arguments[name]
    if isinstance(value, (DurableTaskClient, SyncDurableTaskClient)):
        return None
    client = DurableClientBindingData.parse(value).invocation_client_sync()
    arguments[name] = client
    return client


# -- orchestrations ----------------------------------------------------------------------------
def run_orchestrator_payload(
    registry: Registry, payload: str | bytes, versioning: VersioningOptions | None = None
) -> str:
    """base64 ``OrchestratorRequest`` in, base64 ``OrchestratorResponse`` out.

    Raises InvalidArgumentError for a payload that is not a base64 OrchestratorRequest and
    VersionMismatchError when versioning says to put the work item back (REJECT): the
    invocation then fails and the host retries the work item later.
    """
    request = decode_orchestrator_request(payload)
    result = execute_orchestrator(registry, request, versioning=versioning)
    if result.abandon:
        raise VersionMismatchError(result.abandon_reason or f"orchestration '{request.instanceId}' was rejected")
    return base64.b64encode(result.response.SerializeToString()).decode("ascii")


def decode_orchestrator_request(payload: str | bytes) -> pb.OrchestratorRequest:
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    try:
        raw = base64.b64decode(payload, validate=True)
        request: pb.OrchestratorRequest = pb.OrchestratorRequest.FromString(raw)
        return request
    except (binascii.Error, ValueError, DecodeError) as exc:
        raise InvalidArgumentError(f"orchestration trigger payload is not a base64 OrchestratorRequest: {exc}") from None


def orchestrator_entry(
    registry: Callable[[], Registry],
    user_fn: Callable[..., Any],
    context_name: str,
    versioning: Callable[[], VersioningOptions | None],
) -> Callable[..., str]:
    """The function the worker calls for an orchestration trigger: ``(context: str) -> str``,
    named like ``user_fn``. Every registered version of the orchestration goes through it
    (the executor picks the version from the history). ``registry`` and ``versioning`` are
    read per call: a blueprint's functions use the app it was registered on."""

    def entry(*args: Any, **kwargs: Any) -> str:
        value = kwargs[context_name] if context_name in kwargs else args[0]
        # The real worker hands an azure.functions OrchestrationContext (its body is the
        # payload text); our worker hands the text itself.
        payload = value.body if isinstance(value, func.OrchestrationContext) else value
        return run_orchestrator_payload(registry(), payload, versioning())

    functools.update_wrapper(entry, user_fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    # The real worker accepts only an OrchestrationContext annotation on this parameter.
    parameter = inspect.Parameter(
        context_name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=func.OrchestrationContext
    )
    entry.__signature__ = inspect.Signature([parameter], return_annotation=str)  # type: ignore[attr-defined]
    entry.__annotations__ = {context_name: func.OrchestrationContext, "return": str}
    return entry
