"""Durable version semantics: comparison and the worker's versioning options.

Rules (Durable Functions / DurableTask.Core): a null or empty version is older than any
version; when both parse as dotted numeric versions they compare numerically; otherwise
they compare as case-insensitive strings.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .errors import InvalidArgumentError

_NUMERIC = re.compile(r"^\d+(\.\d+){0,3}$")
# What a version string may contain: a user typo ("1.2.0 "), a path or a control
# character should be refused at the edge instead of being stored as a new version.
_ALLOWED = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,99}$")


def _numeric_parts(version: str) -> tuple[int, ...] | None:
    if not _NUMERIC.match(version):
        return None
    parts = tuple(int(p) for p in version.split("."))
    # System.Version treats missing components as lower than zero ("1.0" < "1.0.0"),
    # padding with -1 keeps that order.
    return parts + (-1,) * (4 - len(parts))


def compare_versions(a: str | None, b: str | None) -> int:
    """Return <0, 0 or >0 as version ``a`` is older than, equal to or newer than ``b``."""
    a_empty, b_empty = not a, not b
    if a_empty or b_empty:
        return (0 if a_empty else 1) - (0 if b_empty else 1)
    assert a is not None and b is not None
    pa, pb = _numeric_parts(a), _numeric_parts(b)
    if pa is not None and pb is not None:
        return (pa > pb) - (pa < pb)
    la, lb = a.lower(), b.lower()
    return (la > lb) - (la < lb)


def validate_version(version: str | None) -> str | None:
    """Return the version, normalised ("" -> None), or raise naming the rule it breaks."""
    if version is None or version == "":
        return None
    if not isinstance(version, str):
        raise InvalidArgumentError(f"version must be a string, not {type(version).__name__}")
    if not _ALLOWED.match(version):
        raise InvalidArgumentError(
            f"invalid version {version!r}: a version is 1-100 characters of letters, digits, "
            "'.', '-', '_' or '+', starting with a letter or digit"
        )
    return version


class VersionMatchStrategy(enum.Enum):
    """Which orchestration versions a worker accepts (host.json versionMatchStrategy)."""

    NONE = "None"
    STRICT = "Strict"
    CURRENT_OR_OLDER = "CurrentOrOlder"


class VersionFailureStrategy(enum.Enum):
    """What a worker does with a version it does not accept (versionFailureStrategy)."""

    REJECT = "Reject"
    FAIL = "Fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class VersioningOptions:
    """A worker's versioning settings, with the Durable Functions defaults."""

    version: str | None = None
    default_version: str | None = None
    match_strategy: VersionMatchStrategy = VersionMatchStrategy.CURRENT_OR_OLDER
    failure_strategy: VersionFailureStrategy = VersionFailureStrategy.REJECT

    def accepts(self, instance_version: str | None) -> bool:
        """Whether an instance of ``instance_version`` may run on this worker."""
        if self.match_strategy is VersionMatchStrategy.NONE or not self.version:
            return True
        cmp = compare_versions(instance_version, self.version)
        if self.match_strategy is VersionMatchStrategy.STRICT:
            return cmp == 0
        return cmp <= 0
