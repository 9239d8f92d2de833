"""The blocking facade: same methods as the async client, one implementation underneath,
usable from plain threads and from a running loop's executor threads."""
from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

from azure_durable_ext import DurableTaskClient, GrpcDurableTaskClient, OrchestrationStatus, SyncDurableTaskClient, TaskName
from azure_durable_ext.client import FunctionsDurableTaskClient, LoopPortal
from azure_durable_ext.client.sync import api_method_names
from azure_durable_ext.core.errors import InstanceNotFoundError, OperationTimeoutError, SerializationError


def test_facade_mirrors_every_async_method_with_the_same_signature():
    names = api_method_names()
    assert {"schedule_new_orchestration_instance", "wait_for_instance_completion", "iter_instances", "execute"} <= set(names)
    for name in names:
        assert inspect.signature(getattr(SyncDurableTaskClient, name)) == inspect.signature(
            getattr(DurableTaskClient, name)
        ), name
        assert not inspect.iscoroutinefunction(getattr(SyncDurableTaskClient, name))


@pytest.mark.usefixtures("worker")
def test_plain_thread_round_trip(sidecar):
    with GrpcDurableTaskClient(f"http://{sidecar.address}", task_hub="SyncHub").sync() as client:
        instance_id = client.schedule_new_orchestration_instance(TaskName("hello", "1.2.0"), "sync")
        done = client.wait_for_instance_completion(instance_id, timeout=30)
        assert done.runtime_status is OrchestrationStatus.COMPLETED
        assert done.read_output_as() == {"version": "1.2.0", "input": "sync"}
        assert client.get_instance(instance_id).name == "hello"
        waiting = client.schedule_new_orchestration_instance("wait_for_go", instance_id="sync-wait")
        client.wait_for_instance_start(waiting, timeout=30)
        client.raise_event(waiting, "go", 5)
        assert client.wait_for_instance_completion(waiting, timeout=30).read_output_as() == {"got": 5}
        history = client.get_instance_history(instance_id)
        assert history[0].HasField("orchestratorStarted")
        assert sorted(m.instance_id for m in client.iter_instances(page_size=1)) == sorted([instance_id, waiting])
        assert [len(page.instances) for page in client.iter_instance_pages(page_size=1)] == [1, 1]
        assert client.purge_instance(instance_id).deleted_instance_count == 1
        assert client.get_instance(instance_id) is None
    [headers, *_] = sidecar.recorder.headers_of("StartInstance")
    assert headers["durable-taskhub"] == "SyncHub"


def test_errors_propagate_unchanged(sidecar):
    with GrpcDurableTaskClient(sidecar.address).sync() as client:
        with pytest.raises(InstanceNotFoundError, match="'ghost' not found"):
            client.raise_event("ghost", "evt")
        with pytest.raises(SerializationError, match="builtins.object"):
            client.schedule_new_orchestration_instance("hello", object())
        pending = client.schedule_new_orchestration_instance("hello")
        with pytest.raises(OperationTimeoutError):
            client.wait_for_instance_start(pending, timeout=0.1)


def test_iterating_part_of_the_instances_then_stopping_closes_cleanly(sidecar):
    with GrpcDurableTaskClient(sidecar.address).sync() as client:
        for i in range(3):
            client.schedule_new_orchestration_instance("hello", instance_id=f"part-{i}")
        iterator = client.iter_instances(page_size=1)
        first = next(iterator)
        iterator.close()
        assert first.instance_id.startswith("part-")


async def test_usable_from_a_running_loops_executor_thread(sidecar):
    def blocking_work() -> str:
        with GrpcDurableTaskClient(sidecar.address).sync() as client:
            instance_id = client.schedule_new_orchestration_instance("hello", "from executor")
            return client.get_instance(instance_id).read_input_as()

    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, blocking_work) == "from executor"


def test_many_threads_share_one_facade(sidecar):
    results: list[str] = []
    errors: list[BaseException] = []
    with GrpcDurableTaskClient(sidecar.address).sync() as client:

        def start(n: int) -> None:
            try:
                results.append(client.schedule_new_orchestration_instance("hello", n, instance_id=f"t-{n}"))
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert sorted(results) == sorted(f"t-{n}" for n in range(8))


def test_calling_the_facade_on_its_own_portal_loop_raises_instead_of_hanging(sidecar):
    with GrpcDurableTaskClient(sidecar.address).sync() as client:

        async def misuse() -> None:
            client.get_instance("x")

        with pytest.raises(RuntimeError, match="would wait for itself"):
            client.portal.call(misuse)


async def test_calling_the_facade_from_a_running_loops_own_thread_raises(sidecar):
    client = GrpcDurableTaskClient(sidecar.address).sync()
    try:
        with pytest.raises(RuntimeError, match="from a thread running an event loop"):
            client.get_instance("x")
    finally:
        await asyncio.get_running_loop().run_in_executor(None, client.close)


def test_shared_portal_outlives_the_facades_that_borrow_it(sidecar):
    with LoopPortal() as portal:
        first = GrpcDurableTaskClient(sidecar.address).sync(portal)
        second = GrpcDurableTaskClient(sidecar.address).sync(portal)
        first.schedule_new_orchestration_instance("hello", instance_id="shared-1")
        first.close()
        assert not portal.closed
        assert second.get_instance("shared-1").name == "hello"
        second.close()
    assert portal.closed
    with pytest.raises(RuntimeError, match="closed"):
        portal.call(asyncio.sleep, 0)


def test_async_client_used_on_another_loop_is_refused(sidecar):
    client = GrpcDurableTaskClient(sidecar.address)
    asyncio.run(client.get_instance("x"))  # binds the client to that (now closed) loop
    with client.sync() as blocking, pytest.raises(RuntimeError, match="bound to the event loop"):
        blocking.get_instance("x")


def test_functions_client_gets_a_sync_flavour_with_its_extras(sidecar):
    inner = GrpcDurableTaskClient(sidecar.address)
    functions_client = FunctionsDurableTaskClient(
        inner, http_base_url="http://localhost:7071/runtime/webhooks/durabletask", task_hub="H", connection_name="C"
    )
    with functions_client.sync() as client:
        instance_id = client.schedule_new_orchestration_instance("hello", instance_id="fn-sync")
        payload = client.create_http_management_payload(instance_id)
        assert payload["id"] == "fn-sync"
        assert client.get_instance(instance_id).name == "hello"
