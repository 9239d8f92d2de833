"""Fixtures: a running sidecar and official durabletask clients pointed at it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sidecar_harness import SidecarThread, start_sidecar

from azure_durable_ext.core.options import DurableTaskOptions


@pytest.fixture
def sidecar() -> Iterator[SidecarThread]:
    yield from start_sidecar(DurableTaskOptions())


@pytest.fixture
def sync_client(sidecar: SidecarThread) -> Iterator[Any]:
    from durabletask.client import TaskHubGrpcClient

    client = TaskHubGrpcClient(host_address=sidecar.address)
    try:
        yield client
    finally:
        client.close()
