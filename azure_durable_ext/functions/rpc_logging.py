"""Log records to the host as RpcLog messages, with the invocation id of the code that logged."""
from __future__ import annotations

import logging
from collections.abc import Callable

from ..protocol.function_rpc import frpc
from .application import current_invocation

_LEVELS: tuple[tuple[int, "frpc.RpcLog.Level"], ...] = (
    (logging.CRITICAL, frpc.RpcLog.Critical),
    (logging.ERROR, frpc.RpcLog.Error),
    (logging.WARNING, frpc.RpcLog.Warning),
    (logging.INFO, frpc.RpcLog.Information),
    (logging.DEBUG, frpc.RpcLog.Debug),
)

#: Loggers whose records never go to the host (gRPC's own; sending them would log again).
_SKIPPED_PREFIXES = ("grpc", "asyncio", "azure_durable_ext.functions.grpc_worker")


def rpc_level(levelno: int) -> "frpc.RpcLog.Level":
    for threshold, level in _LEVELS:
        if levelno >= threshold:
            return level
    return frpc.RpcLog.Trace


class RpcLogHandler(logging.Handler):
    """Turns records into RpcLog messages handed to ``send`` (thread-safe: ``send`` must be).

    Records logged inside an invocation carry its id and the User category; others System.
    """

    def __init__(self, send: Callable[[frpc.StreamingMessage], None], level: int = logging.INFO) -> None:
        super().__init__(level)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SKIPPED_PREFIXES):
            return
        try:
            scope = current_invocation.get()
            invocation_id = getattr(record, "invocation_id", None) or (scope.invocation_id if scope else "")
            log = frpc.RpcLog(
                invocation_id=invocation_id,
                category=record.name,
                level=rpc_level(record.levelno),
                message=self.format(record),
                log_category=frpc.RpcLog.User if invocation_id else frpc.RpcLog.System,
            )
            self._send(frpc.StreamingMessage(rpc_log=log))
        except Exception:
            self.handleError(record)
