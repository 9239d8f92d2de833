"""Fixtures of the dev host tests (the helpers live in devhost_harness.py)."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

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
