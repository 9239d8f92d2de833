"""Where an invocation's log records go relative to its InvocationResponse: before it for a
host that did not say it takes them later (the Functions host drops late records); for one
that did (our dev host), held and sent right after it, streamed as they come once the
invocation runs past the hold, or at once with no hold; for one that also reads them from the
response (our dev host), inside the response. Records outside invocations are never held."""
from __future__ import annotations

import asyncio
import logging

import pytest
from functions_support import SAMPLE_APP, RunningWorker, WorkerStarter
from functions_test_host import invocation, invoke, load_all

from azure_durable_ext.functions.rpc_logging import HeldInvocationLogs
from azure_durable_ext.protocol.function_rpc import INVOCATION_LOGS_IN_RESPONSE, LATE_INVOCATION_LOGS, content_kind, frpc


def _record(invocation_id: str, text: str) -> frpc.StreamingMessage:
    return frpc.StreamingMessage(rpc_log=frpc.RpcLog(invocation_id=invocation_id, message=text))


def _order(worker: RunningWorker, invocation_id: str) -> list[str]:
    """Kinds of the messages about ``invocation_id`` in the order the host received them."""
    kinds = []
    for message in worker.host.received:
        kind = content_kind(message)
        if kind == "invocation_response" and message.invocation_response.invocation_id == invocation_id:
            kinds.append("response")
        elif kind == "rpc_log" and message.rpc_log.invocation_id == invocation_id:
            kinds.append(f"log:{message.rpc_log.message}")
    return kinds


async def _say_hello_response(
    worker: RunningWorker, invocation_id: str, capabilities: dict[str, str]
) -> frpc.InvocationResponse:
    init = await worker.host.request("worker_init_response", worker_init_request=frpc.WorkerInitRequest(
        host_version="4.0", function_app_directory=str(SAMPLE_APP), capabilities=capabilities))
    assert init.worker_init_response.result.status == frpc.StatusResult.Success
    functions = await load_all(worker.host, str(SAMPLE_APP), init=False)
    response = await invoke(worker.host, invocation(functions["say_hello"], invocation_id, city="Oslo"))
    assert response.result.status == frpc.StatusResult.Success
    return response


async def _say_hello(worker: RunningWorker, invocation_id: str, *, late_logs: bool = True) -> list[str]:
    response = await _say_hello_response(worker, invocation_id, {LATE_INVOCATION_LOGS: "true"} if late_logs else {})
    assert not response.result.logs
    await worker.host.wait_for("rpc_log", predicate=lambda m: m.rpc_log.invocation_id == invocation_id)
    return _order(worker, invocation_id)


async def test_an_invocations_records_follow_its_response(worker: RunningWorker) -> None:
    assert await _say_hello(worker, "inv-held") == ["response", "log:saying hello to Oslo"]
    assert worker.worker.held_logs is not None and worker.worker.held_logs.holding == 0


async def test_a_host_without_the_capability_gets_records_before_the_response(worker: RunningWorker) -> None:
    assert await _say_hello(worker, "inv-std", late_logs=False) == ["log:saying hello to Oslo", "response"]


async def test_without_a_hold_records_go_out_as_they_are_logged(start_worker: WorkerStarter) -> None:
    worker = await start_worker(log_hold=0.0)
    assert await _say_hello(worker, "inv-live") == ["log:saying hello to Oslo", "response"]


async def test_a_host_that_reads_them_there_gets_the_records_inside_the_response(worker: RunningWorker) -> None:
    response = await _say_hello_response(
        worker, "inv-in", {LATE_INVOCATION_LOGS: "true", INVOCATION_LOGS_IN_RESPONSE: "true"})
    (record,) = response.result.logs
    assert (record.invocation_id, record.message) == ("inv-in", "saying hello to Oslo")
    assert (record.level, record.log_category, record.category) == (
        frpc.RpcLog.Information, frpc.RpcLog.User, "sample")
    # ... and not once more as a message of its own: a record after it comes alone.
    logging.getLogger("sample").info("after the invocation")
    await worker.host.wait_for("rpc_log", predicate=lambda m: m.rpc_log.message == "after the invocation")
    assert _order(worker, "inv-in") == ["response"]


async def test_records_go_into_the_response_only_for_a_host_taking_late_records(worker: RunningWorker) -> None:
    # Reading records from the response says nothing about records after it: not held.
    response = await _say_hello_response(worker, "inv-in-only", {INVOCATION_LOGS_IN_RESPONSE: "true"})
    assert not response.result.logs
    assert _order(worker, "inv-in-only") == ["log:saying hello to Oslo", "response"]


async def test_attach_moves_the_held_records_and_later_ones_go_out_alone() -> None:
    sent: list[str] = []
    held = HeldInvocationLogs(lambda m: sent.append(m.rpc_log.message), max_delay=0.05)
    held.active = True
    result = frpc.StatusResult()
    held.begin("a")
    held.offer(_record("a", "a1"))
    held.offer(_record("a", "a2"))
    held.attach("a", result)  # into_response off: nothing moves
    assert not result.logs and held.holding == 1
    held.into_response = True
    held.attach("a", result)
    assert [r.message for r in result.logs] == ["a1", "a2"] and held.holding == 0
    held.offer(_record("a", "a3"))  # logged after its response was built: sent at once
    held.end("a")
    assert sent == ["a3"]
    await asyncio.sleep(0.1)  # no hold timer left behind for it
    assert sent == ["a3"]


async def test_records_are_held_until_the_end_or_the_delay_then_stream() -> None:
    sent: list[str] = []
    held = HeldInvocationLogs(lambda m: sent.append(m.rpc_log.message), max_delay=0.05)
    held.active = True
    held.offer(_record("", "system"))  # outside any invocation: at once
    held.begin("a")
    held.begin("b")
    held.offer(_record("a", "a1"))
    held.offer(_record("b", "b1"))
    held.offer(_record("gone", "other"))  # an invocation not in flight: at once
    assert sent == ["system", "other"]
    held.end("a")  # a's response is queued: its records follow
    assert sent == ["system", "other", "a1"]
    await asyncio.sleep(0.2)  # b runs past the hold: what it logged goes out, and later records at once
    assert sent[-1] == "b1"
    held.offer(_record("b", "b2"))
    assert sent[-1] == "b2"
    held.end("b")
    assert sent == ["system", "other", "a1", "b1", "b2"] and held.holding == 0


def test_a_negative_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        HeldInvocationLogs(lambda m: None, max_delay=-1)


async def test_one_timer_serves_every_held_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    call_at, call_later = loop.call_at, loop.call_later

    def counting_call_at(when, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        scheduled.append(when)
        return call_at(when, callback, *args, **kwargs)

    def counting_call_later(delay, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        scheduled.append(loop.time() + delay)
        return call_later(delay, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    monkeypatch.setattr(loop, "call_later", counting_call_later)
    sent: list[str] = []
    held = HeldInvocationLogs(lambda m: sent.append(m.rpc_log.message), max_delay=0.05)
    held.active = True
    for n in range(50):  # short invocations one after another, each logging once
        held.begin(f"i{n}")
        held.offer(_record(f"i{n}", f"r{n}"))
        held.end(f"i{n}")
    assert sent == [f"r{n}" for n in range(50)]
    assert len(scheduled) == 1  # one timer per invocation before
    held.begin("late-a")
    held.offer(_record("late-a", "a1"))
    held.begin("late-b")
    held.offer(_record("late-b", "b1"))
    await asyncio.sleep(0.2)  # both run past the hold: their records go out, in the order held
    assert sent[-2:] == ["a1", "b1"] and held.holding == 0
    held.offer(_record("late-b", "b2"))  # and what they log later, at once
    assert sent[-1] == "b2"
    held.end("late-a")
    held.end("late-b")
    assert len(sent) == 53
