"""Stopping a control-queue poller whose receive hangs (an endpoint that accepts and never
answers): the grace period, and a stop that is itself cancelled, end the polling."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from azure_durable_ext.core.clock import SystemClock
from azure_durable_ext.core.options import AzureStorageOptions
from azure_durable_ext.storage.azure import control_queue
from azure_durable_ext.storage.azure.control_queue import ControlQueue
from azure_durable_ext.storage.azure.message_queue import ReceivedMessage
from azure_durable_ext.storage.azure.operations import StorageOperationCounter
from azure_durable_ext.storage.azure.sessions import SessionTable
from silent_endpoint import silent_port, silent_queue  # noqa: F401  (fixture)


@pytest.fixture
async def hanging(silent_port: int) -> AsyncIterator[tuple[ControlQueue, "asyncio.Task[None]"]]:
    """A started poller inside a receive that never returns, and its polling task."""
    async with silent_queue(silent_port, "hub-control-00", StorageOperationCounter()) as queue:
        sessions = SessionTable()
        sessions.consumed.set()
        poller = ControlQueue(0, queue, sessions, AzureStorageOptions(), never_poisons, SystemClock())
        poller.start()
        for _ in range(500):
            if poller._receiving:
                break
            await asyncio.sleep(0.01)
        assert poller._receiving and poller._task is not None, "the poller is inside its receive"
        yield poller, poller._task


async def never_poisons(message: ReceivedMessage, reason: str) -> None:
    raise AssertionError(f"nothing is received here: {reason}")


@pytest.mark.timeout(30)
async def test_a_stop_cancelled_during_its_grace_period_still_ends_the_polling(
    hanging: tuple[ControlQueue, "asyncio.Task[None]"], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_queue, "RECEIVE_GRACE", 10.0)
    poller, polling = hanging
    stopping = asyncio.create_task(poller.stop())
    await asyncio.sleep(0.1)  # inside the grace period: the receive still hangs
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await asyncio.wait({polling}, timeout=5)
    assert polling.cancelled(), "the stop's cancellation ended the poll it had taken over"


@pytest.mark.timeout(30)
async def test_a_receive_that_hangs_is_cut_short_after_the_grace_period(
    hanging: tuple[ControlQueue, "asyncio.Task[None]"], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_queue, "RECEIVE_GRACE", 0.2)
    poller, polling = hanging
    await asyncio.wait_for(poller.stop(), 5)
    assert polling.cancelled()
