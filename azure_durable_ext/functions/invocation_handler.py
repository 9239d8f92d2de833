"""InvocationHandler: InvocationRequest in, InvocationResponse out.

In-flight invocations are kept by id with the task they run in (the cancellation handle):
the task handling the InvocationRequest message itself, not one more task per invocation
(that cost a task, a shield and two loop turns per invocation).
The response is Success with output data and return value, Failure with the exception's
message and stack, or Cancelled when the invocation was cancelled. The in-flight entry is
always removed and the context always closed.

Cancelling stops ``async def`` functions at their next await. A ``def`` function runs on a
thread, which Python cannot interrupt: the host gets Cancelled at once, and the thread runs
to its end unobserved.
"""
from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable

from ..protocol.function_rpc import frpc
from .application import FunctionsApplication
from .binding_types import RETURN_BINDING
from .context import NO_RESULT, FunctionContext
from .definitions import FunctionDefinition
from .typed_data import write_return_data, write_typed_data

log = logging.getLogger(__name__)


def rpc_exception(exc: BaseException) -> frpc.RpcException:
    """An exception as the host shows it: type, message and stack trace."""
    return frpc.RpcException(
        source=type(exc).__module__,
        type=type(exc).__qualname__,
        message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        stack_trace="".join(traceback.format_exception(exc)),
        is_user_exception=True,
    )


class InvocationHandler:
    """Runs invocations through the application and tracks the ones in flight."""

    def __init__(
        self, application: FunctionsApplication, functions: Callable[[str], FunctionDefinition | None]
    ) -> None:
        self.application = application
        self._functions = functions
        self._inflight: dict[str, asyncio.Task[object]] = {}
        #: In-flight invocations cancelled through ``cancel`` (their task answers Cancelled);
        #: any other cancellation of the task (the worker stopping) propagates.
        self._cancel_requested: set[str] = set()

    @property
    def inflight(self) -> list[str]:
        return list(self._inflight)

    def cancel(self, invocation_id: str) -> bool:
        """Cancel an in-flight invocation; False if there is none with that id."""
        task = self._inflight.get(invocation_id)
        if task is None:
            log.debug("InvocationCancel for %s: not in flight", invocation_id)
            return False
        self._cancel_requested.add(invocation_id)
        task.cancel()
        return True

    def cancel_all(self) -> None:
        for invocation_id in list(self._inflight):
            self.cancel(invocation_id)

    async def invoke(
        self, request: frpc.InvocationRequest, response: frpc.InvocationResponse | None = None
    ) -> frpc.InvocationResponse:
        """Run the invocation in the calling task (``cancel`` cancels that task) and answer,
        in ``response`` when given (e.g. the one inside the outgoing StreamingMessage, so the
        answer is not copied into it)."""
        if response is None:
            response = frpc.InvocationResponse()
        response.invocation_id = request.invocation_id
        response.result.SetInParent()
        function = self._functions(request.function_id)
        if function is None:
            return _failed(response, LookupError(f"function id {request.function_id} is not loaded"))
        if request.invocation_id in self._inflight:
            return _failed(response, RuntimeError(f"invocation {request.invocation_id} is already in flight"))
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("InvocationHandler.invoke must run in an asyncio task (its cancellation handle)")
        context = FunctionContext.create(request, function)
        invocation_id = request.invocation_id
        self._inflight[invocation_id] = task
        try:
            await self.application.invoke(context)
            _fill_outputs(response, context)
            response.result.status = frpc.StatusResult.Success
        except asyncio.CancelledError as exc:
            # Answer Cancelled only for our own cancel() and when nothing else (the worker
            # stopping) also cancelled the task; otherwise the cancellation goes on up.
            if invocation_id not in self._cancel_requested or _uncancel(task) > 0:
                raise
            response.result.status = frpc.StatusResult.Cancelled
            response.result.exception.CopyFrom(rpc_exception(exc))
            response.result.exception.message = f"invocation {request.invocation_id} was cancelled"
        except Exception as exc:
            _failed(response, exc)
            if _caused_by_cancellation(exc):
                response.result.status = frpc.StatusResult.Cancelled
        finally:
            self._inflight.pop(invocation_id, None)
            requested = invocation_id in self._cancel_requested
            self._cancel_requested.discard(invocation_id)
            context.close()
        if requested:  # the function swallowed our cancellation: take it back
            _uncancel(task)
        return response


def _uncancel(task: "asyncio.Task[object]") -> int:
    """Withdraw one cancellation request of ``task`` if it has one; how many remain.
    (Python 3.10 counts none: a caught CancelledError leaves nothing pending there.)"""
    cancelling = getattr(task, "cancelling", None)
    if cancelling is None or cancelling() == 0:
        return 0
    remaining: int = task.uncancel()  # type: ignore[attr-defined,unused-ignore]
    return remaining


def _fill_outputs(response: frpc.InvocationResponse, context: FunctionContext) -> None:
    outputs = dict(context.output_bindings)
    returned = outputs.pop(RETURN_BINDING, NO_RESULT)
    if returned is NO_RESULT and not context.http_response_written:
        returned = context.invocation_result
    for name, value in outputs.items():
        write_typed_data(response.output_data.add(name=name).data, value)
    if returned is not NO_RESULT and returned is not None:
        write_return_data(response.return_value, context.function.trigger.type, returned)


def _failed(response: frpc.InvocationResponse, exc: BaseException) -> frpc.InvocationResponse:
    response.result.status = frpc.StatusResult.Failure
    response.result.exception.CopyFrom(rpc_exception(exc))
    return response


def _caused_by_cancellation(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, asyncio.CancelledError)
