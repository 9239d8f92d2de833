"""Replay verdicts over exported histories (the pure part of ``durable-ext replay-check``)."""
from __future__ import annotations

import json

import pytest
from golden_scenarios import REPLAY_EXPORT, changed_registry, registry

from azure_durable_ext.core.errors import InvalidArgumentError
from azure_durable_ext.core.orchestration import Registry
from azure_durable_ext.core.orchestration.replay_check import (
    ExportedInstance,
    ReplayVerdict,
    history_export,
    parse_history_export,
    replay_instance,
    replay_instances,
)


@pytest.fixture
def exported() -> list[ExportedInstance]:
    return parse_history_export(json.loads(REPLAY_EXPORT.read_text(encoding="utf-8")))


def _verdicts(reports) -> dict[str, ReplayVerdict]:
    return {r.instance_id: r.verdict for r in reports}


def test_the_recording_code_replays_every_history(exported):
    reports = replay_instances(registry(), exported)
    assert _verdicts(reports) == {
        "hello-v1-inflight": ReplayVerdict.OK,
        "hello-v1-done": ReplayVerdict.OK,
        "hello-v2-inflight": ReplayVerdict.OK,
    }
    assert all(r.compatible for r in reports)
    assert reports[0].describe() == "hello-v1-inflight HelloOrchestration@1.0.0: OK"


def test_a_rename_is_reported_with_the_step(exported):
    reports = {r.instance_id: r for r in replay_instances(changed_registry(), exported)}
    inflight = reports["hello-v1-inflight"]
    assert inflight.verdict is ReplayVerdict.NONDETERMINISTIC
    assert "history step 2" in inflight.detail and "SayGoodbye" in inflight.detail
    assert reports["hello-v1-done"].verdict is ReplayVerdict.NONDETERMINISTIC
    assert reports["hello-v2-inflight"].verdict is ReplayVerdict.VERSION_NOT_REGISTERED
    assert "registered versions: 1.0.0" in reports["hello-v2-inflight"].detail


def test_a_completed_history_needs_the_same_ending(exported):
    def stops_waiting(ctx):
        yield ctx.call_activity("SayHello", "Tokyo")
        yield ctx.call_activity("SayHello", "Seattle")
        yield ctx.call_activity("SayHello", "London")
        yield ctx.wait_for_external_event("NeverComes")

    reg = Registry()
    reg.add_orchestrator(stops_waiting, "HelloOrchestration", "1.0.0")
    done = next(i for i in exported if i.instance_id == "hello-v1-done")
    report = replay_instance(reg, done)
    assert report.verdict is ReplayVerdict.NONDETERMINISTIC
    assert "ended Completed but the code is still waiting" in report.detail


def test_code_that_now_raises_is_reported_as_replay_failed(exported):
    def raises(ctx):
        yield ctx.call_activity("SayHello", "Tokyo")
        ctx.call_activity("SayHello", "Seattle")  # same actions as recorded, then a new raise
        raise ValueError("new validation")

    reg = Registry()
    reg.add_orchestrator(raises, "HelloOrchestration")
    inflight = next(i for i in exported if i.instance_id == "hello-v1-inflight")
    report = replay_instance(reg, inflight)
    assert report.verdict is ReplayVerdict.REPLAY_FAILED
    assert "ValueError: new validation" in report.detail


def test_export_round_trips(exported):
    again = parse_history_export(history_export(exported))
    assert [i.instance_id for i in again] == [i.instance_id for i in exported]
    assert again[0].history == exported[0].history


def test_a_single_instance_object_is_accepted(exported):
    single = history_export(exported[:1])[0]
    assert [i.instance_id for i in parse_history_export(single)] == ["hello-v1-inflight"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (["nope"], "entry 0: expected an object"),
        ([{"history": []}], "entry 0: 'instanceId' must be a non-empty string"),
        ([{"instanceId": "a", "history": {}}], "'history' must be a list"),
        ([{"instanceId": "a", "history": [{"noSuchField": 1}]}], "entry 0 (a), event 0"),
    ],
)
def test_malformed_exports_name_the_problem(document, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_history_export(document)


def test_history_without_execution_started_is_a_replay_failure():
    report = replay_instance(registry(), ExportedInstance("x", []))
    assert report.verdict is ReplayVerdict.REPLAY_FAILED and "no executionStarted" in report.detail
