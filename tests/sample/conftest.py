"""Fixtures of the sample app tests: the dev host harness (tests/devhost) and the session
Azurite (tests/storage)."""
from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for folder in (_TESTS / "devhost", _TESTS / "storage"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from azurite_fixture import azurite  # noqa: E402,F401  (fixture)
