"""GrpcWorker: handles each StreamingMessage from the host, dispatching on its content.

``process_message`` returns at once; the handler runs as its own task (invocations run
concurrently) and its response goes out with the request's ``request_id``. Handlers are
found in a table keyed by the message's content field; kinds without a handler are logged
and dropped, as the host does for kinds it does not know.
"""
from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..protocol.function_rpc import INVOCATION_LOGS_IN_RESPONSE, LATE_INVOCATION_LOGS, content_kind, frpc
from .application import FunctionsApplication
from .client_pool import SHARED_CLIENTS
from .definitions import FunctionDefinition, IndexedApp, index_function_app
from .executor import FunctionExecutor
from .http_coordinator import HttpCoordinator
from .http_server import WorkerHttpServer
from .invocation_handler import InvocationHandler, rpc_exception
from .middleware import HttpProxyingMiddleware, Middleware, OutputBindingsMiddleware, build_pipeline
from .rpc_logging import HeldInvocationLogs

log = logging.getLogger(__name__)

WORKER_VERSION = "0.1.0"
Send = Callable[[frpc.StreamingMessage], None]
#: A handler returns (response field, response message), the whole response StreamingMessage
#: (its request_id set), or None for no response.
MessageHandler = Callable[[frpc.StreamingMessage], Awaitable["tuple[str, object] | frpc.StreamingMessage | None"]]


def _success() -> frpc.StatusResult:
    return frpc.StatusResult(status=frpc.StatusResult.Success)


def _failure(exc: BaseException) -> frpc.StatusResult:
    return frpc.StatusResult(status=frpc.StatusResult.Failure, result=str(exc), exception=rpc_exception(exc))


def worker_metadata() -> frpc.WorkerMetadata:
    return frpc.WorkerMetadata(
        runtime_name="python",
        runtime_version=platform.python_version(),
        worker_version=WORKER_VERSION,
        worker_bitness=platform.architecture()[0],
        custom_properties={"worker": "azure_durable_ext"},
    )


class GrpcWorker:
    """The worker's message processor (see module doc).

    ``app_directory`` is the default function app folder (the host's requests may name
    another); ``http_proxying`` starts the worker's own HTTP server and reports its URL as
    the ``HttpUri`` capability; ``held_logs`` holds an invocation's log records until its
    response is queued. Answers go to ``write`` when given (a coroutine: the stream writer
    writes them from the answering task when it can), else to ``send``.
    """

    def __init__(
        self,
        send: Send,
        *,
        write: Callable[[frpc.StreamingMessage], Awaitable[None]] | None = None,
        app_directory: str | Path | None = None,
        http_proxying: bool = False,
        http_pairing_timeout: float | None = None,
        held_logs: HeldInvocationLogs | None = None,
    ) -> None:
        self._send = send
        self._write = write
        self.held_logs = held_logs
        self.app_directory = str(app_directory) if app_directory is not None else None
        self.coordinator = HttpCoordinator() if http_pairing_timeout is None else HttpCoordinator(
            pairing_timeout=http_pairing_timeout
        )
        self.http_server = WorkerHttpServer(self.coordinator) if http_proxying else None
        self.executor = FunctionExecutor()
        middleware = [Middleware(OutputBindingsMiddleware)]
        if http_proxying:  # else HTTP requests and responses travel as RpcHttp in the messages
            middleware.insert(0, Middleware(HttpProxyingMiddleware, coordinator=self.coordinator))
        pipeline = build_pipeline(self.executor, middleware)
        self.application = FunctionsApplication(pipeline)
        self.invocations = InvocationHandler(self.application, self._loaded_function)
        self.indexed: IndexedApp | None = None
        self._loaded: dict[str, FunctionDefinition] = {}
        self.host_capabilities: dict[str, str] = {}
        self.terminated = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, MessageHandler] = {
            "start_stream": self._on_start_stream,
            "worker_init_request": self._on_worker_init,
            "functions_metadata_request": self._on_functions_metadata,
            "function_load_request": self._on_function_load,
            "function_load_request_collection": self._on_function_load_collection,
            "invocation_request": self._on_invocation,
            "invocation_cancel": self._on_invocation_cancel,
            "worker_status_request": self._on_worker_status,
            "function_environment_reload_request": self._on_environment_reload,
            "worker_terminate": self._on_worker_terminate,
        }

    # -- plumbing ------------------------------------------------------------------------------
    def process_message(self, message: frpc.StreamingMessage) -> None:
        """Start handling ``message``; returns immediately."""
        task = asyncio.create_task(self._process(message), name=f"rpc-{content_kind(message)}-{message.request_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, message: frpc.StreamingMessage) -> None:
        kind = content_kind(message)
        handler = self._handlers.get(kind or "")
        if handler is None:
            log.warning("ignoring host message %s (request %s): no handler", kind, message.request_id)
            return
        invocation_id = message.invocation_request.invocation_id if kind == "invocation_request" else ""
        if invocation_id and self.held_logs is not None:
            self.held_logs.begin(invocation_id)
        try:
            try:
                answer = await handler(message)
            except Exception:
                log.exception("handling %s (request %s) failed", kind, message.request_id)
                return
            if isinstance(answer, frpc.StreamingMessage):
                if invocation_id and self.held_logs is not None:
                    self.held_logs.attach(invocation_id, answer.invocation_response.result)
                await self._deliver(answer)
            elif answer is not None:
                field, content = answer
                response = frpc.StreamingMessage(request_id=message.request_id)
                getattr(response, field).CopyFrom(content)
                await self._deliver(response)
        finally:
            # Records are held only for a host that takes them after the response (see
            # rpc_logging); once the response is queued (or there is none), they follow it.
            if invocation_id and self.held_logs is not None:
                self.held_logs.end(invocation_id)

    async def _deliver(self, message: frpc.StreamingMessage) -> None:
        """Hand an answer to the stream: written from this task when the writer allows
        (``write``), else queued (``send``)."""
        if self._write is not None:
            await self._write(message)
        else:
            self._send(message)

    async def aclose(self) -> None:
        """Cancel what still runs, stop the HTTP server, close the durable clients' shared
        channels."""
        self.invocations.cancel_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.http_server is not None:
            await self.http_server.stop()
        await SHARED_CLIENTS.close_loop()
        await asyncio.to_thread(SHARED_CLIENTS.close_portal)

    def _loaded_function(self, function_id: str) -> FunctionDefinition | None:
        return self._loaded.get(function_id)

    def _index(self, directory: str | None) -> IndexedApp:
        folder = directory or self.app_directory
        if not folder:
            raise ValueError("no function app directory: the host sent none and the worker was started without one")
        if self.indexed is None or Path(self.indexed.directory) != Path(folder).resolve():
            self.indexed = index_function_app(folder)
            self.app_directory = self.indexed.directory
        return self.indexed

    # -- handlers ------------------------------------------------------------------------------
    async def _on_start_stream(self, message: frpc.StreamingMessage) -> None:
        log.debug("host sent StartStream (worker %s); nothing to do", message.start_stream.worker_id)
        return None

    async def _on_worker_init(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        request = message.worker_init_request
        self.host_capabilities = dict(request.capabilities)
        if self.held_logs is not None:
            self.held_logs.active = self.host_capabilities.get(LATE_INVOCATION_LOGS, "").lower() == "true"
            self.held_logs.into_response = self.held_logs.active and (
                self.host_capabilities.get(INVOCATION_LOGS_IN_RESPONSE, "").lower() == "true")
        if request.function_app_directory:
            self.app_directory = request.function_app_directory
        capabilities = {
            "RawHttpBodyBytes": "true",
            "TypedDataCollection": "true",
            "RpcHttpBodyOnly": "true",
            "RpcHttpTriggerMetadataRemoved": "true",
            "WorkerStatus": "true",
            "HandlesWorkerTerminateMessage": "true",
        }
        try:
            if self.http_server is not None:
                capabilities["HttpUri"] = await self.http_server.start()
            result = _success()
        except OSError as exc:
            result = _failure(exc)
        return "worker_init_response", frpc.WorkerInitResponse(
            worker_version=WORKER_VERSION, capabilities=capabilities, result=result, worker_metadata=worker_metadata()
        )

    async def _on_functions_metadata(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        response = frpc.FunctionMetadataResponse()
        try:
            indexed = self._index(message.functions_metadata_request.function_app_directory or None)
            response.function_metadata_results.extend(f.to_rpc() for f in indexed.functions)
            response.result.CopyFrom(_success())
        except Exception as exc:  # an app that does not import is the host's to report
            log.exception("indexing the function app failed")
            response.result.CopyFrom(_failure(exc))
        return "function_metadata_response", response

    def _load(self, request: frpc.FunctionLoadRequest) -> frpc.FunctionLoadResponse:
        response = frpc.FunctionLoadResponse(function_id=request.function_id)
        try:
            indexed = self._index(request.metadata.directory or None)
            function = indexed.by_id().get(request.function_id) or next(
                (f for f in indexed.functions if f.name == request.metadata.name), None
            )
            if function is None:
                raise LookupError(
                    f"function '{request.metadata.name}' (id {request.function_id}) is not defined in "
                    f"{indexed.directory}/function_app.py"
                )
            self.executor.load(function)
            self._loaded[request.function_id] = function
            response.result.CopyFrom(_success())
        except Exception as exc:
            log.exception("loading function %s failed", request.metadata.name or request.function_id)
            response.result.CopyFrom(_failure(exc))
        return response

    async def _on_function_load(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        return "function_load_response", self._load(message.function_load_request)

    async def _on_function_load_collection(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        requests = message.function_load_request_collection.function_load_requests
        return "function_load_response_collection", frpc.FunctionLoadResponseCollection(
            function_load_responses=[self._load(r) for r in requests]
        )

    async def _on_invocation(self, message: frpc.StreamingMessage) -> frpc.StreamingMessage:
        # Answered in place: an InvocationResponse (HTTP body included) built apart would be
        # copied into the envelope.
        reply = frpc.StreamingMessage(request_id=message.request_id)
        await self.invocations.invoke(message.invocation_request, reply.invocation_response)
        return reply

    async def _on_invocation_cancel(self, message: frpc.StreamingMessage) -> None:
        self.invocations.cancel(message.invocation_cancel.invocation_id)
        return None

    async def _on_worker_status(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        return "worker_status_response", frpc.WorkerStatusResponse()

    async def _on_environment_reload(self, message: frpc.StreamingMessage) -> tuple[str, object]:
        request = message.function_environment_reload_request
        response = frpc.FunctionEnvironmentReloadResponse(worker_metadata=worker_metadata())
        try:
            os.environ.update(request.environment_variables)
            if request.function_app_directory:
                folder = request.function_app_directory
                if folder not in sys.path:
                    sys.path.insert(0, folder)
                self.indexed = None  # specialization: index the (new) app again
                self.app_directory = folder
            if self.http_server is not None and self.http_server.url:
                response.capabilities["HttpUri"] = self.http_server.url
            response.result.CopyFrom(_success())
        except Exception as exc:
            response.result.CopyFrom(_failure(exc))
        return "function_environment_reload_response", response

    async def _on_worker_terminate(self, message: frpc.StreamingMessage) -> None:
        grace = message.worker_terminate.grace_period.ToTimedelta().total_seconds()
        log.info("host asked the worker to stop (grace period %.1f s, %d invocation(s) in flight)",
                 grace, len(self.invocations.inflight))
        # Wait for the other message handlers, so their responses are queued before we stop.
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        pending: set[asyncio.Task[None]] = set()
        if others:
            _, pending = await asyncio.wait(others, timeout=grace)
        if pending:
            log.warning("grace period over: cancelling %d invocation(s)", len(self.invocations.inflight))
            self.invocations.cancel_all()
            await asyncio.wait(pending, timeout=5)
        self.terminated.set()
        return None
