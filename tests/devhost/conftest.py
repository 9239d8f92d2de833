"""Fixtures of the dev host tests (the helpers live in devhost_harness.py) and the session
Azurite (tests/storage)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for folder in (_TESTS / "devhost", _TESTS / "storage"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from azurite_fixture import azurite  # noqa: E402,F401  (fixture)
from devhost_harness import ManagementServer, serve_management  # noqa: E402

from azure_durable_ext.devhost.keys import KeyStore  # noqa: E402


@pytest.fixture
async def mgmt() -> AsyncIterator[ManagementServer]:
    async for server in serve_management(None, {"Hello", "Waiter", "Failing"}):
        yield server


@pytest.fixture
async def keyed_mgmt() -> AsyncIterator[ManagementServer]:
    keys = KeyStore("master-k", {"default": "func-k"}, {"durabletask_extension": "sys-k"})
    async for server in serve_management(keys, None):
        yield server
