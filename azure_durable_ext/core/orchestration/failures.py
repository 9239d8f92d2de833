"""Failure details for exceptions raised in orchestrator code."""
from __future__ import annotations

import traceback

from ..errors import TaskFailedError
from ..model import FailureDetails

_MAX_CHAIN = 10


def failure_from_exception(exc: BaseException, _depth: int = 0) -> FailureDetails:
    """FailureDetails for ``exc``; a TaskFailedError carries the task's own failure as inner.

    The chain (``raise ... from``) is followed so that an orchestrator which wraps a failed
    activity's error still reports the activity's details underneath.
    """
    if isinstance(exc, TaskFailedError):
        inner: FailureDetails | None = exc.details
    else:
        cause = exc.__cause__ or exc.__context__
        inner = (
            failure_from_exception(cause, _depth + 1)
            if cause is not None and cause is not exc and _depth < _MAX_CHAIN
            else None
        )
    return FailureDetails(
        error_type=type(exc).__name__,
        message=str(exc),
        stack_trace="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        inner=inner,
    )
