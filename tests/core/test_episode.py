"""core.episode: one episode's request + response -> the checkpoint storage records."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from azure_durable_ext._proto import pb
from azure_durable_ext.core.episode import (
    INVALID_ACTION_ERROR,
    checkpoint_episode,
    default_sub_orchestration_id,
    is_suspended,
)
from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.model import InstanceState
from azure_durable_ext.core.status import OrchestrationStatus

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(seconds=5)
ID = "inst-1"
EXEC = "exec-1"


# -- history building ------------------------------------------------------------------------


def ev(kind: str, event_id: int = -1, at: datetime = T0, **fields: object) -> pb.HistoryEvent:
    event = pb.HistoryEvent(eventId=event_id)
    event.timestamp.FromDatetime(at)
    getattr(event, kind).SetInParent()
    for name, value in fields.items():
        target = getattr(getattr(event, kind), name)
        if hasattr(target, "value") and not isinstance(value, (int, bool)) and not hasattr(value, "DESCRIPTOR"):
            target.value = value
        elif hasattr(value, "DESCRIPTOR"):
            target.CopyFrom(value)
        else:
            setattr(getattr(event, kind), name, value)
    return event


def started(name: str = "Hello", version: str | None = "1.0", input: str | None = '"in"', parent: pb.ParentInstanceInfo | None = None) -> pb.HistoryEvent:
    event = ev("executionStarted", name=name)
    es = event.executionStarted
    if version is not None:
        es.version.value = version
    if input is not None:
        es.input.value = input
    es.orchestrationInstance.instanceId = ID
    es.orchestrationInstance.executionId.value = EXEC
    es.tags["team"] = "a"
    if parent is not None:
        es.parentInstance.CopyFrom(parent)
    return event


def orchestrator_started(at: datetime = NOW) -> pb.HistoryEvent:
    return ev("orchestratorStarted", at=at)


def request(past: list[pb.HistoryEvent], new: list[pb.HistoryEvent]) -> pb.OrchestratorRequest:
    req = pb.OrchestratorRequest(instanceId=ID, pastEvents=past, newEvents=new)
    req.executionId.value = EXEC
    return req


def response(*actions: pb.OrchestratorAction, custom_status: str | None = None) -> pb.OrchestratorResponse:
    resp = pb.OrchestratorResponse(instanceId=ID, actions=list(actions))
    if custom_status is not None:
        resp.customStatus.value = custom_status
    return resp


def action(action_id: int, kind: str, **fields: object) -> pb.OrchestratorAction:
    act = pb.OrchestratorAction(id=action_id)
    getattr(act, kind).SetInParent()
    body = getattr(act, kind)
    for name, value in fields.items():
        target = getattr(body, name)
        if hasattr(value, "DESCRIPTOR"):
            target.CopyFrom(value)
        elif hasattr(target, "value") and not isinstance(value, (int, bool)):
            target.value = value
        else:
            setattr(body, name, value)
    return act


def complete(action_id: int, status: int, result: str | None = None, **more: object) -> pb.OrchestratorAction:
    act = action(action_id, "completeOrchestration", orchestrationStatus=status, **more)
    if result is not None:
        act.completeOrchestration.result.value = result
    return act


def pending_state(**changes: object) -> InstanceState:
    state = InstanceState(
        instance_id=ID,
        name="Hello",
        version="1.0",
        execution_id=EXEC,
        status=OrchestrationStatus.PENDING,
        created_at=T0,
        last_updated_at=T0,
        input='"in"',
        generation=3,
    )
    return state.evolve(**changes)


def kinds(events: list[pb.HistoryEvent]) -> list[str]:
    return [e.WhichOneof("eventType") for e in events]


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"new-exec-{next(counter)}"


def first_episode(*actions: pb.OrchestratorAction, **kw: object):
    return checkpoint_episode(
        pending_state(), request([], [orchestrator_started(), started()]), response(*actions, **kw), make_execution_id=ids()
    )


# -- confirmations -----------------------------------------------------------------------------


def test_schedule_task_records_task_scheduled_and_sends_activity_message() -> None:
    cp = first_episode(action(0, "scheduleTask", name="SayHello", input='"Tokyo"', version="2"))
    assert kinds(cp.new_events) == ["orchestratorStarted", "executionStarted", "taskScheduled", "orchestratorCompleted"]
    scheduled = cp.new_events[2]
    assert scheduled.eventId == 0
    assert scheduled.taskScheduled.name == "SayHello"
    assert scheduled.taskScheduled.input.value == '"Tokyo"'
    assert scheduled.taskScheduled.version.value == "2"
    assert scheduled.timestamp.ToDatetime(tzinfo=timezone.utc) == NOW
    [msg] = cp.activity_messages
    assert (msg.instance_id, msg.execution_id, msg.event.eventId) == (ID, EXEC, 0)
    assert msg.event.taskScheduled.name == "SayHello"
    assert cp.orchestrator_messages == []
    assert cp.new_execution is False


def test_first_episode_turns_pending_into_running_and_keeps_row_fields() -> None:
    cp = first_episode(action(0, "scheduleTask", name="A"))
    state = cp.state
    assert state.status is OrchestrationStatus.RUNNING
    assert (state.created_at, state.last_updated_at, state.generation) == (T0, NOW, 3)
    assert state.completed_at is None and state.output is None


def test_timer_records_timer_created_and_sends_itself_a_delayed_timer_fired() -> None:
    fire_at = NOW + timedelta(minutes=2)
    timer = action(1, "createTimer")
    timer.createTimer.fireAt.FromDatetime(fire_at)
    cp = first_episode(timer)
    created = cp.new_events[2]
    assert created.WhichOneof("eventType") == "timerCreated" and created.eventId == 1
    [msg] = cp.orchestrator_messages
    assert (msg.instance_id, msg.execution_id, msg.visible_at) == (ID, EXEC, fire_at)
    assert msg.event.timerFired.timerId == 1
    assert msg.event.timerFired.fireAt.ToDatetime(tzinfo=timezone.utc) == fire_at


def test_sub_orchestration_start_message_names_parent_and_a_new_execution() -> None:
    cp = first_episode(
        action(2, "createSubOrchestration", name="Child", instanceId="kid", input="7", version="3.0"),
        action(3, "createSubOrchestration", name="Child"),
    )
    created = [e for e in cp.new_events if e.HasField("subOrchestrationInstanceCreated")]
    assert [(e.eventId, e.subOrchestrationInstanceCreated.instanceId) for e in created] == [
        (2, "kid"),
        (3, default_sub_orchestration_id(ID, 3)),
    ]
    assert default_sub_orchestration_id(ID, 3) == f"{ID}:0003"
    first, second = cp.orchestrator_messages
    assert (first.instance_id, first.execution_id) == ("kid", "new-exec-1")
    es = first.event.executionStarted
    assert (es.name, es.version.value, es.input.value) == ("Child", "3.0", "7")
    assert es.orchestrationInstance.executionId.value == "new-exec-1"
    parent = es.parentInstance
    assert parent.taskScheduledId == 2
    assert (parent.name.value, parent.version.value) == ("Hello", "1.0")
    assert (parent.orchestrationInstance.instanceId, parent.orchestrationInstance.executionId.value) == (ID, EXEC)
    assert second.execution_id == "new-exec-2"


def test_send_event_records_event_sent_and_raises_at_target() -> None:
    target = pb.OrchestrationInstance(instanceId="other")
    cp = first_episode(action(4, "sendEvent", instance=target, name="Ping", data='{"x":1}'))
    sent = cp.new_events[2]
    assert sent.eventId == 4
    assert (sent.eventSent.instanceId, sent.eventSent.name, sent.eventSent.input.value) == ("other", "Ping", '{"x":1}')
    [msg] = cp.orchestrator_messages
    assert (msg.instance_id, msg.execution_id) == ("other", None)
    assert (msg.event.eventRaised.name, msg.event.eventRaised.input.value) == ("Ping", '{"x":1}')


def test_terminate_action_sends_terminate_to_target_without_history() -> None:
    cp = first_episode(action(5, "terminateOrchestration", instanceId="victim", reason="enough", recurse=True))
    assert kinds(cp.new_events) == ["orchestratorStarted", "executionStarted", "orchestratorCompleted"]
    [msg] = cp.orchestrator_messages
    assert msg.instance_id == "victim"
    assert msg.event.executionTerminated.input.value == "enough"
    assert msg.event.executionTerminated.recurse is True


# -- completion ------------------------------------------------------------------------------------


def test_completed_execution_records_result_and_state() -> None:
    cp = first_episode(complete(0, pb.ORCHESTRATION_STATUS_COMPLETED, '"done"'), custom_status='"s"')
    assert kinds(cp.new_events)[-2:] == ["executionCompleted", "orchestratorCompleted"]
    done = cp.new_events[-2].executionCompleted
    assert (done.orchestrationStatus, done.result.value) == (pb.ORCHESTRATION_STATUS_COMPLETED, '"done"')
    state = cp.state
    assert state.status is OrchestrationStatus.COMPLETED
    assert (state.output, state.custom_status, state.completed_at) == ('"done"', '"s"', NOW)
    assert cp.orchestrator_messages == []  # no parent


def test_failed_execution_keeps_failure_details() -> None:
    failed = complete(0, pb.ORCHESTRATION_STATUS_FAILED)
    failed.completeOrchestration.failureDetails.CopyFrom(pb.TaskFailureDetails(errorType="ValueError", errorMessage="bad"))
    cp = first_episode(failed)
    assert cp.state.status is OrchestrationStatus.FAILED
    assert (cp.state.failure.error_type, cp.state.failure.message) == ("ValueError", "bad")
    assert cp.new_events[-2].executionCompleted.failureDetails.errorMessage == "bad"


def _child_history() -> list[pb.HistoryEvent]:
    parent = pb.ParentInstanceInfo(taskScheduledId=9, orchestrationInstance=pb.OrchestrationInstance(instanceId="dad"))
    parent.orchestrationInstance.executionId.value = "dad-exec"
    parent.name.value = "Parent"
    return [orchestrator_started(T0), started(name="Child", parent=parent)]


def test_child_completion_notifies_parent_execution() -> None:
    cp = checkpoint_episode(
        None,
        request(_child_history(), [orchestrator_started(), ev("taskCompleted", taskScheduledId=0, result="1")]),
        response(complete(1, pb.ORCHESTRATION_STATUS_COMPLETED, "42")),
    )
    [msg] = cp.orchestrator_messages
    assert (msg.instance_id, msg.execution_id) == ("dad", "dad-exec")
    assert msg.event.subOrchestrationInstanceCompleted.taskScheduledId == 9
    assert msg.event.subOrchestrationInstanceCompleted.result.value == "42"
    # No row yet for a child: it is built from executionStarted.
    assert cp.state.parent_instance_id == "dad"
    assert (cp.state.name, cp.state.status, cp.state.created_at) == ("Child", OrchestrationStatus.COMPLETED, NOW)


@pytest.mark.parametrize("status", [pb.ORCHESTRATION_STATUS_FAILED, pb.ORCHESTRATION_STATUS_TERMINATED])
def test_child_failure_or_termination_fails_the_parent_task(status: int) -> None:
    finish = complete(1, status, "why")
    if status == pb.ORCHESTRATION_STATUS_FAILED:
        finish.completeOrchestration.failureDetails.CopyFrom(pb.TaskFailureDetails(errorType="E", errorMessage="boom"))
    cp = checkpoint_episode(None, request(_child_history(), [orchestrator_started()]), response(finish))
    [msg] = cp.orchestrator_messages
    failed = msg.event.subOrchestrationInstanceFailed
    assert failed.taskScheduledId == 9
    assert failed.failureDetails.errorType in ("E", "OrchestrationTerminated")


def test_recursive_terminate_terminates_children_still_running() -> None:
    past = [
        orchestrator_started(T0),
        started(),
        ev("subOrchestrationInstanceCreated", 0, instanceId="c0", name="C"),
        ev("subOrchestrationInstanceCreated", 1, instanceId="c1", name="C"),
        ev("subOrchestrationInstanceCompleted", taskScheduledId=0),
    ]
    new = [orchestrator_started(), ev("executionTerminated", input="stop", recurse=True)]
    cp = checkpoint_episode(
        pending_state(status=OrchestrationStatus.RUNNING),
        request(past, new),
        response(complete(2, pb.ORCHESTRATION_STATUS_TERMINATED, "stop")),
    )
    assert cp.state.status is OrchestrationStatus.TERMINATED and cp.state.output == "stop"
    assert [(m.instance_id, m.event.WhichOneof("eventType")) for m in cp.orchestrator_messages] == [("c1", "executionTerminated")]


def test_continue_as_new_starts_a_new_execution_with_carryover_events() -> None:
    can = complete(3, pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "8", newVersion="2.0")
    can.completeOrchestration.carryoverEvents.append(ev("eventRaised", name="Go", input="1"))
    cp = checkpoint_episode(
        pending_state(status=OrchestrationStatus.RUNNING),
        request([orchestrator_started(T0), started()], [orchestrator_started(), ev("taskCompleted", taskScheduledId=0)]),
        response(action(2, "scheduleTask", name="Lost"), can),
        make_execution_id=ids(),
    )
    assert cp.new_execution is True and cp.new_events == [] and cp.activity_messages == []
    start, carried = cp.orchestrator_messages
    assert (start.instance_id, start.execution_id) == (ID, "new-exec-1")
    es = start.event.executionStarted
    assert (es.name, es.version.value, es.input.value) == ("Hello", "2.0", "8")
    assert es.orchestrationInstance.executionId.value == "new-exec-1"
    assert dict(es.tags) == {"team": "a"}
    assert carried.execution_id == "new-exec-1" and carried.event.eventRaised.name == "Go"
    state = cp.state
    assert (state.status, state.execution_id, state.version, state.input) == (OrchestrationStatus.RUNNING, "new-exec-1", "2.0", "8")
    assert (state.created_at, state.generation, state.output) == (T0, 3, None)


def test_continue_as_new_without_new_version_keeps_the_version() -> None:
    cp = first_episode(complete(0, pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "1"))
    assert cp.orchestrator_messages[0].event.executionStarted.version.value == "1.0"
    assert cp.state.version == "1.0"


# -- suspension, custom status -------------------------------------------------------------------


def test_suspended_until_resumed() -> None:
    running = pending_state(status=OrchestrationStatus.RUNNING)
    past = [orchestrator_started(T0), started()]
    cp = checkpoint_episode(running, request(past, [orchestrator_started(), ev("executionSuspended")]), response())
    assert cp.state.status is OrchestrationStatus.SUSPENDED
    past2 = past + cp.new_events
    cp2 = checkpoint_episode(cp.state, request(past2, [orchestrator_started(), ev("executionResumed")]), response())
    assert cp2.state.status is OrchestrationStatus.RUNNING
    assert is_suspended(past2) and not is_suspended(past2 + [ev("executionResumed")])


def test_custom_status_follows_the_latest_episode() -> None:
    cp = first_episode(custom_status='{"step":1}')
    assert cp.state.custom_status == '{"step":1}'
    later = checkpoint_episode(cp.state, request([orchestrator_started(T0), started()], [orchestrator_started()]), response())
    assert later.state.custom_status is None


# -- malformed input ---------------------------------------------------------------------------------


def test_unsupported_action_fails_the_orchestration_and_drops_other_actions() -> None:
    entity = action(1, "sendEntityMessage")
    cp = first_episode(action(0, "scheduleTask", name="A"), entity)
    assert cp.activity_messages == []
    assert cp.state.status is OrchestrationStatus.FAILED
    assert cp.state.failure.error_type == INVALID_ACTION_ERROR
    assert "entities are not supported" in cp.state.failure.message
    assert kinds(cp.new_events) == ["orchestratorStarted", "executionStarted", "executionCompleted", "orchestratorCompleted"]


@pytest.mark.parametrize(
    "bad",
    [
        action(0, "scheduleTask", name=""),
        action(0, "createTimer"),
        action(0, "sendEvent", name="x"),
        complete(0, pb.ORCHESTRATION_STATUS_RUNNING),
        pb.OrchestratorAction(id=0),
    ],
)
def test_malformed_actions_fail_the_orchestration_with_a_message(bad: pb.OrchestratorAction) -> None:
    cp = first_episode(bad)
    assert cp.state.status is OrchestrationStatus.FAILED
    assert cp.state.failure.error_type == INVALID_ACTION_ERROR and cp.state.failure.message


def test_request_without_orchestrator_started_first_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="orchestratorStarted"):
        checkpoint_episode(pending_state(), request([], [started()]), response())


def test_request_without_execution_started_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="executionStarted"):
        checkpoint_episode(pending_state(), request([], [orchestrator_started()]), response())


# -- history replacement -------------------------------------------------------------------------------


def test_new_execution_over_a_finished_instance_replaces_history() -> None:
    finished = pending_state(status=OrchestrationStatus.COMPLETED, execution_id="old", output="x", completed_at=T0)
    cp = checkpoint_episode(
        finished, request([], [orchestrator_started(), started()]), response(), replaced_history=True
    )
    assert cp.new_execution is True
    state = cp.state
    assert (state.execution_id, state.status, state.output, state.completed_at) == (EXEC, OrchestrationStatus.RUNNING, None, None)
    assert state.generation == finished.generation + 1


def test_rewind_action_replaces_history_and_wakes_the_instance() -> None:
    new_history = [orchestrator_started(T0), started(), ev("taskScheduled", 0, name="A")]
    rewind = pb.OrchestratorAction(id=-1)
    rewind.rewindOrchestration.newHistory.extend(new_history)
    failed = pending_state(status=OrchestrationStatus.FAILED, completed_at=T0)
    cp = checkpoint_episode(failed, request(new_history, [orchestrator_started(), ev("executionRewound")]), response(rewind))
    assert cp.new_execution is True
    assert kinds(cp.new_events) == ["orchestratorStarted", "executionStarted", "taskScheduled"]
    [wake] = cp.orchestrator_messages
    assert wake.instance_id == ID and wake.event.HasField("genericEvent")
    assert cp.state.status is OrchestrationStatus.RUNNING and cp.state.completed_at is None


def test_replaced_history_keeps_the_requests_past_events_first() -> None:
    past = [orchestrator_started(T0), started(), ev("taskScheduled", 0, name="A")]
    failed = pending_state(status=OrchestrationStatus.FAILED, completed_at=T0)
    cp = checkpoint_episode(
        failed, request(past, [orchestrator_started(), ev("executionRewound")]), response(), replaced_history=True
    )
    assert cp.new_execution is True
    assert kinds(cp.new_events) == [
        "orchestratorStarted", "executionStarted", "taskScheduled",
        "orchestratorStarted", "executionRewound", "orchestratorCompleted",
    ]
    assert cp.state.status is OrchestrationStatus.RUNNING and cp.state.failure is None


# -- maxOrchestrationActions ---------------------------------------------------------------------


def _after_actions(n: int) -> list[pb.HistoryEvent]:
    """The past of an execution that took ``n`` actions: activities, a timer, an event sent
    (and a result and an external event, which are not actions)."""
    kinds_taken = ["taskScheduled", "timerCreated", "eventSent"]
    past = [orchestrator_started(), started(), ev("eventRaised", name="Go"), ev("taskCompleted", taskScheduledId=0)]
    past.extend(ev(kinds_taken[min(i, 2)], i) for i in range(n))
    return past


def test_actions_up_to_max_orchestration_actions_are_applied() -> None:
    cp = checkpoint_episode(
        pending_state(status=OrchestrationStatus.RUNNING),
        request(_after_actions(4), [orchestrator_started()]),
        response(action(4, "scheduleTask", name="Work")),
        max_actions=5,
    )
    assert cp.state.status is OrchestrationStatus.RUNNING
    assert kinds(cp.new_events) == ["orchestratorStarted", "taskScheduled", "orchestratorCompleted"]
    assert len(cp.activity_messages) == 1


def test_an_action_past_max_orchestration_actions_fails_the_execution() -> None:
    cp = checkpoint_episode(
        pending_state(status=OrchestrationStatus.RUNNING),
        request(_after_actions(4), [orchestrator_started()]),
        response(action(4, "scheduleTask", name="Work"), action(5, "createTimer")),
        max_actions=5,
    )
    assert cp.state.status is OrchestrationStatus.FAILED
    assert cp.state.failure is not None
    assert cp.state.failure.error_type == "System.InvalidOperationException"
    assert cp.state.failure.message == (
        "Maximum amount of orchestration actions (5) has been reached. "
        "This value can be configured in host.json file as MaxOrchestrationActions."
    )
    assert cp.activity_messages == [] and cp.orchestrator_messages == [], "none of the episode's actions is applied"
    assert kinds(cp.new_events)[-2:] == ["executionCompleted", "orchestratorCompleted"]


def test_completing_does_not_count_as_an_action() -> None:
    cp = checkpoint_episode(
        pending_state(status=OrchestrationStatus.RUNNING),
        request(_after_actions(5), [orchestrator_started()]),
        response(complete(5, pb.ORCHESTRATION_STATUS_COMPLETED, '"done"')),
        max_actions=5,
    )
    assert cp.state.status is OrchestrationStatus.COMPLETED and cp.state.output == '"done"'


def test_a_history_given_beside_the_request_counts_as_its_past_events() -> None:
    # The dispatcher keeps a history encoded out of the request (it went to the worker as
    # bytes) and passes the events it stands on; the checkpoint must be the same.
    past = [orchestrator_started(), started(), ev("taskScheduled", 0, name="SayHello"), ev("orchestratorCompleted")]
    new = [orchestrator_started(), ev("taskCompleted", taskScheduledId=0)]
    running = pending_state(status=OrchestrationStatus.RUNNING)
    acts = (action(1, "scheduleTask", name="SayAgain"), complete(2, pb.ORCHESTRATION_STATUS_COMPLETED, '"ok"'))
    inside = checkpoint_episode(running, request(past, new), response(*acts), make_execution_id=ids())
    beside = checkpoint_episode(running, request([], new), response(*acts), past_events=past, make_execution_id=ids())
    assert beside == inside
    assert beside.state.status is OrchestrationStatus.COMPLETED
    # Without them the request has no executionStarted at all: refused, not guessed.
    with pytest.raises(InvalidArgumentError, match="no executionStarted"):
        checkpoint_episode(running, request([], new), response(*acts), make_execution_id=ids())
    # A replaced history is written from the events given.
    replaced = checkpoint_episode(running, request([], new), response(), past_events=past, replaced_history=True)
    assert [e.SerializeToString() for e in replaced.new_events[:4]] == [e.SerializeToString() for e in past]
