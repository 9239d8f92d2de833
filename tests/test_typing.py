"""The package type-checks: mypy with the settings in pyproject.toml ([tool.mypy]).

Public API carries type hints (house rule); this keeps them true. The generated protobuf
code is excluded there, everything else is checked, including untyped function bodies.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_package_type_checks(tmp_path: Path) -> None:
    # A cache outside the clone: CI starts clean either way, and a stale cache in the
    # working tree must not hide an error.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout
