"""DurableTaskClient: the abstract, asynchronous client API.

Every public method packs its arguments into an operation input (``client/operations.py``)
and awaits ``execute``; a concrete client implements only ``execute`` and ``close``. The
synchronous flavour of any client is ``client.sync()`` (see ``client/sync.py``).
"""
from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.instance_ids import new_instance_id
from ..core.model import InstanceQuery, PurgeFilter
from ..core.status import OrchestrationStatus
from ..core.task_name import TaskName
from ..protocol.convert import DEFAULT_PAGE_SIZE
from .metadata import InstancesPage, OrchestrationMetadata, PurgeResult
from .operations import (
    DEFAULT_WAIT_TIMEOUT,
    GetInstanceHistoryInput,
    GetInstanceInput,
    Operation,
    PurgeInstanceInput,
    PurgeInstancesInput,
    QueryInstancesInput,
    RaiseEventInput,
    RestartInstanceInput,
    ResumeInstanceInput,
    RewindInstanceInput,
    StartOrchestrationInput,
    SuspendInstanceInput,
    TerminateInstanceInput,
    WaitForInstanceCompletionInput,
    WaitForInstanceStartInput,
    seconds,
)

if TYPE_CHECKING:
    from .._proto import pb
    from .portal import LoopPortal
    from .sync import SyncDurableTaskClient

R = TypeVar("R")
_C = TypeVar("_C", bound="DurableTaskClient")


class DurableTaskClient(abc.ABC):
    """Schedules, queries and manages orchestration instances."""

    @abc.abstractmethod
    async def execute(self, operation: Operation[R]) -> R:
        """Run one operation (every public method ends here)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def sync(self, portal: "LoopPortal | None" = None) -> "SyncDurableTaskClient":
        """A blocking facade with the same methods, running this client on ``portal``
        (a private event-loop thread, created and owned by the facade when None)."""
        from .sync import SyncDurableTaskClient

        return SyncDurableTaskClient(self, portal=portal)

    # -- starting --------------------------------------------------------------------------

    async def schedule_new_orchestration_instance(
        self,
        orchestrator: TaskName | str,
        input: Any = None,
        *,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        version: str | None = None,
        reuse_statuses: Iterable[OrchestrationStatus] | None = None,
    ) -> str:
        """Schedule a new instance of ``orchestrator`` and return its instance id.

        ``orchestrator`` is a name or a ``TaskName(name, version)``; ``version`` overrides
        the TaskName's. No version at all means the host's ``defaultVersion``. A missing
        ``instance_id`` becomes a new 32-hex-digit GUID. ``reuse_statuses`` lists the
        states an existing instance with this id may be in to be replaced (None: the
        host's overridableExistingInstanceStates decides).
        """
        task = TaskName.of(orchestrator)
        return await self.execute(
            StartOrchestrationInput(
                name=task.name,
                version=version if version is not None else task.version,
                instance_id=instance_id or new_instance_id(),
                input=input,
                start_at=start_at,
                tags=dict(tags or {}),
                reuse_statuses=None if reuse_statuses is None else frozenset(reuse_statuses),
            )
        )

    # -- reading ---------------------------------------------------------------------------

    async def get_instance(
        self, instance_id: str, *, get_inputs_and_outputs: bool = True
    ) -> OrchestrationMetadata | None:
        """The instance's metadata, or None when no such instance exists."""
        return await self.execute(GetInstanceInput(instance_id=instance_id, get_inputs_and_outputs=get_inputs_and_outputs))

    async def wait_for_instance_start(
        self,
        instance_id: str,
        timeout: float | timedelta | None = DEFAULT_WAIT_TIMEOUT,
        *,
        get_inputs_and_outputs: bool = False,
    ) -> OrchestrationMetadata:
        """Wait until the instance has started (is no longer Pending).

        Raises OperationTimeoutError after ``timeout`` (None waits indefinitely) and
        InstanceNotFoundError when there is no such instance.
        """
        return await self.execute(
            WaitForInstanceStartInput(
                instance_id=instance_id, timeout=seconds(timeout), get_inputs_and_outputs=get_inputs_and_outputs
            )
        )

    async def wait_for_instance_completion(
        self,
        instance_id: str,
        timeout: float | timedelta | None = DEFAULT_WAIT_TIMEOUT,
        *,
        get_inputs_and_outputs: bool = True,
    ) -> OrchestrationMetadata:
        """Wait until the instance reaches a terminal state; errors as wait_for_instance_start."""
        return await self.execute(
            WaitForInstanceCompletionInput(
                instance_id=instance_id, timeout=seconds(timeout), get_inputs_and_outputs=get_inputs_and_outputs
            )
        )

    async def query_instances(
        self,
        *,
        statuses: Iterable[OrchestrationStatus] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        fetch_inputs_and_outputs: bool = False,
    ) -> InstancesPage:
        """One page of instances matching the filter; pass the page's continuation_token
        back for the next one (see ``iter_instances`` for all of them)."""
        query = InstanceQuery(
            statuses=frozenset(statuses or ()),
            created_from=created_from,
            created_to=created_to,
            instance_id_prefix=instance_id_prefix or None,
            page_size=page_size,
            continuation_token=continuation_token,
            include_payloads=fetch_inputs_and_outputs,
        )
        return await self.execute(QueryInstancesInput(query=query))

    async def iter_instance_pages(
        self,
        *,
        statuses: Iterable[OrchestrationStatus] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        fetch_inputs_and_outputs: bool = False,
    ) -> AsyncIterator[InstancesPage]:
        """Every page of instances matching the filter, following continuation tokens."""
        token: str | None = None
        while True:
            page = await self.query_instances(
                statuses=frozenset(statuses or ()),
                created_from=created_from,
                created_to=created_to,
                instance_id_prefix=instance_id_prefix,
                page_size=page_size,
                continuation_token=token,
                fetch_inputs_and_outputs=fetch_inputs_and_outputs,
            )
            yield page
            # A sidecar repeating a token would otherwise loop forever.
            if page.continuation_token is None or page.continuation_token == token:
                return
            token = page.continuation_token

    async def iter_instances(
        self,
        *,
        statuses: Iterable[OrchestrationStatus] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        fetch_inputs_and_outputs: bool = False,
    ) -> AsyncIterator[OrchestrationMetadata]:
        """Every instance matching the filter, fetching pages of ``page_size`` as it goes."""
        pages = self.iter_instance_pages(
            statuses=statuses,
            created_from=created_from,
            created_to=created_to,
            instance_id_prefix=instance_id_prefix,
            page_size=page_size,
            fetch_inputs_and_outputs=fetch_inputs_and_outputs,
        )
        async for page in pages:
            for metadata in page.instances:
                yield metadata

    async def get_instance_history(self, instance_id: str, *, execution_id: str | None = None) -> "list[pb.HistoryEvent]":
        """The history events of the instance's current execution (or ``execution_id``'s)."""
        return await self.execute(GetInstanceHistoryInput(instance_id=instance_id, execution_id=execution_id))

    # -- managing --------------------------------------------------------------------------

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Send the external event ``event_name`` (with ``event_data``) to the instance."""
        await self.execute(RaiseEventInput(instance_id=instance_id, event_name=event_name, data=event_data))

    async def terminate_instance(self, instance_id: str, output: Any = None, recursive: bool = False) -> None:
        """Terminate the instance with ``output``; ``recursive`` also ends its sub-orchestrations."""
        await self.execute(TerminateInstanceInput(instance_id=instance_id, output=output, recursive=recursive))

    async def suspend_instance(self, instance_id: str, reason: str | None = None) -> None:
        """Suspend the instance; events and results wait until it is resumed."""
        await self.execute(SuspendInstanceInput(instance_id=instance_id, reason=reason))

    async def resume_instance(self, instance_id: str, reason: str | None = None) -> None:
        """Resume a suspended instance."""
        await self.execute(ResumeInstanceInput(instance_id=instance_id, reason=reason))

    async def restart_instance(self, instance_id: str, restart_with_new_instance_id: bool = False) -> str:
        """Start a finished instance over with its original name, version and input;
        returns the id of the new run (a fresh one if ``restart_with_new_instance_id``)."""
        return await self.execute(
            RestartInstanceInput(instance_id=instance_id, restart_with_new_instance_id=restart_with_new_instance_id)
        )

    async def rewind_instance(self, instance_id: str, reason: str | None = None) -> None:
        """Rewind a failed instance so its failed steps run again."""
        await self.execute(RewindInstanceInput(instance_id=instance_id, reason=reason))

    async def purge_instance(self, instance_id: str, recursive: bool = False) -> PurgeResult:
        """Delete a finished instance's state and history (sub-orchestrations' too if ``recursive``)."""
        return await self.execute(PurgeInstanceInput(instance_id=instance_id, recursive=recursive))

    async def purge_instances(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[OrchestrationStatus] | None = None,
        recursive: bool = False,
    ) -> PurgeResult:
        """Delete every finished instance created in [created_from, created_to) whose
        status is one of ``statuses`` (any terminal status when None)."""
        purge = PurgeFilter(created_from=created_from, created_to=created_to, statuses=frozenset(statuses or ()))
        return await self.execute(PurgeInstancesInput(filter=purge, recursive=recursive))
