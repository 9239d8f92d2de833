"""DurableClient: the extension's client rules on top of TaskHubClient.

Policy lives here, once, for every front end (gRPC listener, HTTP management API):

- start: instance-id rules, a new GUID when none is given, the request version else
  host.json ``defaultVersion``, dedupe statuses from ``overridableExistingInstanceStates``
  (or from the request's reuse policy), an input size limit.
- raise event / suspend / resume / terminate / rewind / restart: the instance must exist
  (InstanceNotFoundError). On a terminal instance, terminate is a no-op (as in Durable:
  terminating a finished instance changes nothing), suspend and resume and raise event
  raise InvalidStateError naming the status (an event raised at a finished instance would
  be silently lost otherwise). Suspending a suspended instance or resuming a non-suspended
  one is a no-op.
- rewind: only Failed instances. restart: the same id needs a terminal instance.
- purge: only terminal instances (InvalidStateError otherwise); recursive purge follows the
  sub-orchestrations recorded in the history.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ..core.clock import SYSTEM_CLOCK, Clock
from ..core.errors import (
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidStateError,
    PayloadTooLargeError,
)
from .._proto import pb
from ..core.instance_ids import new_instance_id as make_instance_id
from ..core.instance_ids import validate_instance_id
from ..core.model import InstancePage, InstanceQuery, InstanceState, PurgeFilter
from ..core.options import DurableTaskOptions
from ..core.status import RUNNING_STATES, OrchestrationStatus
from ..core.versions import validate_version
from .task_hub_client import TaskHubClient

ALL_STATUSES = frozenset(OrchestrationStatus)


def _is_started(state: InstanceState) -> bool:
    return state.status is not OrchestrationStatus.PENDING


def _is_finished(state: InstanceState) -> bool:
    return state.status.is_terminal


class DurableClient:
    """Client operations of one task hub, with Durable Functions' rules."""

    def __init__(self, client: TaskHubClient, options: DurableTaskOptions, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.options = options
        self.clock = clock
        self.task_hub_name = options.hub_name
        self._default_dedupe = options.overridable_existing_instance_states.dedupe_statuses

    # -- start -----------------------------------------------------------------------------
    async def start_new(
        self,
        name: str,
        instance_id: str | None = None,
        version: str | None = None,
        input: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        scheduled_start: datetime | None = None,
        replaceable_statuses: Iterable[OrchestrationStatus] | None = None,
    ) -> str:
        """Start an instance; returns its id.

        ``replaceable_statuses`` (a request's reuse policy) names the states an existing
        instance may be in to be replaced; without it the host's
        ``overridableExistingInstanceStates`` decides.
        """
        if not name or not name.strip():
            raise InvalidArgumentError("orchestrator name must not be empty")
        instance_id = validate_instance_id(instance_id) if instance_id else make_instance_id()
        version = validate_version(version) or self.options.default_version
        self.check_payload_size("input", input)
        dedupe = (
            self._default_dedupe
            if replaceable_statuses is None
            else ALL_STATUSES - frozenset(replaceable_statuses)
        )
        await self.client.create_orchestration_instance(
            name,
            version,
            instance_id,
            input,
            tags=tags,
            dedupe_statuses=dedupe,
            scheduled_start=scheduled_start,
        )
        return instance_id

    def check_payload_size(self, what: str, payload: str | None) -> None:
        """Refuse a payload bigger than maxGrpcMessageSizeInBytes (UTF-8 size)."""
        limit = self.options.max_grpc_message_size_in_bytes
        # Cheap bound first: a str of n characters is at most 4n UTF-8 bytes.
        if payload is None or len(payload) * 4 <= limit:
            return
        size = len(payload.encode("utf-8"))
        if size > limit:
            raise PayloadTooLargeError(
                f"{what} is {size} bytes, which exceeds maxGrpcMessageSizeInBytes ({limit})"
            )

    # -- state -----------------------------------------------------------------------------
    async def get_status(self, instance_id: str, *, include_payloads: bool = True) -> InstanceState | None:
        return await self.client.get_state(instance_id, include_payloads=include_payloads)

    async def _require(self, instance_id: str) -> InstanceState:
        state = await self.client.get_state(instance_id, include_payloads=False)
        if state is None:
            raise InstanceNotFoundError(instance_id)
        return state

    async def _require_not_terminal(self, instance_id: str, action: str) -> InstanceState:
        state = await self._require(instance_id)
        if state.status.is_terminal:
            raise InvalidStateError(
                f"cannot {action} instance {instance_id!r}: it is {state.status.durable_name}"
            )
        return state

    # -- messages to an instance -----------------------------------------------------------
    async def raise_event(self, instance_id: str, event_name: str, data: str | None = None) -> None:
        if not event_name:
            raise InvalidArgumentError("event name must not be empty")
        self.check_payload_size("event data", data)
        await self._require_not_terminal(instance_id, f"raise event {event_name!r} to")
        await self.client.raise_event(instance_id, event_name, data)

    async def terminate(self, instance_id: str, reason: str | None = None, *, recursive: bool = False) -> None:
        """Terminate a non-terminal instance; a no-op for a finished one."""
        state = await self._require(instance_id)
        if state.status.is_terminal:
            return
        await self.client.terminate(instance_id, reason, recurse=recursive)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        state = await self._require_not_terminal(instance_id, "suspend")
        if state.status is not OrchestrationStatus.SUSPENDED:
            await self.client.suspend(instance_id, reason)

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        state = await self._require_not_terminal(instance_id, "resume")
        if state.status is OrchestrationStatus.SUSPENDED:
            await self.client.resume(instance_id, reason)

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """Ask for a Failed instance to be rewound (the dispatcher executes it)."""
        state = await self._require(instance_id)
        if state.status is not OrchestrationStatus.FAILED:
            raise InvalidStateError(
                f"cannot rewind instance {instance_id!r}: it is {state.status.durable_name}; "
                "only Failed instances can be rewound"
            )
        await self.client.rewind(instance_id, reason)

    async def restart(self, instance_id: str, *, new_instance_id: bool = False) -> str:
        """Start the instance's orchestration again with its original name, version, input
        and tags; returns the id of the new instance."""
        state = await self.client.get_state(instance_id, include_payloads=True)
        if state is None:
            raise InstanceNotFoundError(instance_id)
        if not new_instance_id and not state.status.is_terminal:
            raise InvalidStateError(
                f"cannot restart instance {instance_id!r} with the same id: it is "
                f"{state.status.durable_name}; wait for it to finish or restart with a new id"
            )
        target = make_instance_id() if new_instance_id else instance_id
        await self.client.create_orchestration_instance(
            state.name,
            state.version,
            target,
            state.input,
            tags=state.tags,
            dedupe_statuses=RUNNING_STATES,
        )
        return target

    # -- waiting ---------------------------------------------------------------------------
    async def wait_for_start(
        self, instance_id: str, timeout: float | None, *, include_payloads: bool = False
    ) -> InstanceState | None:
        """The state once the instance left Pending; None on timeout."""
        return await self.client.service.wait_for_instance(
            instance_id, _is_started, timeout, include_payloads=include_payloads
        )

    async def wait_for_completion(
        self, instance_id: str, timeout: float | None, *, include_payloads: bool = True
    ) -> InstanceState | None:
        """The state once the instance is Completed, Failed, Terminated or Canceled; None on
        timeout."""
        return await self.client.service.wait_for_instance(
            instance_id, _is_finished, timeout, include_payloads=include_payloads
        )

    # -- queries and purge -----------------------------------------------------------------
    async def query(self, query: InstanceQuery) -> InstancePage:
        return await self.client.query(query)

    async def history(self, instance_id: str) -> list[pb.HistoryEvent]:
        """The current execution's history events, oldest first."""
        return await self.client.history(instance_id)

    async def purge(self, instance_id: str, *, recursive: bool = False) -> int:
        """Purge one terminal instance (and, recursively, its sub-orchestrations); returns
        how many instances were deleted (0 when unknown)."""
        state = await self.client.get_state(instance_id, include_payloads=False)
        if state is None:
            return 0
        if not state.status.is_terminal:
            raise InvalidStateError(
                f"cannot purge instance {instance_id!r}: it is {state.status.durable_name}; "
                "only Completed, Failed, Terminated or Canceled instances can be purged"
            )
        children: list[str] = []
        if recursive:
            for event in await self.client.history(instance_id):
                if event.WhichOneof("eventType") == "subOrchestrationInstanceCreated":
                    children.append(event.subOrchestrationInstanceCreated.instanceId)
        count = await self.client.purge(instance_id)
        for child in children:
            count += await self.purge(child, recursive=True)
        return count

    async def purge_many(self, instance_ids: Iterable[str], *, recursive: bool = False) -> int:
        """Purge each terminal instance of a batch; non-terminal ones are refused."""
        total = 0
        for instance_id in instance_ids:
            total += await self.purge(instance_id, recursive=recursive)
        return total

    async def purge_by_filter(self, purge: PurgeFilter) -> int:
        """Purge every terminal instance matching the filter."""
        return await self.client.purge_by_filter(purge)
