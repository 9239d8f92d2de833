"""The host side of FunctionRpc: serve EventStream, launch the worker, invoke functions.

Handshake per worker stream, as the Functions host does it: StartStream from the worker ->
WorkerInitRequest (the answer's ``HttpUri`` capability is the worker's own HTTP server) ->
FunctionsMetadataRequest (the worker indexes function_app.py) -> FunctionLoadRequest per
function -> ready. ``invoke`` sends an InvocationRequest and returns the InvocationResponse
with the same invocation id. When the worker process exits unexpectedly, in-flight
invocations fail with WorkerUnavailableError, the crash is logged and counted, and a new
worker is launched.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import grpc

from ..core.errors import ConfigurationError, StorageUnavailableError
from ..protocol.function_rpc import (
    INVOCATION_LOGS_IN_RESPONSE,
    LATE_INVOCATION_LOGS,
    content_kind,
    frpc,
    generic_handler,
    message_size_options,
)
from .child_process import ChildProcess
from .loaded_functions import FunctionTable, LoadedFunction
from .log_lines import log_line

log = logging.getLogger(__name__)
worker_log = logging.getLogger("azure_durable_ext.devhost.worker")

WORKER_MODULE = "azure_durable_ext.functions.worker_main"
HOST_VERSION = "4.0.0"
MAX_MESSAGE_LENGTH = 2_147_483_647
_LOG_LEVELS = {
    frpc.RpcLog.Trace: logging.DEBUG,
    frpc.RpcLog.Debug: logging.DEBUG,
    frpc.RpcLog.Information: logging.INFO,
    frpc.RpcLog.Warning: logging.WARNING,
    frpc.RpcLog.Error: logging.ERROR,
    frpc.RpcLog.Critical: logging.CRITICAL,
}


class WorkerUnavailableError(StorageUnavailableError):
    """The language worker is not running (starting, crashed, or stopped)."""


class _Stream:
    """One connected worker stream: its outbound queue and pending requests by id."""

    def __init__(self) -> None:
        self.outbound: asyncio.Queue[frpc.StreamingMessage | None] = asyncio.Queue()
        self.replies: dict[str, asyncio.Future[frpc.StreamingMessage]] = {}
        self._ids = itertools.count(1)

    def send(self, **content: object) -> str:
        request_id = f"host-{next(self._ids)}"
        self.outbound.put_nowait(frpc.StreamingMessage(request_id=request_id, **content))  # type: ignore[arg-type]
        return request_id

    async def request(self, reply_kind: str, timeout: float, **content: object) -> frpc.StreamingMessage:
        future: asyncio.Future[frpc.StreamingMessage] = asyncio.get_running_loop().create_future()
        request_id = self.send(**content)
        self.replies[request_id] = future
        try:
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self.replies.pop(request_id, None)
        if content_kind(reply) != reply_kind:
            raise WorkerUnavailableError(f"the worker answered {content_kind(reply)} instead of {reply_kind}")
        return reply


class FunctionRpcHost:
    """Serves FunctionRpc on 127.0.0.1 (a free port) and keeps one worker process running."""

    def __init__(
        self,
        app_dir: str | Path,
        *,
        settings: Mapping[str, str] | None = None,
        python: str = sys.executable,
        restart_delay: float = 0.5,
        handshake_timeout: float = 60.0,
        worker_args: tuple[str, ...] = (),
    ) -> None:
        self.app_dir = str(Path(app_dir).resolve())
        self.settings = dict(settings or {})
        self.python = python
        self.restart_delay = restart_delay
        self.handshake_timeout = handshake_timeout
        self.worker_args = worker_args
        self.port = 0
        self.functions = FunctionTable([])
        self.http_uri: str | None = None
        self.crashes = 0
        self.ready = asyncio.Event()
        self.launches = 0
        self._server: grpc.aio.Server | None = None
        self._stream: _Stream | None = None
        self._process: ChildProcess | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._handshake: asyncio.Task[None] | None = None
        self._invocations: dict[str, asyncio.Future[frpc.InvocationResponse]] = {}
        self._stopping = False
        self._startup_error: BaseException | None = None
        self._failed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Serve, launch the worker and wait until every function is loaded."""
        self._server = grpc.aio.server(options=message_size_options(MAX_MESSAGE_LENGTH))
        self._server.add_generic_rpc_handlers((generic_handler(self),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        await self._launch()
        self._watcher = asyncio.create_task(self._watch(), name="function-worker-watcher")
        await self.wait_ready(self.handshake_timeout)

    async def wait_ready(self, timeout: float | None) -> None:
        """Wait for a loaded worker; WorkerUnavailableError on timeout or when the worker
        failed to index or load the app (with the worker's reason)."""
        if self.ready.is_set():
            return
        ready = asyncio.ensure_future(self.ready.wait())
        failed = asyncio.ensure_future(self._failed.wait())
        try:
            await asyncio.wait({ready, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            failed.cancel()
        if self.ready.is_set():
            return
        if self._startup_error is not None:
            raise WorkerUnavailableError(f"the language worker could not load the app: {self._startup_error}")
        raise WorkerUnavailableError(f"the language worker did not become ready within {timeout} s")

    async def stop(self, grace: float = 5.0) -> None:
        """WorkerTerminate, wait for the process (kill it after ``grace``), stop serving."""
        self._stopping = True
        self.ready.clear()
        for task in (self._watcher, self._handshake):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        stream, process = self._stream, self._process
        if stream is not None:
            terminate = frpc.WorkerTerminate()
            terminate.grace_period.FromSeconds(int(grace))
            stream.send(worker_terminate=terminate)
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), grace)
            except asyncio.TimeoutError:
                log.warning("the worker did not exit within %s s; killing it", grace)
                process.kill()
                await process.wait()
        self._fail_invocations("the dev host is stopping")
        if stream is not None:
            stream.outbound.put_nowait(None)
        if self._server is not None:
            await self._server.stop(1.0)

    async def _launch(self) -> None:
        self.launches += 1
        env = {**os.environ, **self.settings, "AzureWebJobsScriptRoot": self.app_dir}
        args = [
            self.python, "-m", WORKER_MODULE,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workerId", str(uuid.uuid4()), "--requestId", str(uuid.uuid4()),
            "--grpcMaxMessageLength", str(MAX_MESSAGE_LENGTH),
            "--functions-worker-directory", self.app_dir,
            *self.worker_args,
        ]
        # Own session: Ctrl-C in the terminal reaches the host only, which then stops the
        # worker with WorkerTerminate after draining.
        self._process = ChildProcess.spawn(args, env=env, cwd=self.app_dir, start_new_session=True)
        log.info("launched the language worker (pid %s)", self._process.pid)

    async def _watch(self) -> None:
        """Restart the worker whenever its process exits while the host is running."""
        while not self._stopping:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            self.crashes += 1
            self.ready.clear()
            log.error("the language worker (pid %s) exited with code %s; restarting it", process.pid, code)
            self._fail_invocations(f"the language worker exited with code {code}")
            await asyncio.sleep(self.restart_delay)
            if not self._stopping:
                await self._launch()

    def kill_worker(self) -> None:
        """Kill the worker process (a crash, for tests and the bench of recovery)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    @property
    def worker_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- EventStream servicer ----------------------------------------------------------------
    async def EventStream(
        self, requests: AsyncIterator[frpc.StreamingMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[frpc.StreamingMessage]:
        stream = _Stream()
        reader = asyncio.create_task(self._read(stream, requests), name="function-rpc-reader")
        # The worker's side ending ends ours too; one queue read per message, no extra task.
        reader.add_done_callback(lambda _: stream.outbound.put_nowait(None))
        try:
            while True:
                message = await stream.outbound.get()
                if message is None:
                    return
                yield message
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if self._stream is stream:
                self._stream = None
                self.ready.clear()
                self._fail_invocations("the worker's event stream ended")

    async def _read(self, stream: _Stream, requests: AsyncIterator[frpc.StreamingMessage]) -> None:
        async for message in requests:
            kind = content_kind(message)
            if kind == "start_stream":
                self._stream = stream
                self._handshake = asyncio.create_task(self._initialize(stream), name="function-worker-init")
            elif kind == "invocation_response":
                response = message.invocation_response
                for record in response.result.logs:  # logged by the invocation (INVOCATION_LOGS_IN_RESPONSE)
                    self._log(record)
                future = self._invocations.pop(response.invocation_id, None)
                if future is not None and not future.done():
                    future.set_result(response)
            elif kind == "rpc_log":
                self._log(message.rpc_log)
            else:
                future_reply = stream.replies.get(message.request_id)
                if future_reply is not None and not future_reply.done():
                    future_reply.set_result(message)
                else:
                    log.debug("unsolicited %s from the worker", kind)

    def _log(self, record: frpc.RpcLog) -> None:
        level = _LOG_LEVELS.get(record.level, logging.INFO)
        if record.invocation_id:
            log_line(worker_log, level, "[%s] %s", (record.invocation_id[:8], record.message))
        else:
            log_line(worker_log, level, "%s", (record.message,))

    async def _initialize(self, stream: _Stream) -> None:
        timeout = self.handshake_timeout
        try:
            init = await stream.request("worker_init_response", timeout, worker_init_request=frpc.WorkerInitRequest(
                host_version=HOST_VERSION, function_app_directory=self.app_dir, worker_directory=self.app_dir,
                capabilities={LATE_INVOCATION_LOGS: "true", INVOCATION_LOGS_IN_RESPONSE: "true"}))
            _check(init.worker_init_response.result, "worker init")
            self.http_uri = init.worker_init_response.capabilities.get("HttpUri") or None
            reply = await stream.request(
                "function_metadata_response", timeout,
                functions_metadata_request=frpc.FunctionsMetadataRequest(function_app_directory=self.app_dir))
            metadata = reply.function_metadata_response
            _check(metadata.result, f"indexing {self.app_dir}")
            functions = [LoadedFunction.from_metadata(m) for m in metadata.function_metadata_results]
            loads = [
                stream.request("function_load_response", timeout, function_load_request=frpc.FunctionLoadRequest(
                    function_id=f.function_id, metadata=f.metadata))
                for f in functions
            ]
            for f, loaded in zip(functions, await asyncio.gather(*loads)):
                _check(loaded.function_load_response.result, f"loading function {f.name}")
            self.functions = FunctionTable(functions)
            self._startup_error = None
            self._failed.clear()
            self.ready.set()
            log.info("the language worker loaded %d functions", len(functions))
        except (ConfigurationError, WorkerUnavailableError, asyncio.TimeoutError) as exc:
            self._startup_error = exc
            self._failed.set()
            log.error("the language worker failed to start: %s", exc)

    # -- invocations -------------------------------------------------------------------------
    async def invoke(self, request: frpc.InvocationRequest, *, timeout: float | None = None) -> frpc.InvocationResponse:
        """Send ``request`` and return the worker's response (waits for a ready worker)."""
        if self._stopping:
            raise WorkerUnavailableError("the dev host is stopping")
        await self.wait_ready(self.handshake_timeout)
        stream = self._stream
        if stream is None:
            raise WorkerUnavailableError("the language worker is not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[frpc.InvocationResponse] = loop.create_future()
        self._invocations[request.invocation_id] = future
        stream.send(invocation_request=request)
        # A timer on the future itself rather than wait_for, which adds a future, a callback
        # and a loop turn to every invocation.
        timer = loop.call_later(timeout, _expire, future) if timeout is not None else None
        try:
            return await future
        except asyncio.TimeoutError:
            self.cancel(request.invocation_id)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._invocations.pop(request.invocation_id, None)

    def cancel(self, invocation_id: str) -> None:
        """Send InvocationCancel (the worker cancels the invocation if it is still running)."""
        if self._stream is not None:
            self._stream.send(invocation_cancel=frpc.InvocationCancel(invocation_id=invocation_id))

    @property
    def in_flight(self) -> int:
        return len(self._invocations)

    def _fail_invocations(self, reason: str) -> None:
        pending, self._invocations = self._invocations, {}
        for invocation_id, future in pending.items():
            if not future.done():
                future.set_exception(WorkerUnavailableError(f"invocation {invocation_id} lost: {reason}"))

    def function(self, name: str) -> LoadedFunction | None:
        return self.functions.by_name.get(name.casefold())


def _expire(future: "asyncio.Future[frpc.InvocationResponse]") -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


def _check(result: frpc.StatusResult, what: str) -> None:
    if result.status != frpc.StatusResult.Success:
        message = result.exception.message or "no details"
        raise ConfigurationError(f"{what} failed in the language worker: {message}")
