"""A client-only host (a listener-only sidecar: it starts instances, runs none) shares a task
hub with a host that runs orchestrations: it claims no partition lease, so the running host
owns every partition and every instance completes, whichever partition it lands on."""
from __future__ import annotations

import logging
import uuid

import pytest
from crash_support import assert_ran_once, running_host, task_hub
from partition_support import eventually, read_leases

from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHubRegistry
from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

pytestmark = pytest.mark.timeout(180)


async def test_a_client_only_host_leaves_every_partition_to_the_host_that_runs_orchestrations(
    azurite: AzuriteProcess, caplog: pytest.LogCaptureFixture
) -> None:
    hub_name = f"Client{uuid.uuid4().hex[:12]}"
    client_hub, runner_hub = task_hub(azurite, hub_name), task_hub(azurite, hub_name)
    client_service, runner_service = client_hub.service, runner_hub.service
    assert isinstance(client_service, AzureStorageOrchestrationService)
    assert isinstance(runner_service, AzureStorageOrchestrationService)
    everything = frozenset(range(client_service.options.partition_count))
    caplog.set_level(logging.INFO, logger="azure_durable_ext.storage.azure")
    client = SidecarHost(TaskHubRegistry([client_hub]))  # listener only, as the start bench's sidecar
    await client.start()  # first: before the fix it claimed every partition here
    try:
        ids = [f"c{i}" for i in range(16)]
        assert {client_service.names.partition_of(i) for i in ids} == everything
        for instance_id in ids:
            await client_hub.durable.start_new("hello_sequence", instance_id)
        assert client_service.owned_partitions == frozenset() and not client_service._pollers
        assert await read_leases(client_service._hub.resources.partitions) == {}, "no lease claimed"
        async with running_host(runner_hub):

            async def runner_owns_everything() -> bool:
                return runner_service.owned_partitions == everything

            await eventually("the running host owning every partition", runner_owns_everything)
            for instance_id in ids:
                await assert_ran_once(runner_hub, instance_id, "hello_sequence", None)
            assert client_service.owned_partitions == frozenset() and not client_service._pollers
            assert runner_service.partition_manager is not None
            leases = await read_leases(client_service._hub.resources.partitions)
            assert {r.current_owner for r in leases.values()} == {runner_service.partition_manager.worker_id}
            assert len(leases) == len(everything)
    finally:
        await client.stop(0)
        try:
            await runner_service.delete_task_hub()
        finally:
            await runner_service.stop()
            await client_service.stop()
    assert "claims partitions once this process asks for orchestration work" in caplog.text
