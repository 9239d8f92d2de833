"""The official asyncio client (AsyncTaskHubGrpcClient) against our listener."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from durabletask.client import AsyncTaskHubGrpcClient, OrchestrationQuery, OrchestrationStatus
from sidecar_harness import SidecarThread

from azure_durable_ext.core.model import FailureDetails
from azure_durable_ext.core.status import OrchestrationStatus as Status


@pytest.fixture
async def client(sidecar: SidecarThread) -> AsyncIterator[AsyncTaskHubGrpcClient]:
    async with AsyncTaskHubGrpcClient(host_address=sidecar.address) as c:
        yield c


async def test_start_versioned_and_get(client: AsyncTaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = await client.schedule_new_orchestration("HelloOrchestration", input=[1, 2], version="1.2.0")
    state = await client.get_orchestration_state(instance_id)
    assert state is not None and state.runtime_status == OrchestrationStatus.PENDING
    assert json.loads(state.serialized_input) == [1, 2]
    stored = await sidecar.arun(sidecar.service.get_instance(instance_id))
    assert stored is not None and stored.version == "1.2.0"


async def test_lifecycle_operations(client: AsyncTaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = await client.schedule_new_orchestration("HelloOrchestration")
    await sidecar.arun(sidecar._mark_running(instance_id))
    await client.raise_orchestration_event(instance_id, "Go", data=5)
    await client.suspend_orchestration(instance_id, reason="pause")
    await sidecar.arun(sidecar._finish(instance_id, Status.SUSPENDED, None, None))
    await client.resume_orchestration(instance_id)
    await client.terminate_orchestration(instance_id, output="bye")
    item = await sidecar.arun(sidecar.service.lock_next_orchestration(1))
    assert item is not None
    assert [m.event.WhichOneof("eventType") for m in item.new_messages] == ["executionResumed", "executionTerminated"]
    await sidecar.arun(sidecar.service.abandon_orchestration(item))

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.terminate_orchestration("ghost")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_waits_restart_rewind_history_purge(client: AsyncTaskHubGrpcClient, sidecar: SidecarThread) -> None:
    instance_id = await client.schedule_new_orchestration("HelloOrchestration", input="in", version="1.2.0")
    with pytest.raises(TimeoutError):
        await client.wait_for_orchestration_start(instance_id, timeout=0.2)

    waiting = asyncio.create_task(client.wait_for_orchestration_completion(instance_id, timeout=10))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await sidecar.arun(
        sidecar._finish(instance_id, Status.FAILED, None, FailureDetails(error_type="KeyError", message="missing"))
    )
    done = await waiting
    assert done is not None and done.runtime_status == OrchestrationStatus.FAILED
    started = await client.wait_for_orchestration_start(instance_id, timeout=5)
    assert started is not None

    history = await client.get_orchestration_history(instance_id)
    assert history[0].version == "1.2.0"

    await client.rewind_orchestration(instance_id, reason="retry")
    item = await sidecar.arun(sidecar.service.lock_next_orchestration(1))
    assert item is not None and item.new_messages[0].event.HasField("executionRewound")
    await sidecar.arun(sidecar.service.abandon_orchestration(item))

    new_id = await client.restart_orchestration(instance_id, restart_with_new_instance_id=True)
    assert new_id != instance_id

    assert (await client.purge_orchestration(instance_id)).deleted_instance_count == 1
    states = await client.get_all_orchestration_states(
        OrchestrationQuery(created_time_from=datetime.now(timezone.utc) - timedelta(minutes=1))
    )
    assert [s.instance_id for s in states] == [new_id]
    page = await client.list_instance_ids()
    assert page.items == []
    result = await client.purge_orchestrations_by(runtime_status=[OrchestrationStatus.COMPLETED])
    assert result.deleted_instance_count == 0
