"""The worker process: connect to the host's FunctionRpc EventStream and serve it.

    python -m azure_durable_ext.functions.worker_main --host 127.0.0.1 --port 50051 \\
        --workerId W --requestId R --grpcMaxMessageLength 2147483647 [--app-dir DIR]
        [--http-pairing-timeout SECONDS] [--http-proxying]

The worker sends StartStream{worker_id} (with the request id the host gave), then writes
its messages (responses, logs) through an EventStreamWriter and hands every message it reads
to GrpcWorker, until the host ends the stream or sends WorkerTerminate.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ..protocol.function_rpc import FunctionRpcStub, frpc, message_size_options
from .grpc_worker import GrpcWorker
from .rpc_logging import DEFAULT_LOG_HOLD, HeldInvocationLogs, RpcLogHandler
from .stream_writer import EventStreamWriter

log = logging.getLogger(__name__)

#: Environment variable naming the app folder when no --app-dir is given (the host's
#: convention for the script root).
SCRIPT_ROOT_ENV = "AzureWebJobsScriptRoot"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Command-line options of the worker process."""

    host: str
    port: int
    worker_id: str
    request_id: str
    max_message_length: int | None = None
    app_directory: str | None = None
    #: Serve HTTP triggers on the worker's own HTTP server (opt-in, as in Microsoft's worker,
    #: which proxies HTTP only for apps using its HTTP streaming extension). Off: the request
    #: and response travel inside the invocation messages (RpcHttp), one hop less.
    http_proxying: bool = False
    #: Seconds a forwarded HTTP request and its invocation wait for each other.
    http_pairing_timeout: float | None = None
    #: Seconds an invocation's log records wait for its response before they are sent as
    #: they come (0: always at once); see rpc_logging and DEFAULT_LOG_HOLD.
    log_hold: float = DEFAULT_LOG_HOLD


async def run_worker(
    options: WorkerOptions,
    *,
    forward_logs: bool = True,
    on_worker: Callable[[GrpcWorker], None] | None = None,
) -> None:
    """Serve the host's EventStream until it ends or the host sends WorkerTerminate.

    ``forward_logs`` sends log records to the host as RpcLog; ``on_worker`` sees the
    GrpcWorker once it exists (for in-process embedding and tests).
    """
    loop = asyncio.get_running_loop()
    channel = grpc.aio.insecure_channel(
        f"{options.host}:{options.port}", options=message_size_options(options.max_message_length)
    )
    call = FunctionRpcStub(channel).EventStream()
    writer = EventStreamWriter(call.write)

    send = _on_loop(loop, writer.send)
    held_logs = HeldInvocationLogs(writer.send, max_delay=options.log_hold)
    # From a def function's thread a record goes after its earlier ones, before its response.
    send_log = _on_loop(loop, held_logs.offer)

    worker = GrpcWorker(
        send,
        write=writer.write,
        app_directory=options.app_directory,
        http_proxying=options.http_proxying,
        http_pairing_timeout=options.http_pairing_timeout,
        held_logs=held_logs,
    )
    if on_worker is not None:
        on_worker(worker)
    handler = RpcLogHandler(send_log) if forward_logs else None
    root = logging.getLogger()
    root_level = root.level
    if handler is not None:
        root.addHandler(handler)
        # User code logs at INFO (logging.info in a function); the root's default WARNING
        # would drop those records before any handler saw them.
        root.setLevel(min(root_level, handler.level) if root_level != logging.NOTSET else handler.level)
    try:
        # Through the writer, so a log record sent meanwhile queues behind it.
        await writer.write(frpc.StreamingMessage(
            request_id=options.request_id, start_stream=frpc.StartStream(worker_id=options.worker_id)
        ))
        if writer.error is not None:
            raise writer.error  # the host is not there: main() reports it
        reader = asyncio.create_task(_read(call, worker), name="function-rpc-reader")
        terminated = asyncio.create_task(worker.terminated.wait(), name="worker-terminated")
        write_failed = asyncio.create_task(writer.failed.wait(), name="function-rpc-write-failed")
        done, _ = await asyncio.wait({reader, terminated, write_failed}, return_when=asyncio.FIRST_COMPLETED)
        if write_failed in done and reader not in done:
            log.error("writing to the host failed: %s", writer.error)
        # Let queued responses (the last invocation's, logs) go out before closing.
        try:
            await asyncio.wait_for(writer.drain(), 5)
            if not writer.failed.is_set():
                await asyncio.wait_for(call.done_writing(), 5)
        except (asyncio.TimeoutError, grpc.aio.AioRpcError) as exc:
            log.debug("closing the event stream: %r", exc)
        for task in (reader, terminated, write_failed):
            task.cancel()
        await asyncio.gather(reader, terminated, write_failed, return_exceptions=True)
    finally:
        if handler is not None:
            root.removeHandler(handler)
            root.setLevel(root_level)
        await worker.aclose()
        await channel.close()


def _on_loop(
    loop: asyncio.AbstractEventLoop, deliver: Callable[[frpc.StreamingMessage], None]
) -> Callable[[frpc.StreamingMessage], None]:
    """``deliver``, callable from any thread: run at once on ``loop``, scheduled onto it elsewhere."""

    def call(message: frpc.StreamingMessage) -> None:
        if _running_loop() is loop:
            deliver(message)
        else:
            loop.call_soon_threadsafe(deliver, message)

    return call


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _read(call: grpc.aio.StreamStreamCall, worker: GrpcWorker) -> None:
    try:
        async for message in call:
            worker.process_message(message)
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.CANCELLED:
            log.error("the host's event stream failed: %s %s", exc.code().name, exc.details())
            raise
    log.info("the host ended the event stream")


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the worker's loop: uvloop when installed (grpc.aio and aiohttp spend much of an
    invocation in loop wake-ups, which uvloop makes cheaper), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def parse_arguments(argv: Sequence[str] | None = None) -> WorkerOptions:
    parser = argparse.ArgumentParser(prog="azure_durable_ext.functions.worker_main",
                                     description="Azure Functions Python worker for durable apps.")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workerId", "--worker-id", dest="worker_id", required=True)
    parser.add_argument("--requestId", "--request-id", dest="request_id", required=True)
    parser.add_argument("--grpcMaxMessageLength", "--grpc-max-message-length", dest="max_message_length",
                        type=int, default=None)
    # The app folder the WorkerInitRequest names wins over this one, so a host passing its
    # worker directory under --functions-worker-directory does no harm.
    parser.add_argument("--app-dir", "--functions-worker-directory", dest="app_directory", default=None,
                        help=f"function app folder until the host names one (default: ${SCRIPT_ROOT_ENV})")
    parser.add_argument("--http-pairing-timeout", dest="http_pairing_timeout", type=float, default=None,
                        help="seconds a forwarded HTTP request and its invocation wait for each other")
    parser.add_argument("--http-proxying", dest="http_proxying", action="store_true", default=False,
                        help="serve HTTP triggers on the worker's own HTTP server (the HttpUri capability)")
    parser.add_argument("--log-hold", dest="log_hold", type=float, default=DEFAULT_LOG_HOLD,
                        help="seconds an invocation's log records wait to go out after its response (0: at once)")
    parser.add_argument("--no-http-proxying", dest="http_proxying", action="store_false",
                        help="HTTP requests and responses travel in the invocation messages (the default)")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # hosts pass more flags than we use; they are not errors
        log.debug("ignoring worker arguments: %s", unknown)
    app_directory = args.app_directory or os.environ.get(SCRIPT_ROOT_ENV)
    return WorkerOptions(
        host=args.host,
        port=args.port,
        worker_id=args.worker_id,
        request_id=args.request_id,
        max_message_length=args.max_message_length,
        app_directory=str(Path(app_directory).resolve()) if app_directory else None,
        http_proxying=args.http_proxying,
        http_pairing_timeout=args.http_pairing_timeout,
        log_hold=args.log_hold,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(argv)
    # Records reach the host as RpcLog; stderr (which the host shows too) gets only warnings
    # and errors, so nothing is printed twice and a broken stream still leaves a trace.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    try:
        _run(run_worker(options))
    except grpc.aio.AioRpcError as exc:
        log.error("cannot talk to the Functions host at %s:%d: %s %s",
                  options.host, options.port, exc.code().name, exc.details())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
