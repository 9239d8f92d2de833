"""Version routing in the registry and the worker's versioning strategies."""
from __future__ import annotations

import json

import pytest
from orch_history import History, kinds

from azure_durable_ext.core.errors import InvalidArgumentError, OrchestratorNotRegisteredError
from azure_durable_ext.core.orchestration import Registry, VersionVerdict, decide_version
from azure_durable_ext.core.status import OrchestrationStatus
from azure_durable_ext.core.versions import VersionFailureStrategy, VersionMatchStrategy, VersioningOptions


def hello_v1(ctx):
    yield ctx.call_activity("SayHello", "v1")


def hello_v2(ctx):
    yield ctx.call_activity("SayHelloLoudly", "v2")


def hello_any(ctx):
    return f"unversioned code ran for {ctx.version}"


@pytest.fixture
def side_by_side() -> Registry:
    registry = Registry()
    registry.add_orchestrator(hello_v1, "HelloOrchestration", "1.0.0")
    registry.add_orchestrator(hello_v2, "HelloOrchestration", "2.0.0")
    return registry


class TestRegistry:
    def test_exact_version_selects_the_function(self, side_by_side):
        assert side_by_side.get_orchestrator("HelloOrchestration", "1.0.0").fn is hello_v1
        assert side_by_side.get_orchestrator("hellOorchestration", "2.0.0").fn is hello_v2

    def test_unversioned_registration_serves_versions_without_exact_match(self, side_by_side):
        side_by_side.add_orchestrator(hello_any, "HelloOrchestration")
        assert side_by_side.get_orchestrator("HelloOrchestration", "3.0.0").fn is hello_any
        assert side_by_side.get_orchestrator("HelloOrchestration", None).fn is hello_any
        assert side_by_side.get_orchestrator("HelloOrchestration", "1.0.0").fn is hello_v1

    def test_unregistered_version_lists_the_registered_ones(self, side_by_side):
        with pytest.raises(OrchestratorNotRegisteredError) as info:
            side_by_side.get_orchestrator("HelloOrchestration", "1.5.0")
        assert str(info.value) == (
            "orchestrator 'HelloOrchestration' version '1.5.0' is not registered "
            "(registered versions: 1.0.0, 2.0.0)"
        )

    def test_unknown_name_lists_the_registered_names(self, side_by_side):
        with pytest.raises(OrchestratorNotRegisteredError, match=r"'Other' is not registered .*HelloOrchestration"):
            side_by_side.get_orchestrator("Other", "1.0.0")

    def test_duplicate_registrations_are_refused(self, side_by_side):
        with pytest.raises(InvalidArgumentError, match="already registered"):
            side_by_side.add_orchestrator(hello_any, "helloorchestration", "1.0.0")
        side_by_side.add_activity(hello_any, "A")
        with pytest.raises(InvalidArgumentError, match="already registered"):
            side_by_side.add_activity(hello_any, "a")

    def test_async_orchestrators_and_empty_names_are_refused(self):
        async def not_a_generator(ctx):
            return None

        registry = Registry()
        with pytest.raises(InvalidArgumentError, match="generator functions"):
            registry.add_orchestrator(not_a_generator)
        with pytest.raises(InvalidArgumentError, match="non-empty name"):
            registry.add_activity(hello_any, " ")

    def test_versions_are_listed_oldest_first_whatever_the_registration_order(self):
        registry = Registry()
        for version in ("2.0.0", "1.10.0", None, "1.2.0"):
            registry.add_orchestrator(hello_any, "Hello", version)
        assert registry.orchestrator_versions("hello") == [None, "1.2.0", "1.10.0", "2.0.0"]
        assert registry.orchestrator_versions("Other") == []

    def test_names_and_versions_are_listed_for_work_item_filters(self, side_by_side):
        assert [str(n) for n in side_by_side.orchestrator_names()] == [
            "HelloOrchestration@1.0.0",
            "HelloOrchestration@2.0.0",
        ]


class TestVersionRouting:
    def test_each_instance_runs_the_code_of_its_version(self, side_by_side):
        v1 = History("HelloOrchestration", version="1.0.0").run(side_by_side)
        v2 = History("HelloOrchestration", version="2.0.0").run(side_by_side)
        assert v1.actions[0].scheduleTask.name == "SayHello"
        assert v2.actions[0].scheduleTask.name == "SayHelloLoudly"

    def test_unversioned_fallback_runs(self, side_by_side):
        side_by_side.add_orchestrator(hello_any, "HelloOrchestration")
        done = History("HelloOrchestration", version="9.9.9").run(side_by_side)
        assert json.loads(done.completion.result.value) == "unversioned code ran for 9.9.9"

    def test_unregistered_version_fails_the_instance_with_a_clear_error(self, side_by_side):
        done = History("HelloOrchestration", version="1.5.0").run(side_by_side)
        assert done.status is OrchestrationStatus.FAILED
        assert done.failure.error_type == "OrchestratorNotRegisteredError"
        assert "registered versions: 1.0.0, 2.0.0" in done.failure.message


def _options(match: VersionMatchStrategy, failure: VersionFailureStrategy) -> VersioningOptions:
    return VersioningOptions(version="2.0.0", default_version="2.0.0", match_strategy=match, failure_strategy=failure)


# (match strategy, instance version, accepted?)
CASES = [
    (VersionMatchStrategy.NONE, "3.0.0", True),
    (VersionMatchStrategy.NONE, None, True),
    (VersionMatchStrategy.STRICT, "2.0.0", True),
    (VersionMatchStrategy.STRICT, "1.0.0", False),
    (VersionMatchStrategy.STRICT, "3.0.0", False),
    (VersionMatchStrategy.CURRENT_OR_OLDER, "1.0.0", True),
    (VersionMatchStrategy.CURRENT_OR_OLDER, "2.0.0", True),
    (VersionMatchStrategy.CURRENT_OR_OLDER, None, True),
    (VersionMatchStrategy.CURRENT_OR_OLDER, "3.0.0", False),
]


class TestVersioningStrategies:
    @pytest.mark.parametrize("failure", list(VersionFailureStrategy))
    @pytest.mark.parametrize(("match", "version", "accepted"), CASES)
    def test_match_and_failure_strategies(self, side_by_side, match, version, accepted, failure):
        side_by_side.add_orchestrator(hello_any, "HelloOrchestration")
        history = History("HelloOrchestration", version=version)
        result = history.run(side_by_side, _options(match, failure))
        if accepted:
            assert not result.abandon and result.failure is None
        elif failure is VersionFailureStrategy.FAIL:
            assert not result.abandon
            assert kinds(result) == [(1, "completeOrchestration")]
            assert result.failure.error_type == "VersionMismatch"
            assert f"'{version}'" in result.failure.message and "'2.0.0'" in result.failure.message
        else:
            assert result.abandon and result.actions == []
            assert f"'{version}'" in result.abandon_reason and "'2.0.0'" in result.abandon_reason

    def test_versioning_is_checked_on_every_episode(self, side_by_side):
        history = History("HelloOrchestration", version="2.0.0")
        history.run(side_by_side)
        strict_v1 = _options(VersionMatchStrategy.STRICT, VersionFailureStrategy.REJECT)
        strict_v1 = VersioningOptions(version="1.0.0", match_strategy=strict_v1.match_strategy)
        assert history.complete_task(1, None).run(side_by_side, strict_v1).abandon

    def test_decide_version_messages(self):
        decision = decide_version(
            _options(VersionMatchStrategy.CURRENT_OR_OLDER, VersionFailureStrategy.FAIL), "10.0.0"
        )
        assert decision.verdict is VersionVerdict.FAIL
        assert decision.failure.message == "The orchestration version '10.0.0' is greater than the worker version '2.0.0'."
        assert decide_version(None, "anything").verdict is VersionVerdict.RUN
