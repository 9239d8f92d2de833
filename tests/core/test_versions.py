from __future__ import annotations

import pytest

from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.versions import (
    VersionFailureStrategy,
    VersioningOptions,
    VersionMatchStrategy,
    compare_versions,
    validate_version,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.2.0", "1.2.0", 0),
        ("1.2.0", "1.10.0", -1),  # numeric, not lexical
        ("2.0", "10.0", -1),
        ("1.0", "1.0.0", -1),  # System.Version: missing component is lower
        (None, "1.0.0", -1),
        ("", "0", -1),
        (None, "", 0),
        ("1.0.0", None, 1),
        ("beta", "Beta", 0),  # non-numeric: case-insensitive string comparison
        ("alpha", "beta", -1),
        ("1.0.0", "1.0.0-rc", -1),  # mixed: string comparison
    ],
)
def test_compare_versions(a: str | None, b: str | None, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


@pytest.mark.parametrize("bad", ["1.2.0 ", " 1", "a/b", "x" * 101, "-1", "1\n2"])
def test_validate_version_refuses_with_the_rule(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid version"):
        validate_version(bad)


def test_validate_version_normalises_empty() -> None:
    assert validate_version("") is None
    assert validate_version(None) is None
    assert validate_version("1.2.0") == "1.2.0"


@pytest.mark.parametrize(
    ("strategy", "instance", "accepted"),
    [
        (VersionMatchStrategy.NONE, "9.0", True),
        (VersionMatchStrategy.STRICT, "2.0.0", True),
        (VersionMatchStrategy.STRICT, "1.0.0", False),
        (VersionMatchStrategy.STRICT, None, False),
        (VersionMatchStrategy.CURRENT_OR_OLDER, "1.0.0", True),
        (VersionMatchStrategy.CURRENT_OR_OLDER, "2.0.0", True),
        (VersionMatchStrategy.CURRENT_OR_OLDER, None, True),
        (VersionMatchStrategy.CURRENT_OR_OLDER, "2.0.1", False),
    ],
)
def test_versioning_options_accepts(strategy: VersionMatchStrategy, instance: str | None, accepted: bool) -> None:
    options = VersioningOptions(version="2.0.0", match_strategy=strategy, failure_strategy=VersionFailureStrategy.FAIL)
    assert options.accepts(instance) is accepted


def test_worker_without_version_accepts_everything() -> None:
    assert VersioningOptions(match_strategy=VersionMatchStrategy.STRICT).accepts("3.0")
