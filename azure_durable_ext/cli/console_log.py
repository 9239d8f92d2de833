"""The command line's log lines on stderr: the standard ``logging`` text, built cheaper.

The dev host writes a line per invocation (front door "Executing"/"Executed", the worker's
forwarded records), so the line's cost is paid per request. ``logging.Formatter`` turns the
record's time into text with ``localtime`` + ``strftime`` for every record and looks for
``%(asctime)`` in the format string each time; ``ConsoleFormatter`` does both once (the
seconds text once per second) and writes the same characters.
"""
from __future__ import annotations

import logging
import time

CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleFormatter(logging.Formatter):
    """``logging.Formatter(fmt)`` with the default time format, its text cached per second."""

    def __init__(self, fmt: str = CONSOLE_FORMAT) -> None:
        super().__init__(fmt)
        self._uses_time = super().usesTime()
        #: (second, its "YYYY-mm-dd HH:MM:SS" text), replaced as one value (handlers may run
        #: on several threads).
        self._second_text: tuple[int, str] = (-1, "")

    def usesTime(self) -> bool:
        return self._uses_time

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached_second, text = self._second_text
        if cached_second != second:
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second_text = (second, text)
        msec_format = self.default_msec_format
        return msec_format % (text, record.msecs) if msec_format else text


def console_handler() -> logging.Handler:
    """A stderr handler with ``ConsoleFormatter``."""
    handler = logging.StreamHandler()
    handler.setFormatter(ConsoleFormatter())
    return handler
