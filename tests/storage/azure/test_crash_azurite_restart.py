"""Azurite restarted (stopped, then started on the same ports and data folder) while a
sidecar runs orchestrations under load, in process or on the official ``durabletask``
worker: every instance completes, none runs twice.

Starts keep coming during the outage; a start that fails is retried with the same instance
id (as a client would), and "already exists" on a retry means an earlier attempt got through.
A checkpoint cut by the outage between its history batch and its row write must still end
with the row right (``test_crash_recovery`` has the deterministic case); an instance left
unfinished is described (row, history, queues, in-memory state) in the failure message.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator

import crash_app
import pytest
from crash_support import assert_ran_once, running_host, task_hub
from durabletask.worker import TaskHubGrpcWorker

from azure_durable_ext.core.errors import InstanceAlreadyExistsError, StorageUnavailableError
from azure_durable_ext.sidecar.hub import TaskHub
from azure_durable_ext.storage.azure.azurite import AzuriteProcess

INSTANCES = 40
RESTART_AFTER = 12
OUTAGE_SECONDS = 1.5


@pytest.fixture
def own_azurite() -> Iterator[AzuriteProcess]:
    """An Azurite of this test alone (the session one must not go down under other tests)."""
    process = AzuriteProcess().start()
    try:
        yield process
    finally:
        process.stop()


async def _start_with_retries(hub: TaskHub, instance_id: str) -> None:
    """Start ``instance_id``, retrying through the outage (the SDK's own retries absorb
    short ones)."""
    retried = False
    while True:
        try:
            await hub.durable.start_new("hello_sequence", instance_id)
            return
        except InstanceAlreadyExistsError:
            if not retried:
                raise
            return  # an earlier attempt wrote the row before its error
        except StorageUnavailableError:
            retried = True
            await asyncio.sleep(0.2)


@contextlib.contextmanager
def _official_worker(address: str | None) -> Iterator[None]:
    if address is None:
        yield
        return
    worker = crash_app.register_on_official_worker(TaskHubGrpcWorker(host_address=address))
    worker.start()
    try:
        yield
    finally:
        worker.stop()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runner", ["in-process", "official-worker"])
async def test_every_instance_completes_once_across_an_azurite_restart(own_azurite: AzuriteProcess, runner: str) -> None:
    hub = task_hub(
        own_azurite,
        f"Restart{uuid.uuid4().hex[:12]}",
        control_queue_visibility_timeout=5.0,
        work_item_queue_visibility_timeout=5.0,
    )
    in_process = runner == "in-process"
    ids = [f"load-{n:03d}" for n in range(INSTANCES)]
    try:
        async with running_host(hub, in_process=in_process) as address:
            with _official_worker(None if in_process else address):
                for instance_id in ids[:RESTART_AFTER]:
                    await _start_with_retries(hub, instance_id)
                # The outage begins while those run; the rest are started through it.
                outage = asyncio.create_task(asyncio.to_thread(own_azurite.restart, OUTAGE_SECONDS))
                for instance_id in ids[RESTART_AFTER:]:
                    await _start_with_retries(hub, instance_id)
                    await asyncio.sleep(0.05)
                await outage
                for instance_id in ids:
                    await assert_ran_once(hub, instance_id, "hello_sequence", None)
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()


@pytest.mark.timeout(180)
async def test_an_orchestration_started_after_a_restart_completes(
    own_azurite: AzuriteProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Azurite restarted under a running service (pollers in the middle of their receives):
    an orchestration started once it is back completes, and the pollers' failed rounds meanwhile
    are one line each."""
    hub = task_hub(own_azurite, f"Back{uuid.uuid4().hex[:12]}")
    try:
        async with running_host(hub):
            await _start_with_retries(hub, "before")
            await assert_ran_once(hub, "before", "hello_sequence", None)
            with caplog.at_level(logging.WARNING):
                await asyncio.to_thread(own_azurite.restart, OUTAGE_SECONDS)
                await _start_with_retries(hub, "after")
                await assert_ran_once(hub, "after", "hello_sequence", None)
    finally:
        await hub.service.delete_task_hub()
        await hub.service.stop()
    pollers = ("azure_durable_ext.storage.azure.control_queue", "azure_durable_ext.sidecar.dispatch.work_loop")
    tracebacks = [r.getMessage() for r in caplog.records if r.name in pollers and r.exc_info is not None]
    assert not tracebacks, "a poll that failed while storage was away is one line"
