"""SidecarThread: a real sidecar (listener + in-memory provider) on 127.0.0.1, in its own
event-loop thread so the official blocking client can call it from the test thread."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from azure_durable_ext._proto import pb
from azure_durable_ext.core.model import FailureDetails, InstanceState, OrchestrationCheckpoint
from azure_durable_ext.core.options import DurableTaskOptions
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.sidecar.host import SidecarHost
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

T = TypeVar("T")


class SidecarThread:
    """Runs a SidecarHost on an asyncio loop in a background thread."""

    def __init__(self, options: DurableTaskOptions) -> None:
        self.options = options
        self.service = InMemoryOrchestrationService(task_hub=options.hub_name)
        self.hub = TaskHub.create(options, self.service)
        self.host = SidecarHost(TaskHubRegistry([self.hub]))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sidecar-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.run(self.host.start())

    def stop(self) -> None:
        try:
            self.run(self.host.stop(grace=0.5))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    @property
    def address(self) -> str:
        return self.host.address

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the sidecar's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Same as ``run`` for async tests (awaits without blocking the test's loop)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def state(self, instance_id: str) -> InstanceState | None:
        return self.run(self.service.get_instance(instance_id))

    def finish(
        self,
        instance_id: str,
        status: OrchestrationStatus = OrchestrationStatus.COMPLETED,
        *,
        output: str | None = None,
        failure: FailureDetails | None = None,
    ) -> InstanceState:
        """Drive one episode through the provider, as a dispatcher would: lock the instance,
        record Running, then the given status (the test stands in for the orchestrator)."""
        return self.run(self._finish(instance_id, status, output, failure))

    async def _finish(
        self, instance_id: str, status: OrchestrationStatus, output: str | None, failure: FailureDetails | None
    ) -> InstanceState:
        item = await self.service.lock_next_orchestration(5)
        assert item is not None and item.instance_id == instance_id, item
        assert item.state is not None
        now = datetime.now(timezone.utc)
        completed = pb.HistoryEvent(eventId=-1)
        completed.executionCompleted.orchestrationStatus = status.value
        events = [m.event for m in item.new_messages] + [completed]
        state = replace(
            item.state,
            status=status,
            output=output,
            failure=failure,
            last_updated_at=now,
            completed_at=now if status.is_terminal else None,
        )
        await self.service.complete_orchestration(item, OrchestrationCheckpoint(state=state, new_events=events))
        return state

    def mark_running(self, instance_id: str) -> None:
        """Take the pending messages and record the instance as Running."""
        self.run(self._mark_running(instance_id))

    async def _mark_running(self, instance_id: str) -> None:
        item = await self.service.lock_next_orchestration(5)
        assert item is not None and item.instance_id == instance_id and item.state is not None
        state = replace(item.state, status=OrchestrationStatus.RUNNING, last_updated_at=datetime.now(timezone.utc))
        await self.service.complete_orchestration(
            item, OrchestrationCheckpoint(state=state, new_events=[m.event for m in item.new_messages])
        )


def start_sidecar(options: DurableTaskOptions) -> Iterator[SidecarThread]:
    sidecar = SidecarThread(options)
    sidecar.start()
    try:
        yield sidecar
    finally:
        sidecar.stop()
