"""InvocationHandler on its own: the invocation runs in the task that handles its message
(that task is the cancellation handle), InvocationCancel answers Cancelled, any other
cancellation of that task goes on up."""
from __future__ import annotations

import asyncio
import logging
import sys

import pytest
from functions_support import SAMPLE_APP

from azure_durable_ext.functions.application import FunctionsApplication, InvocationScope, current_invocation
from azure_durable_ext.functions.context import FunctionContext
from azure_durable_ext.functions.definitions import FunctionDefinition, index_function_app
from azure_durable_ext.functions.invocation_handler import InvocationHandler
from azure_durable_ext.protocol.function_rpc import frpc


class RecordingPipeline:
    """The innermost handler of these tests: notes the task it runs in, then waits for
    ``release`` (set at once unless a test wants the invocation to hang)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[object] | None] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.swallow_cancel = False

    async def __call__(self, context: FunctionContext) -> None:
        self.tasks.append(asyncio.current_task())
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            if not self.swallow_cancel:
                raise
        context.invocation_result = "done"


def _shout() -> FunctionDefinition:
    indexed = index_function_app(SAMPLE_APP)
    return next(f for f in indexed.functions if f.name == "shout")


def _handler(pipeline: RecordingPipeline) -> tuple[InvocationHandler, frpc.InvocationRequest]:
    function = _shout()
    handler = InvocationHandler(FunctionsApplication(pipeline), {function.function_id: function}.get)
    request = frpc.InvocationRequest(invocation_id="inv-1", function_id=function.function_id)
    return handler, request


async def test_the_invocation_runs_in_the_calling_task() -> None:
    pipeline = RecordingPipeline()
    pipeline.release.set()
    handler, request = _handler(pipeline)
    caller = asyncio.create_task(handler.invoke(request))
    response = await caller
    assert response.result.status == frpc.StatusResult.Success
    assert pipeline.tasks == [caller]  # no task of its own per invocation
    assert handler.inflight == []


async def test_cancel_answers_cancelled_and_leaves_the_task_usable() -> None:
    pipeline = RecordingPipeline()
    handler, request = _handler(pipeline)

    async def handle() -> tuple[frpc.InvocationResponse, int]:
        response = await handler.invoke(request)
        await asyncio.sleep(0)  # the task goes on (it still has to send the response)
        current = asyncio.current_task()
        assert current is not None
        return response, current.cancelling()

    caller = asyncio.create_task(handle())
    await pipeline.started.wait()
    assert handler.inflight == ["inv-1"]
    assert handler.cancel("inv-1") is True
    response, cancelling = await caller
    assert response.result.status == frpc.StatusResult.Cancelled
    assert "inv-1 was cancelled" in response.result.exception.message
    assert cancelling == 0
    assert handler.inflight == []
    assert handler.cancel("inv-1") is False


async def test_a_swallowed_cancel_leaves_no_pending_cancellation() -> None:
    pipeline = RecordingPipeline()
    pipeline.swallow_cancel = True
    handler, request = _handler(pipeline)

    async def handle() -> tuple[frpc.InvocationResponse, int]:
        response = await handler.invoke(request)
        current = asyncio.current_task()
        assert current is not None
        return response, current.cancelling()

    caller = asyncio.create_task(handle())
    await pipeline.started.wait()
    handler.cancel("inv-1")
    response, cancelling = await caller
    assert response.result.status == frpc.StatusResult.Success  # the function chose to finish
    assert cancelling == 0


async def test_other_cancellation_of_the_task_propagates() -> None:
    pipeline = RecordingPipeline()
    handler, request = _handler(pipeline)
    caller = asyncio.create_task(handler.invoke(request))
    await pipeline.started.wait()
    caller.cancel()  # the worker stopping, not an InvocationCancel
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert handler.inflight == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 tasks do not count cancellation requests")
async def test_cancel_together_with_a_stop_propagates() -> None:
    pipeline = RecordingPipeline()
    handler, request = _handler(pipeline)
    caller = asyncio.create_task(handler.invoke(request))
    await pipeline.started.wait()
    handler.cancel_all()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert handler.inflight == []


async def test_the_application_scope_and_span(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[object] = []

    async def pipeline(context: FunctionContext) -> None:
        seen.append(current_invocation.get())
        if context.invocation_id == "inv-bad":
            raise ValueError("bad input")

    function = _shout()
    handler = InvocationHandler(FunctionsApplication(pipeline), {function.function_id: function}.get)
    caplog.set_level(logging.DEBUG, logger="azure_durable_ext.functions.application")
    ok = await asyncio.create_task(handler.invoke(frpc.InvocationRequest(invocation_id="inv-ok", function_id=function.function_id)))
    bad = await asyncio.create_task(handler.invoke(frpc.InvocationRequest(invocation_id="inv-bad", function_id=function.function_id)))
    assert ok.result.status == frpc.StatusResult.Success and bad.result.status == frpc.StatusResult.Failure
    assert seen == [InvocationScope("shout", "inv-ok"), InvocationScope("shout", "inv-bad")]
    assert current_invocation.get() is None
    records = [(r.levelname, r.getMessage(), getattr(r, "invocation_id", None)) for r in caplog.records]
    assert [(level, invocation) for level, _, invocation in records] == [
        ("DEBUG", "inv-ok"), ("ERROR", "inv-bad"), ("DEBUG", "inv-bad")]
    assert records[0][1].startswith("Invoke shout finished in ") and records[0][1].endswith(" ms")
    assert "Function 'shout' (invocation inv-bad) failed: bad input" == records[1][1]
    assert records[2][1].endswith(" ms with error: bad input")
