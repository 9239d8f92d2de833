"""Counting storage transactions, and turning SDK transport errors into our errors."""
from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

from ...core.errors import StorageUnavailableError


class StorageOperationCounter:
    """Counts storage calls by ``"{service}.{operation}"`` (e.g. ``"queue.send"``).

    One count per round trip to the service (a table batch counts once), so a benchmark can
    report transactions per start or per orchestration.
    """

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def count(self, service: str, operation: str, n: int = 1) -> None:
        self.counts[f"{service}.{operation}"] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_service(self) -> dict[str, int]:
        out: collections.Counter[str] = collections.Counter()
        for key, n in self.counts.items():
            out[key.split(".", 1)[0]] += n
        return dict(out)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)

    def reset(self) -> None:
        self.counts.clear()


@contextlib.contextmanager
def unavailable_as(setting_name: str, what: str) -> Iterator[None]:
    """Re-raise transport and authentication failures as StorageUnavailableError naming the setting."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnavailableError(
            f"{setting_name}: cannot reach Azure Storage while {what}: {_short(exc)}"
        ) from exc
    except ClientAuthenticationError as exc:
        raise StorageUnavailableError(
            f"{setting_name}: Azure Storage refused the credentials while {what}: {_short(exc)}"
        ) from exc


def _short(exc: BaseException, limit: int = 300) -> str:
    """The first line of the message (at most ``limit`` characters), or the type's name."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__


def brief_error(error: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters), for one-line logs."""
    name = type(error).__name__
    return f"{name}: {_short(error, 200)}" if str(error).strip() else name
