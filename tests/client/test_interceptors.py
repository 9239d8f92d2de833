"""Operation interceptors around a real gRPC client (in-memory sidecar)."""
from __future__ import annotations

import dataclasses

from azure_durable_ext import GrpcDurableTaskClient
from azure_durable_ext.client.interceptors import OperationInterceptor, intercepted
from azure_durable_ext.client.operations import StartOrchestrationInput


class Audit(OperationInterceptor):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def intercept(self, operation, call_next):
        self.log.append(f"{self.name}>{operation.label}")
        result = await call_next(operation)
        self.log.append(f"{self.name}<{operation.label}")
        return result


class TagStarts(OperationInterceptor):
    async def intercept(self, operation, call_next):
        if isinstance(operation, StartOrchestrationInput):
            operation = dataclasses.replace(operation, tags={**operation.tags, "source": "interceptor"})
        return await call_next(operation)


async def test_chain_order_and_a_rewritten_operation_reach_the_server(sidecar):
    log: list[str] = []
    client = intercepted(GrpcDurableTaskClient(sidecar.address), Audit("outer", log), Audit("inner", log), TagStarts())
    async with client:
        instance_id = await client.schedule_new_orchestration_instance("hello", tags={"mine": "1"})
        assert (await client.get_instance(instance_id)).name == "hello"
    assert log[:4] == [
        "outer>schedule_new_orchestration_instance",
        "inner>schedule_new_orchestration_instance",
        "inner<schedule_new_orchestration_instance",
        "outer<schedule_new_orchestration_instance",
    ]
    [request] = sidecar.recorder.requests_of("StartInstance")
    assert dict(request.tags) == {"mine": "1", "source": "interceptor"}


def test_intercepted_clients_have_a_sync_flavour(sidecar):
    log: list[str] = []
    with intercepted(GrpcDurableTaskClient(sidecar.address), Audit("a", log)).sync() as client:
        assert client.get_instance("nobody") is None
    assert log == ["a>get_instance", "a<get_instance"]
