"""Executor behaviour, episode by episode, on histories built in code."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from orch_history import T0, History, kinds

from azure_durable_ext._proto import pb
from azure_durable_ext.core.errors import ExternalEventTimeoutError, InvalidArgumentError, TaskFailedError
from azure_durable_ext.core.orchestration import Registry, RetryOptions, execute_orchestrator
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.core.versions import VersioningOptions


def _registry(*orchestrators, **named) -> Registry:
    registry = Registry()
    for fn in orchestrators:
        registry.add_orchestrator(fn)
    for name, fn in named.items():
        registry.add_orchestrator(fn, name)
    return registry


def hello_sequence(ctx):
    results = []
    for city in ["Tokyo", "Seattle", "London"]:
        results.append((yield ctx.call_activity("SayHello", city)))
    return results


def fan_out(ctx):
    cities = ctx.get_input()
    results = yield ctx.task_all([ctx.call_activity("SayHello", c) for c in cities])
    return results


class TestActivities:
    def test_sequence_schedules_one_activity_per_episode_and_completes(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        first = history.run(registry)
        assert kinds(first) == [(1, "scheduleTask")]
        assert first.actions[0].scheduleTask.name == "SayHello"
        assert first.actions[0].scheduleTask.input.value == '"Tokyo"'
        assert first.status is OrchestrationStatus.RUNNING
        second = history.complete_task(1, '"Hello Tokyo"').run(registry)
        assert kinds(second) == [(2, "scheduleTask")]
        assert second.actions[0].scheduleTask.input.value == '"Seattle"'
        history.complete_task(2, '"Hello Seattle"').run(registry)
        done = history.complete_task(3, '"Hello London"').run(registry)
        assert kinds(done) == [(4, "completeOrchestration")]
        assert done.status is OrchestrationStatus.COMPLETED
        assert json.loads(done.completion.result.value) == ["Hello Tokyo", "Hello Seattle", "Hello London"]

    def test_fan_out_schedules_all_then_fans_in_in_order(self):
        history = History("fan_out", '["a", "b", "c"]')
        registry = _registry(fan_out)
        first = history.run(registry)
        assert kinds(first) == [(1, "scheduleTask"), (2, "scheduleTask"), (3, "scheduleTask")]
        # Results arrive out of order and across episodes; the output keeps input order.
        assert history.complete_task(3, '"C"').run(registry).actions == []
        done = history.complete_task(1, '"A"').complete_task(2, '"B"').run(registry)
        assert json.loads(done.completion.result.value) == ["A", "B", "C"]

    def test_empty_fan_out_completes_immediately(self):
        done = History("fan_out", "[]").run(_registry(fan_out))
        assert json.loads(done.completion.result.value) == []

    def test_activity_failure_is_raised_into_the_orchestrator_with_details(self):
        def catcher(ctx):
            try:
                yield ctx.call_activity("Flaky")
            except TaskFailedError as exc:
                return {"type": exc.details.error_type, "message": exc.details.message}

        history = History("catcher")
        registry = _registry(catcher)
        history.run(registry)
        done = history.fail_task(1, "KeyError", "no such key").run(registry)
        assert json.loads(done.completion.result.value) == {"type": "KeyError", "message": "no such key"}

    def test_unhandled_activity_failure_fails_with_inner_failure(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        history.run(registry)
        done = history.fail_task(1, "ConnectionError", "host down").run(registry)
        assert done.status is OrchestrationStatus.FAILED
        failure = done.failure
        assert failure.error_type == "TaskFailedError"
        assert "activity 'SayHello' (task 1) failed: host down" in failure.message
        assert failure.inner is not None
        assert (failure.inner.error_type, failure.inner.message) == ("ConnectionError", "host down")
        assert failure.stack_trace and "hello_sequence" in failure.stack_trace

    def test_orchestrator_exception_fails_with_type_message_and_stack(self):
        def broken(ctx):
            yield ctx.call_activity("A")
            raise RuntimeError("bad state")

        history = History("broken")
        registry = _registry(broken)
        history.run(registry)
        done = history.complete_task(1, "1").run(registry)
        assert done.status is OrchestrationStatus.FAILED
        assert (done.failure.error_type, done.failure.message) == ("RuntimeError", "bad state")
        assert "raise RuntimeError" in done.failure.stack_trace

    def test_yielding_something_that_is_not_a_task_fails_clearly(self):
        def wrong(ctx):
            yield 42

        done = History("wrong").run(_registry(wrong))
        assert done.failure.error_type == "TypeError"
        assert "yielded a int" in done.failure.message

    def test_plain_function_orchestrator_and_two_argument_style(self):
        def plain(ctx):
            return ctx.get_input() * 2

        def durabletask_style(ctx, value):
            result = yield ctx.call_activity("Echo", value)
            return result

        registry = _registry(plain, durabletask_style)
        assert History("plain", "21").run(registry).completion.result.value == "42"
        history = History("durabletask_style", '"x"')
        assert history.run(registry).actions[0].scheduleTask.input.value == '"x"'

    def test_unserialisable_output_fails_with_serialization_error(self):
        def returns_object(ctx):
            return object()

        done = History("returns_object").run(_registry(returns_object))
        assert done.failure.error_type == "SerializationError"

    def test_duplicate_result_for_a_finished_task_is_ignored(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        history.run(registry)
        history.complete_task(1, '"a"').run(registry)
        again = history.complete_task(1, '"a again"').run(registry)
        assert again.actions == []


class TestTimers:
    def test_timer_fires_at_the_requested_time_and_resumes(self):
        def waiter(ctx):
            yield ctx.create_timer(timedelta(minutes=5))
            yield ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))
            return ctx.current_utc_datetime.isoformat()

        history = History("waiter")
        registry = _registry(waiter)
        first = history.run(registry)
        assert kinds(first) == [(1, "createTimer")]
        assert first.actions[0].createTimer.fireAt.ToDatetime() == (T0 + timedelta(minutes=5)).replace(tzinfo=None)
        second = history.fire_timer(1).run(registry)
        fire_at = second.actions[0].createTimer.fireAt.ToDatetime()
        assert fire_at == (T0 + timedelta(minutes=5, hours=1)).replace(tzinfo=None)
        done = history.fire_timer(2).run(registry)
        assert done.completion.result.value == json.dumps((T0 + timedelta(minutes=5, hours=1)).isoformat())

    def test_current_time_comes_from_orchestrator_started_not_the_wall_clock(self):
        def clock(ctx):
            first = ctx.current_utc_datetime
            yield ctx.call_activity("A")
            return [first.isoformat(), ctx.current_utc_datetime.isoformat()]

        history = History("clock")
        registry = _registry(clock)
        history.run(registry)
        history.advance(30)
        done = history.complete_task(1, None).run(registry)
        first, later = json.loads(done.completion.result.value)
        assert first == T0.isoformat()
        assert later == (T0 + timedelta(seconds=31)).isoformat()

    def test_bad_timer_argument_fails_the_orchestration(self):
        def bad(ctx):
            yield ctx.create_timer(5)

        done = History("bad").run(_registry(bad))
        assert done.failure.error_type == "InvalidArgumentError"


class TestExternalEvents:
    @staticmethod
    def approval(ctx):
        answer = yield ctx.wait_for_external_event("Approval")
        return answer

    def test_event_resumes_the_waiter_and_names_match_case_insensitively(self):
        history = History("approval")
        registry = _registry(approval=self.approval)
        assert history.run(registry).actions == []
        done = history.raise_event("APPROVAL", '{"ok": true}').run(registry)
        assert json.loads(done.completion.result.value) == {"ok": True}

    def test_event_raised_before_anyone_waits_is_buffered(self):
        def later(ctx):
            yield ctx.call_activity("Prepare")
            first = yield ctx.wait_for_external_event("Go")
            second = yield ctx.wait_for_external_event("go")
            return [first, second]

        history = History("later")
        registry = _registry(later)
        history.run(registry)
        history.raise_event("Go", "1").raise_event("GO", "2").run(registry)
        done = history.complete_task(1, None).run(registry)
        assert json.loads(done.completion.result.value) == [1, 2]

    def test_event_before_timeout_wins(self):
        def with_timeout(ctx):
            value = yield ctx.wait_for_external_event("Approval", timeout=timedelta(hours=1))
            return value

        history = History("with_timeout")
        registry = _registry(with_timeout)
        first = history.run(registry)
        assert kinds(first) == [(1, "createTimer")]
        done = history.raise_event("Approval", '"yes"').run(registry)
        assert done.completion.result.value == '"yes"'

    def test_timeout_fails_the_wait_and_a_late_event_stays_buffered(self):
        def with_timeout(ctx):
            try:
                yield ctx.wait_for_external_event("Approval", timeout=timedelta(minutes=10))
            except ExternalEventTimeoutError as exc:
                late = yield ctx.wait_for_external_event("Approval")
                return [str(exc), late]

        history = History("with_timeout")
        registry = _registry(with_timeout)
        history.run(registry)
        assert history.fire_timer(1).run(registry).actions == []
        done = history.raise_event("approval", '"late"').run(registry)
        assert json.loads(done.completion.result.value) == ["Timed out waiting for external event 'Approval'.", "late"]

    def test_uncaught_timeout_fails_with_timeout_error_type(self):
        def with_timeout(ctx):
            yield ctx.wait_for_external_event("Approval", timeout=timedelta(minutes=10))

        history = History("with_timeout")
        registry = _registry(with_timeout)
        history.run(registry)
        done = history.fire_timer(1).run(registry)
        assert done.failure.error_type == "ExternalEventTimeoutError"

    def test_task_any_between_event_and_timer(self):
        def race(ctx):
            timer = ctx.create_timer(timedelta(minutes=1))
            event = ctx.wait_for_external_event("Ping")
            winner = yield ctx.task_any([timer, event])
            return "event" if winner is event else "timer"

        registry = _registry(race)
        history = History("race")
        history.run(registry)
        assert history.fire_timer(1).run(registry).completion.result.value == '"timer"'
        history = History("race")
        history.run(registry)
        assert history.raise_event("ping", None).run(registry).completion.result.value == '"event"'


class TestSubOrchestrations:
    def test_default_instance_id_and_version_then_result(self):
        def parent(ctx):
            result = yield ctx.call_sub_orchestrator("Child", {"n": 1})
            return result

        history = History("parent", instance_id="p-1")
        registry = _registry(parent)
        first = history.run(registry, VersioningOptions(version="2.0.0", default_version="2.0.0"))
        create = first.actions[0].createSubOrchestration
        assert (first.actions[0].id, create.name, create.instanceId) == (1, "Child", "p-1:0001")
        assert create.version.value == "2.0.0"
        assert json.loads(create.input.value) == {"n": 1}
        done = history.complete_sub(1, '"child done"').run(registry)
        assert done.completion.result.value == '"child done"'

    def test_explicit_id_and_version_and_hex_id_format(self):
        def parent(ctx):
            tasks = [ctx.call_activity("A") for _ in range(10)]
            tasks.append(ctx.call_sub_orchestrator("Child"))
            tasks.append(ctx.call_sub_orchestrator("Child", None, "mine", version="1.0.0"))
            yield ctx.task_all(tasks)

        first = History("parent", instance_id="p").run(_registry(parent))
        subs = [a for a in first.actions if a.HasField("createSubOrchestration")]
        assert subs[0].createSubOrchestration.instanceId == "p:000b"
        assert not subs[0].createSubOrchestration.HasField("version")
        assert (subs[1].createSubOrchestration.instanceId, subs[1].createSubOrchestration.version.value) == ("mine", "1.0.0")

    def test_child_failure_reaches_parent_with_details(self):
        def parent(ctx):
            yield ctx.call_sub_orchestrator("Child")

        history = History("parent")
        registry = _registry(parent)
        history.run(registry)
        done = history.fail_sub(1, "ValueError", "child broke").run(registry)
        assert done.failure.error_type == "TaskFailedError"
        assert done.failure.inner.message == "child broke"

    def test_parent_instance_id_is_visible_to_the_child(self):
        def child(ctx):
            return ctx.parent_instance_id

        done = History("child", parent_instance_id="p-9").run(_registry(child))
        assert done.completion.result.value == '"p-9"'


class TestContinueAsNew:
    def test_continue_as_new_with_new_input_and_version(self):
        def counter(ctx):
            n = ctx.get_input()
            yield ctx.call_activity("Tick", n)
            ctx.continue_as_new(n + 1, new_version="2.0.0")

        history = History("counter", "1")
        registry = _registry(counter)
        history.run(registry)
        done = history.complete_task(1, None).run(registry)
        assert kinds(done) == [(2, "completeOrchestration")]
        complete = done.completion
        assert complete.orchestrationStatus == pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
        assert (complete.result.value, complete.newVersion.value) == ("2", "2.0.0")
        assert list(complete.carryoverEvents) == []

    def test_unprocessed_events_are_carried_over_when_asked(self):
        def collector(ctx):
            first = yield ctx.wait_for_external_event("Item")
            ctx.continue_as_new([first], preserve_unprocessed_events=True)

        history = History("collector")
        registry = _registry(collector)
        history.run(registry)
        done = (
            history.raise_event("Item", '"a"').raise_event("Other", '"x"').raise_event("item", '"b"').run(registry)
        )
        complete = done.completion
        assert complete.result.value == '["a"]'
        carried = [(e.eventRaised.name, e.eventRaised.input.value) for e in complete.carryoverEvents]
        assert carried == [("Other", '"x"'), ("item", '"b"')]

    def test_plain_function_can_continue_as_new(self):
        def restart(ctx):
            ctx.continue_as_new(ctx.get_input() + 1)
            return "ignored"

        complete = History("restart", "1").run(_registry(restart)).completion
        assert complete.orchestrationStatus == pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW
        assert complete.result.value == "2"

    def test_unprocessed_events_are_dropped_by_default(self):
        def collector(ctx):
            yield ctx.wait_for_external_event("Item")
            ctx.continue_as_new(None)

        history = History("collector")
        registry = _registry(collector)
        history.run(registry)
        complete = history.raise_event("Item", "1").raise_event("Item", "2").run(registry).completion
        assert list(complete.carryoverEvents) == [] and not complete.HasField("result")


class TestStatusAndIdentity:
    def test_custom_status_is_reported_every_episode(self):
        def progress(ctx):
            ctx.set_custom_status({"step": 1})
            yield ctx.call_activity("A")
            ctx.set_custom_status("done")

        history = History("progress")
        registry = _registry(progress)
        assert history.run(registry).custom_status == '{"step": 1}'
        assert history.complete_task(1, None).run(registry).custom_status == '"done"'

    def test_new_uuid_is_deterministic_and_matches_the_durable_python_formula(self):
        def guids(ctx):
            return [ctx.new_uuid(), ctx.new_guid()]

        first = History("guids", instance_id="abc").run(_registry(guids))
        second = History("guids", instance_id="abc").run(_registry(guids))
        values = json.loads(first.completion.result.value)
        assert values == json.loads(second.completion.result.value)
        namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
        assert values[0] == str(uuid.uuid5(namespace, "abc_2026-01-01T12:00:00.000000Z_0"))
        assert values[1] == str(uuid.uuid5(namespace, "abc_2026-01-01T12:00:00.000000Z_1"))

    def test_is_replaying_is_true_only_for_past_events(self):
        def replay_flags(ctx):
            flags = [ctx.is_replaying]
            yield ctx.call_activity("A")
            flags.append(ctx.is_replaying)
            return flags

        history = History("replay_flags")
        registry = _registry(replay_flags)
        history.run(registry)
        done = history.complete_task(1, None).run(registry)
        assert json.loads(done.completion.result.value) == [True, False]

    def test_context_exposes_identity(self):
        def who(ctx):
            return [ctx.instance_id, ctx.name, ctx.version]

        done = History("who", instance_id="id-7", version="1.2.0").run(_registry(who))
        assert json.loads(done.completion.result.value) == ["id-7", "who", "1.2.0"]


class TestTerminateSuspendResume:
    def test_terminate_completes_with_terminated_and_reason(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        history.run(registry)
        done = history.terminate('"stop please"').run(registry)
        assert kinds(done) == [(2, "completeOrchestration")]
        assert done.status is OrchestrationStatus.TERMINATED
        assert done.completion.result.value == '"stop please"'

    def test_events_are_held_while_suspended_and_applied_on_resume(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        history.run(registry)
        suspended = history.suspend().complete_task(1, '"a"').run(registry)
        assert suspended.actions == [] and suspended.status is OrchestrationStatus.SUSPENDED
        resumed = history.resume().run(registry)
        assert kinds(resumed) == [(2, "scheduleTask")]
        assert resumed.status is OrchestrationStatus.RUNNING

    def test_terminate_while_suspended_is_not_held(self):
        history = History("hello_sequence")
        registry = _registry(hello_sequence)
        history.run(registry)
        done = history.suspend().terminate(None).run(registry)
        assert done.status is OrchestrationStatus.TERMINATED


class TestBadRequests:
    def test_request_without_new_events_is_refused(self):
        history = History("x")
        request = pb.OrchestratorRequest(instanceId="x", pastEvents=history.new)
        with pytest.raises(InvalidArgumentError, match="no new events"):
            execute_orchestrator(Registry(), request)

    def test_history_without_execution_started_is_refused(self):
        history = History("x")
        del history.new[1]
        with pytest.raises(InvalidArgumentError, match="no executionStarted"):
            execute_orchestrator(Registry(), history.request())

    def test_entity_events_fail_the_orchestration_clearly(self):
        history = History("hello_sequence")
        history.add(pb.HistoryEvent(eventId=-1, entityLockGranted=pb.EntityLockGrantedEvent(criticalSectionId="c")))
        done = history.run(_registry(hello_sequence))
        assert done.status is OrchestrationStatus.FAILED
        assert "durable entities" in done.failure.message


class TestAzureFunctionsSpelling:
    def test_input_underscore_keyword_is_accepted_everywhere(self):
        def df_style(ctx):
            a = yield ctx.call_activity("A", input_=1)
            b = yield ctx.call_activity_with_retry("B", RetryOptions(timedelta(seconds=1), 2), input_=2)
            c = yield ctx.call_sub_orchestrator("C", input_=3)
            ctx.continue_as_new(input_=[a, b, c])

        history = History("df_style")
        registry = _registry(df_style)
        assert history.run(registry).actions[0].scheduleTask.input.value == "1"
        assert history.complete_task(1, '"a"').run(registry).actions[0].scheduleTask.input.value == "2"
        assert history.complete_task(2, '"b"').run(registry).actions[0].createSubOrchestration.input.value == "3"
        done = history.complete_sub(3, '"c"').run(registry)
        assert done.completion.result.value == '["a", "b", "c"]'

    def test_both_spellings_at_once_is_an_error(self):
        def both(ctx):
            yield ctx.call_activity("A", 1, input_=2)

        done = History("both").run(_registry(both))
        assert done.failure.error_type == "InvalidArgumentError"
        assert "either input= or input_=" in done.failure.message
