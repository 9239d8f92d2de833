"""The command line's console lines: ConsoleFormatter writes what logging.Formatter writes."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from azure_durable_ext.cli.console_log import CONSOLE_FORMAT, ConsoleFormatter
from azure_durable_ext.cli.main import configure_logging


def _record(created: float, message: str = "Executed 'Functions.%s' (%s)", args: tuple[object, ...] = ("F", "ok")
            ) -> logging.LogRecord:
    record = logging.LogRecord("azure_durable_ext.devhost.front_door", logging.INFO, "f.py", 1, message, args, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000  # as LogRecord computes it (3.11: plain float math)
    return record


@pytest.mark.parametrize("created", [
    1_700_000_000.0, 1_700_000_000.9995, 1_700_000_001.0004, 1_700_000_059.999, 1_700_003_600.5, 86_399.25,
])
def test_same_text_as_the_standard_formatter(created: float) -> None:
    ours, standard = ConsoleFormatter(), logging.Formatter(CONSOLE_FORMAT)
    record = _record(created)
    assert ours.format(record) == standard.format(_record(created))
    # The cached second is used for the next record of the same second, and renewed after.
    for later in (created + 0.0001, created + 0.3, created + 1, created + 61):
        assert ours.format(_record(later)) == standard.format(_record(later))


def test_explicit_date_format_and_formats_without_time() -> None:
    record = _record(1_700_000_000.25)
    assert ConsoleFormatter().formatTime(record, "%H:%M") == logging.Formatter().formatTime(record, "%H:%M")
    plain = ConsoleFormatter("%(levelname)s %(message)s")
    assert plain.format(_record(1_700_000_000.25)) == "INFO Executed 'Functions.F' (ok)"
    assert not plain.usesTime()


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        yield
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_the_command_line_logs_through_it(restored_root: None) -> None:
    logging.getLogger().handlers[:] = []  # as in a fresh process: basicConfig applies
    configure_logging(1)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, ConsoleFormatter)
