"""episode_input.plan_episode: which messages an episode sees (pure rules)."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone

from azure_durable_ext._proto import pb
from azure_durable_ext.core.model import InstanceState, TaskMessage
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.sidecar.dispatch.episode_input import (
    PlanKind,
    _RESULT_KEYS,
    _SCHEDULE_KEYS,
    _awaiting_results,
    plan_episode,
    rewind_history,
)
from azure_durable_ext.storage.service import OrchestrationWorkItem

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
NOW = T0 + timedelta(minutes=1)
ID, EXEC = "i", "e1"


def event(kind: str, event_id: int = -1, **fields: object) -> pb.HistoryEvent:
    e = pb.HistoryEvent(eventId=event_id)
    e.timestamp.FromDatetime(T0)
    body = getattr(e, kind)
    body.SetInParent()
    for name, value in fields.items():
        setattr(body, name, value)
    return e


def start_event(execution: str = EXEC, parent: str | None = None) -> pb.HistoryEvent:
    e = event("executionStarted", name="Orch")
    e.executionStarted.version.value = "1.0"
    e.executionStarted.orchestrationInstance.instanceId = ID
    e.executionStarted.orchestrationInstance.executionId.value = execution
    if parent is not None:
        e.executionStarted.parentInstance.taskScheduledId = 4
        e.executionStarted.parentInstance.orchestrationInstance.instanceId = parent
    return e


def state(status: OrchestrationStatus, execution: str = EXEC) -> InstanceState:
    return InstanceState(
        instance_id=ID, name="Orch", version="1.0", execution_id=execution, status=status,
        created_at=T0, last_updated_at=T0,
    )


def item(st: InstanceState | None, past: list[pb.HistoryEvent], *messages: TaskMessage) -> OrchestrationWorkItem:
    return OrchestrationWorkItem(instance_id=ID, state=st, past_events=past, new_messages=list(messages))


def msg(e: pb.HistoryEvent, execution: str | None = EXEC) -> TaskMessage:
    return TaskMessage(ID, execution, e)


RUNNING_HISTORY = [event("orchestratorStarted"), start_event(), event("taskScheduled", 0, name="A")]


def new_kinds(plan) -> list[str]:
    return [e.WhichOneof("eventType") for e in plan.request.newEvents]


def test_fresh_start_runs_with_orchestrator_started_first() -> None:
    plan = plan_episode(item(state(OrchestrationStatus.PENDING), [], msg(start_event())), NOW)
    assert plan.kind is PlanKind.RUN
    assert new_kinds(plan) == ["orchestratorStarted", "executionStarted"]
    assert plan.request.newEvents[0].timestamp.ToDatetime(tzinfo=timezone.utc) == NOW
    assert (plan.name, plan.version, plan.request.executionId.value) == ("Orch", "1.0", EXEC)


def test_stale_execution_and_duplicate_results_are_dropped() -> None:
    plan = plan_episode(
        item(
            state(OrchestrationStatus.RUNNING),
            RUNNING_HISTORY,
            msg(event("taskCompleted", taskScheduledId=0)),
            msg(event("taskCompleted", taskScheduledId=0)),  # redelivered
            msg(event("timerFired", timerId=7), execution="old"),
            msg(event("eventRaised", name="x"), execution=None),
        ),
        NOW,
    )
    assert new_kinds(plan) == ["orchestratorStarted", "taskCompleted", "eventRaised"]
    assert [kind for kind, _ in plan.dropped] == ["taskCompleted", "timerFired"]


def test_a_retried_task_id_accepts_one_result_per_schedule() -> None:
    history = RUNNING_HISTORY + [event("taskFailed", taskScheduledId=0), event("taskScheduled", 0, name="A")]
    plan = plan_episode(item(state(OrchestrationStatus.RUNNING), history, msg(event("taskCompleted", taskScheduledId=0))), NOW)
    assert new_kinds(plan) == ["orchestratorStarted", "taskCompleted"]


def test_messages_to_a_finished_instance_are_discarded() -> None:
    done = RUNNING_HISTORY + [event("executionCompleted")]
    plan = plan_episode(item(state(OrchestrationStatus.COMPLETED), done, msg(event("eventRaised", name="x"), None)), NOW)
    assert plan.kind is PlanKind.DISCARD and plan.dropped


def test_second_start_of_a_running_child_fails_the_parents_task() -> None:
    plan = plan_episode(
        item(state(OrchestrationStatus.RUNNING), RUNNING_HISTORY, msg(start_event("e2", parent="dad"), "e2")), NOW
    )
    assert plan.kind is PlanKind.DISCARD
    [reply] = plan.extra_messages
    assert reply.instance_id == "dad"
    assert reply.event.subOrchestrationInstanceFailed.taskScheduledId == 4


def test_new_execution_over_a_finished_instance_replaces_history() -> None:
    done = RUNNING_HISTORY + [event("executionCompleted")]
    plan = plan_episode(item(state(OrchestrationStatus.COMPLETED), done, msg(start_event("e2"), "e2")), NOW)
    assert plan.kind is PlanKind.RUN and plan.replaced_history
    assert list(plan.request.pastEvents) == [] and plan.request.executionId.value == "e2"


def test_late_start_of_a_terminated_pending_instance_is_dropped() -> None:
    plan = plan_episode(item(state(OrchestrationStatus.TERMINATED), [], msg(start_event())), NOW)
    assert plan.kind is PlanKind.DISCARD
    assert "already ran" in plan.dropped[0][1]


def test_terminate_before_start_terminates_directly() -> None:
    terminate = event("executionTerminated")
    terminate.executionTerminated.input.value = '"why"'
    plan = plan_episode(item(state(OrchestrationStatus.PENDING), [], msg(terminate, None)), NOW)
    assert plan.kind is PlanKind.CHECKPOINT
    assert plan.checkpoint.state.status is OrchestrationStatus.TERMINATED
    assert (plan.checkpoint.state.output, plan.checkpoint.state.completed_at) == ('"why"', NOW)


def test_events_before_the_start_are_deferred_and_unknown_instances_held() -> None:
    early = plan_episode(item(state(OrchestrationStatus.PENDING), [], msg(event("eventRaised", name="x"), None)), NOW)
    assert early.kind is PlanKind.DEFER
    unknown = plan_episode(item(None, [], msg(event("eventRaised", name="x"), None)), NOW)
    assert unknown.kind is PlanKind.UNKNOWN


def test_messages_ahead_of_the_start_in_a_batch_follow_it() -> None:
    # Queues do not keep order, and an event held back for a missing instance comes back
    # ahead of the start that arrived meanwhile: neither may be lost.
    raised, terminate = event("eventRaised", name="x"), event("executionTerminated")
    for state_ in (None, state(OrchestrationStatus.PENDING)):
        plan = plan_episode(item(state_, [], msg(raised, None), msg(start_event()), msg(terminate, None)), NOW)
        assert plan.kind is PlanKind.RUN and not plan.dropped
        assert new_kinds(plan) == ["orchestratorStarted", "executionStarted", "eventRaised", "executionTerminated"]


def test_rewind_removes_the_failure_and_rewinds_failed_children() -> None:
    failed_history = RUNNING_HISTORY + [
        event("taskCompleted", taskScheduledId=0),
        event("taskScheduled", 1, name="B"),
        event("taskFailed", taskScheduledId=1),
        event("subOrchestrationInstanceCreated", 2, instanceId="kid", name="C"),
        event("subOrchestrationInstanceFailed", taskScheduledId=2),
        event("executionCompleted"),
    ]
    rewound = event("executionRewound")
    plan = plan_episode(item(state(OrchestrationStatus.FAILED), failed_history, msg(rewound, None)), NOW)
    assert plan.kind is PlanKind.RUN and plan.replaced_history
    past = [(e.WhichOneof("eventType"), e.eventId) for e in plan.request.pastEvents]
    assert ("taskScheduled", 1) not in past and ("taskScheduled", 0) in past
    assert not any(k in ("taskFailed", "subOrchestrationInstanceFailed", "executionCompleted") for k, _ in past)
    assert ("subOrchestrationInstanceCreated", 2) in past
    assert new_kinds(plan) == ["orchestratorStarted", "executionRewound"]
    [child] = plan.extra_messages
    assert child.instance_id == "kid" and child.event.HasField("executionRewound")
    kept, _ = rewind_history(failed_history, NOW, rewound.executionRewound)
    assert len(kept) == len(plan.request.pastEvents)


def test_rewind_of_a_running_instance_is_dropped() -> None:
    plan = plan_episode(item(state(OrchestrationStatus.RUNNING), RUNNING_HISTORY, msg(event("executionRewound"), None)), NOW)
    assert plan.kind is PlanKind.DISCARD


def _valid_history(rng: random.Random) -> tuple[list[pb.HistoryEvent], list[tuple[str, int]]]:
    """A history as the dispatcher records it: actions scheduled in episodes, answered
    later in any order, some retried under the same id after a failure; plus the keys of
    every action ever scheduled."""
    history = [event("orchestratorStarted"), start_event()]
    open_tasks: list[tuple[str, int]] = []
    keys: list[tuple[str, int]] = []
    next_id = 0
    for _ in range(rng.randint(1, 25)):
        for _ in range(rng.randint(0, 4)):  # this episode's new actions
            kind = rng.choice(["taskScheduled", "timerCreated", "subOrchestrationInstanceCreated"])
            history.append(event(kind, next_id))
            key = ("timer" if kind == "timerCreated" else "task", next_id)
            open_tasks.append(key)
            keys.append(key)
            next_id += 1
        rng.shuffle(open_tasks)
        history.append(event("orchestratorStarted"))
        for _ in range(rng.randint(0, len(open_tasks))):  # results arriving
            kind, action_id = open_tasks.pop()
            if kind == "timer":
                history.append(event("timerFired", timerId=action_id))
            elif rng.random() < 0.2:  # failed, retried under the same id
                history.append(event("taskFailed", taskScheduledId=action_id))
                history.append(event("taskScheduled", action_id))
                open_tasks.append((kind, action_id))
            else:
                history.append(event(rng.choice(["taskCompleted", "subOrchestrationInstanceCompleted"]), taskScheduledId=action_id))
    return history, keys


def _full_count(events: list[pb.HistoryEvent]) -> Counter[tuple[str, int]]:
    """The oracle: schedules minus results over the whole history."""
    awaiting: Counter[tuple[str, int]] = Counter()
    for e in events:
        kind = e.WhichOneof("eventType") or ""
        if kind in _SCHEDULE_KEYS:
            awaiting[_SCHEDULE_KEYS[kind](e)] += 1
        elif kind in _RESULT_KEYS:
            awaiting[_RESULT_KEYS[kind](e)] -= 1
    return awaiting


def test_the_results_awaited_are_read_from_the_history_end_as_a_full_count_would() -> None:
    # The backward scan must agree with counting the whole history, for every key that
    # was ever scheduled (answered or not) and for keys never scheduled.
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        history, keys = _valid_history(rng)
        full = _full_count(history)
        stray = {("task", 10_000), ("timer", 10_001)}
        for size in (1, 2, 5):
            wanted = set(rng.sample(keys, min(size, len(keys)))) | set(rng.sample(sorted(stray), 1))
            fast = _awaiting_results(history, wanted)
            assert {k: fast[k] for k in wanted} == {k: full[k] for k in wanted}, (history, wanted)
            checked += len(wanted)
    assert checked > 1000


def _with_wire(work: OrchestrationWorkItem, wire_events: list[pb.HistoryEvent]) -> OrchestrationWorkItem:
    from azure_durable_ext.protocol.history_wire import PastEventsWire

    work.past_events_wire = PastEventsWire().of(wire_events)
    return work


def test_the_encoded_history_gives_the_same_request_as_the_events() -> None:
    past = RUNNING_HISTORY + [event("taskCompleted", taskScheduledId=0), event("taskScheduled", 1, name="B")]
    result = msg(event("taskCompleted", taskScheduledId=1))
    plain = plan_episode(item(state(OrchestrationStatus.RUNNING), past, result), NOW)
    encoded = plan_episode(_with_wire(item(state(OrchestrationStatus.RUNNING), past, result), past), NOW)
    assert plain.past_events_wire is None and encoded.past_events_wire is not None
    assert list(encoded.past_events) == list(plain.past_events) == past
    # The history stays encoded, out of the request, until a runner needs it whole.
    assert encoded.request is not None and len(encoded.request.pastEvents) == 0
    assert encoded.full_request().SerializeToString() == plain.request.SerializeToString()
    assert encoded.past_events_wire is None and encoded.full_request() is encoded.request  # parsed once
    # The encoding is what the request takes (a marked one shows it), not the event objects.
    marked = past[:-1] + [event("taskScheduled", 1, name="Marked")]
    taken = plan_episode(_with_wire(item(state(OrchestrationStatus.RUNNING), past, result), marked), NOW)
    assert taken.full_request().pastEvents[-1].taskScheduled.name == "Marked"


def test_a_work_item_with_the_encoded_history_spliced_in_reads_as_the_whole_request() -> None:
    from durabletask.internal import orchestrator_service_pb2 as official

    from azure_durable_ext.protocol.history_wire import encoded_orchestrator_work_item

    past = RUNNING_HISTORY + [event("taskCompleted", taskScheduledId=0), event("taskScheduled", 1, name="B")]
    result = msg(event("taskCompleted", taskScheduledId=1))
    plain = plan_episode(item(state(OrchestrationStatus.RUNNING), past, result), NOW)
    encoded = plan_episode(_with_wire(item(state(OrchestrationStatus.RUNNING), past, result), past), NOW)
    assert encoded.request is not None and encoded.past_events_wire is not None
    spliced = encoded_orchestrator_work_item(encoded.request, "7", encoded.past_events_wire)
    whole = pb.WorkItem(orchestratorRequest=plain.request, completionToken="7")
    # Our messages and the official SDK's read the same work item, history in order.
    assert pb.WorkItem.FromString(spliced) == whole
    theirs = official.WorkItem.FromString(spliced)
    assert theirs.completionToken == "7"
    assert [e.SerializeToString() for e in theirs.orchestratorRequest.pastEvents] == [e.SerializeToString() for e in past]
    assert len(theirs.orchestratorRequest.newEvents) == len(plain.request.newEvents)
    # Without a history to splice, the encoding is the message's own.
    assert pb.WorkItem.FromString(encoded_orchestrator_work_item(plain.request, "7")) == whole


def test_a_replaced_history_never_takes_the_encoded_one() -> None:
    done = RUNNING_HISTORY + [event("executionCompleted")]
    plan = plan_episode(_with_wire(item(state(OrchestrationStatus.COMPLETED), done, msg(start_event("e2"), "e2")), done), NOW)
    assert list(plan.request.pastEvents) == []
    failed = RUNNING_HISTORY + [event("taskFailed", taskScheduledId=0), event("executionCompleted")]
    rewound = plan_episode(
        _with_wire(item(state(OrchestrationStatus.FAILED), failed, msg(event("executionRewound"), None)), failed), NOW
    )
    kinds = [e.WhichOneof("eventType") for e in rewound.request.pastEvents]
    assert "taskFailed" not in kinds and "executionCompleted" not in kinds
