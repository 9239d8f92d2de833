"""FunctionsApplication: runs the middleware chain for one invocation inside a logging scope
and a trace span; errors are logged and re-raised."""
from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass
from typing import Any

from .context import FunctionContext
from .middleware import Handler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InvocationScope:
    """Which invocation the current code runs for (user logs carry it to the host)."""

    function_name: str
    invocation_id: str


#: The scope of the invocation running in this context (None outside invocations).
current_invocation: contextvars.ContextVar[InvocationScope | None] = contextvars.ContextVar(
    "azure_durable_ext_current_invocation", default=None
)


class InvocationLogger(logging.LoggerAdapter):
    """Adds ``function_name`` and ``invocation_id`` to every record."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.update(self.extra or {})
        kwargs["extra"] = extra
        return msg, kwargs


class InvocationSpan:
    """A trace span of one invocation: an OpenTelemetry span when that package is installed,
    else a log record with the duration at DEBUG. Used as ``with span.run():``; a plain
    context manager (a generator-based one cost two generators per invocation)."""

    __slots__ = ("scope", "logger", "error", "_started", "_otel_context", "_otel")

    def __init__(self, scope: InvocationScope, logger: logging.LoggerAdapter) -> None:
        self.scope = scope
        self.logger = logger
        self.error: str | None = None
        self._started = 0.0
        self._otel_context: Any = None
        self._otel: Any = None

    def set_error(self, message: str) -> None:
        self.error = message

    def run(self) -> "InvocationSpan":
        return self

    def __enter__(self) -> "InvocationSpan":
        self._started = time.perf_counter()
        if _TRACER is not None:
            self._otel_context = _TRACER.start_as_current_span(
                f"Invoke {self.scope.function_name}",
                attributes={"faas.execution": self.scope.invocation_id, "faas.name": self.scope.function_name},
            )
            self._otel = self._otel_context.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool | None:
        try:
            self._finish()
        except BaseException as error:
            if self._otel_context is not None:
                self._otel_context.__exit__(type(error), error, error.__traceback__)
            raise
        if self._otel_context is not None:
            suppressed: bool | None = self._otel_context.__exit__(exc_type, exc, traceback)
            return suppressed
        return None

    def _finish(self) -> None:
        if self._otel is not None and self.error is not None:
            self._otel.set_status(_otel_error_status(self.error))
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "Invoke %s finished in %.1f ms%s",
                self.scope.function_name,
                (time.perf_counter() - self._started) * 1000,
                f" with error: {self.error}" if self.error else "",
            )


def _load_tracer() -> Any:
    try:
        from opentelemetry import trace  # optional: used only when the app installed it
    except ImportError:
        return None
    return trace.get_tracer("azure_durable_ext.functions")


#: Looked up once: a failed import is not cached by Python and costs ~0.1 ms per invocation.
_TRACER: Any = _load_tracer()


def _otel_error_status(message: str) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, message)


class FunctionsApplication:
    """Runs ``pipeline`` (the middleware chain) for each invocation."""

    def __init__(self, pipeline: Handler, logger: logging.Logger | None = None) -> None:
        self.pipeline = pipeline
        self.logger = logger or log

    async def invoke(self, context: FunctionContext) -> None:
        scope = InvocationScope(context.function_name, context.invocation_id)
        token = current_invocation.set(scope)
        adapter = InvocationLogger(
            self.logger, {"function_name": scope.function_name, "invocation_id": scope.invocation_id}
        )
        span = InvocationSpan(scope, adapter)
        try:
            with span.run():
                try:
                    await self.pipeline(context)
                except Exception as exc:
                    span.set_error(str(exc))
                    adapter.error(
                        "Function '%s' (invocation %s) failed: %s",
                        scope.function_name, scope.invocation_id, exc, exc_info=exc,
                    )
                    raise
        finally:
            current_invocation.reset(token)
