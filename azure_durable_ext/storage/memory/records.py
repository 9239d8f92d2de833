"""The in-memory provider's record of one instance, and the pure rules applied to records."""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from ..._proto import pb
from ...core.model import InstanceState, TaskMessage
from ...core.status import OrchestrationStatus
from ...protocol.history_wire import PastEventsWire
from ..service import OrchestrationWorkItem

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class HeldBatch:
    """Messages an abandon put back with a delay; they are queued again when it runs out."""

    messages: list[TaskMessage]
    #: How often they were handed out so far (the abandoned work item's dequeue_count).
    deliveries: int


@dataclass(slots=True)
class InstanceRecord:
    """Row (None until created), history, queued messages and lock state of one instance."""

    state: InstanceState | None = None
    history: list[pb.HistoryEvent] = field(default_factory=list)
    #: ``history`` encoded as OrchestratorRequest.pastEvents entries, for the next episode.
    history_wire: PastEventsWire = field(default_factory=PastEventsWire)
    #: Messages due, oldest first; a lock takes them all.
    messages: deque[TaskMessage] = field(default_factory=deque)
    lock: int | None = None
    #: The most times any queued message was handed out before (0: all are new); the next
    #: work item's dequeue_count is one more.
    redeliveries: int = 0
    #: Abandoned batches waiting for their delay to run out (only they wait, not the instance).
    held: list[HeldBatch] = field(default_factory=list)
    #: When the row was last created, in the service's send order (see superseded_start).
    created_seq: int = 0


def current_execution_only(inst: InstanceRecord) -> list[TaskMessage]:
    """The queued messages minus those addressed to an execution that is no longer current
    (a replaced or continued-as-new execution's timers and results); start messages always
    pass, as they define the execution."""
    current = inst.state.execution_id if inst.state is not None else None
    kept = []
    for message in inst.messages:
        if (
            message.execution_id is None
            or current is None
            or message.execution_id == current
            or message.event.HasField("executionStarted")
        ):
            kept.append(message)
        else:
            log.debug("dropping a %s message for old execution %s of %s",
                      message.event.WhichOneof("eventType"), message.execution_id, message.instance_id)
    return kept


def drop_superseded_starts(inst: InstanceRecord, execution_id: str) -> None:
    """A create replaced the row with ``execution_id``: start messages of other executions
    still waiting here (queued, or held back by an abandon) were sent before it and must
    never run, not even once the new execution has finished (Azure drops them the same way:
    the row was created after they were sent)."""

    def kept(message: TaskMessage) -> bool:
        return not message.event.HasField("executionStarted") or start_execution_id(message) == execution_id

    if not all(map(kept, inst.messages)):
        inst.messages = deque(filter(kept, inst.messages))
    for batch in inst.held:
        # A new list: the abandoned work item may still hold the old one.
        batch.messages = [m for m in batch.messages if kept(m)]


def superseded_start(inst: InstanceRecord | None, message: TaskMessage, sent_seq: int) -> bool:
    """A start that waited on a timer (scheduled for later) and is now due must not run when
    the row was created after it was sent for another execution: a later start of the same
    id replaced it, even if that one has finished since. As on Azure (work_filter), where
    such a start is dropped because the row is newer than the message."""
    return (
        inst is not None
        and inst.state is not None
        and message.event.HasField("executionStarted")
        and inst.created_seq > sent_seq
        and start_execution_id(message) != inst.state.execution_id
    )


def start_execution_id(message: TaskMessage) -> str:
    return message.execution_id or message.event.executionStarted.orchestrationInstance.executionId.value


def same_execution(inst: InstanceRecord, item: OrchestrationWorkItem) -> bool:
    # A create that replaced the instance while it was locked makes the episode stale.
    if item.state is None or inst.state is None:
        return item.state is None or inst.state is None
    return item.state.execution_id == inst.state.execution_id


def without_payloads(state: InstanceState) -> InstanceState:
    if state.input is None and state.output is None and state.custom_status is None:
        return state
    return state.evolve(input=None, output=None, custom_status=None)


def matches(
    state: InstanceState,
    statuses: frozenset[OrchestrationStatus],
    created_from: datetime | None,
    created_to: datetime | None,
) -> bool:
    if statuses and state.status not in statuses:
        return False
    if created_from is not None and state.created_at < created_from:
        return False
    if created_to is not None and state.created_at > created_to:
        return False
    return True
