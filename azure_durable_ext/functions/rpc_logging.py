"""Log records to the host as RpcLog messages, with the invocation id of the code that logged.

With a host that takes an invocation's records after its InvocationResponse (capability
``LATE_INVOCATION_LOGS``, which our dev host advertises), the records an invocation logs
while it runs are held and go out right after its response (``HeldInvocationLogs``): a
stream write in the middle of an invocation delays what the invocation does next (its
durable client call reaches the host behind the record, which the host handles first), and
written before the response it delays the response. An invocation still running after
``max_delay`` gets its records sent from then on as they come, so long-running functions
still show their logs live. The Functions host drops records that arrive after the
invocation's response, so without the capability every record is sent as it is logged.

A host that also reads records from the response itself (``INVOCATION_LOGS_IN_RESPONSE``,
our dev host again) gets the held records inside the InvocationResponse (``result.logs``):
one stream message per invocation instead of one more per record, on both sides.
"""
from __future__ import annotations

import asyncio
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

#: Seconds a hold may end early: loop timers fire with about a millisecond's precision.
_TIMER_SLACK = 0.001

#: How long an invocation's records are held at most (``HeldInvocationLogs.max_delay``, the
#: worker's ``--log-hold``). One second: under load an HTTP start waits well over 100 ms for
#: its turn, and every record let go before its response costs a stream message each way;
#: a long-running function's records still appear within a second.
DEFAULT_LOG_HOLD = 1.0

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
            message = frpc.StreamingMessage()
            log = message.rpc_log  # filled in place: no copy into the envelope
            log.invocation_id = invocation_id
            log.category = record.name
            log.level = rpc_level(record.levelno)
            log.message = self.format(record)
            log.log_category = frpc.RpcLog.User if invocation_id else frpc.RpcLog.System
            self._send(message)
        except Exception:
            self.handleError(record)


class HeldInvocationLogs:
    """RpcLog messages of invocations in flight, sent after their response (see module doc).

    Runs on the worker's loop: ``begin`` when an invocation starts, ``offer`` for every
    record message, ``end`` once its response is queued. Records of invocations not in
    flight go out at once, and all of them while ``active`` is off (the host did not say it
    takes records after the response).
    """

    def __init__(self, send: Callable[[frpc.StreamingMessage], None], *, max_delay: float = DEFAULT_LOG_HOLD) -> None:
        if max_delay < 0:
            raise ValueError(f"max_delay must be >= 0 seconds, got {max_delay!r}")
        self._send = send
        self.max_delay = max_delay
        self._held: dict[str, list[frpc.StreamingMessage]] = {}
        #: Invocation id -> loop time its held records go out anyway, in the order they were
        #: held (so the earliest comes first). One timer serves them all: a timer per
        #: invocation that logs cost a timer start and cancel on every invocation.
        self._deadlines: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.active = False
        #: The host reads records from the response (``attach``) rather than after it.
        self.into_response = False

    def begin(self, invocation_id: str) -> None:
        if invocation_id and self.active and self.max_delay > 0:
            self._held[invocation_id] = []

    def offer(self, message: frpc.StreamingMessage) -> None:
        invocation_id = message.rpc_log.invocation_id
        held = self._held.get(invocation_id) if invocation_id else None
        if held is None:
            self._send(message)
            return
        held.append(message)
        if len(held) == 1:
            loop = asyncio.get_running_loop()
            deadline = self._deadlines[invocation_id] = loop.time() + self.max_delay
            if self._timer is None:
                self._timer = loop.call_at(deadline, self._expire)

    def attach(self, invocation_id: str, result: frpc.StatusResult) -> None:
        """Move the records held for ``invocation_id`` into its response's ``result.logs``
        when the host reads them there; later records of it are not held."""
        if self.into_response:
            result.logs.extend(message.rpc_log for message in self._take(invocation_id))

    def end(self, invocation_id: str) -> None:
        for message in self._take(invocation_id):
            self._send(message)

    def _take(self, invocation_id: str) -> list[frpc.StreamingMessage]:
        """The records held for ``invocation_id``, no longer held (nor timed)."""
        self._deadlines.pop(invocation_id, None)
        return self._held.pop(invocation_id, None) or []

    def _expire(self) -> None:
        """Release the invocations whose hold is over (they run long: their later records
        are not held either) and wait for the next deadline, if any."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._deadlines:
            invocation_id, deadline = next(iter(self._deadlines.items()))
            if deadline > now + _TIMER_SLACK:
                self._timer = loop.call_at(deadline, self._expire)
                return
            self.end(invocation_id)

    @property
    def holding(self) -> int:
        """How many invocations have records held (for tests and diagnostics)."""
        return sum(1 for held in self._held.values() if held)
