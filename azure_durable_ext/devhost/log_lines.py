"""Cheap log records for the dev host's per-invocation lines.

``Logger.info`` walks the call stack to find the caller's file and line (``findCaller``) for
every record; the dev host's format shows neither, and on the HTTP path that walk was a
noticeable part of the host's time per request. ``log_line`` makes the same record without it
and hands it to the logger's handlers as usual (levels, filters and handlers all apply).
"""
from __future__ import annotations

import logging


def log_line(logger: logging.Logger, level: int, message: str, args: tuple[object, ...]) -> None:
    """``logger.log(level, message, *args)`` without looking up the caller's source line."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "(unknown file)", 0, message, args, None))
