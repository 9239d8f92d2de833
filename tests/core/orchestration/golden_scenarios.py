"""Scenarios whose executor input and output are kept as golden files in tests/core/golden/.

Each scenario builds one OrchestratorRequest with the history builder; the golden file
stores that request and the response our executor gave when the file was reviewed.
Regenerate (then review the diff) with:

    .venv/bin/python tests/core/orchestration/golden_scenarios.py
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).parent))
from orch_history import History  # noqa: E402

from azure_durable_ext.core.orchestration import Registry, RetryOptions, execute_orchestrator  # noqa: E402
from azure_durable_ext.core.versions import (  # noqa: E402
    VersionFailureStrategy,
    VersioningOptions,
    VersionMatchStrategy,
)

GOLDEN_DIR = Path(__file__).parent.parent / "golden" / "executor"


def hello_v1(ctx):
    results = []
    for city in ["Tokyo", "Seattle", "London"]:
        results.append((yield ctx.call_activity("SayHello", city)))
    return results


def hello_v2(ctx):
    greetings = yield ctx.task_all([ctx.call_activity("SayHello", c) for c in ["Tokyo", "Seattle", "London"]])
    ctx.set_custom_status({"greeted": len(greetings)})
    return greetings


def approval(ctx):
    try:
        answer = yield ctx.wait_for_external_event("Approval", timeout=timedelta(hours=1))
    except TimeoutError:
        answer = "timed out"
    yield ctx.create_timer(timedelta(minutes=1))
    return answer


def parent(ctx):
    child = yield ctx.call_sub_orchestrator("Child", {"n": 1})
    retried = yield ctx.call_activity("Flaky", child, retry_options=RetryOptions(timedelta(seconds=10), 2))
    return retried


def collector(ctx):
    first = yield ctx.wait_for_external_event("Item")
    ctx.continue_as_new([first], new_version="2.0.0", preserve_unprocessed_events=True)


def registry() -> Registry:
    reg = Registry()
    reg.add_orchestrator(hello_v1, "HelloOrchestration", "1.0.0")
    reg.add_orchestrator(hello_v2, "HelloOrchestration", "2.0.0")
    reg.add_orchestrator(approval, "Approval")
    reg.add_orchestrator(parent, "Parent")
    reg.add_orchestrator(collector, "Collector")
    return reg


def changed_registry() -> Registry:
    """v1 of HelloOrchestration edited in place (a rename): replays must fail."""

    def hello_v1_renamed(ctx):
        yield ctx.call_activity("SayHello", "Tokyo")
        yield ctx.call_activity("SayGoodbye", "Seattle")

    reg = Registry()
    reg.add_orchestrator(hello_v1_renamed, "HelloOrchestration", "1.0.0")
    return reg


STRICT_FAIL = VersioningOptions(
    version="2.0.0", match_strategy=VersionMatchStrategy.STRICT, failure_strategy=VersionFailureStrategy.FAIL
)
DEFAULT_VERSION = VersioningOptions(version="2.0.0", default_version="2.0.0")


def _steps(history: History, steps: list[Callable[[History], object]], reg: Registry) -> History:
    """Run every step as one committed episode, leaving the last step's events as new."""
    history.run(reg)
    for step in steps[:-1]:
        step(history)
        history.run(reg)
    steps[-1](history)
    return history


# name -> (builder, registry factory, versioning options name)
SCENARIOS: dict[str, tuple[Callable[[], History], Callable[[], Registry], str | None]] = {
    "sequence_second_step": (
        lambda: _steps(History("HelloOrchestration", version="1.0.0"), [lambda h: h.complete_task(1, '"Hello Tokyo"')], registry()),
        registry, None,
    ),
    "fan_in_completes_with_custom_status": (
        lambda: _steps(History("HelloOrchestration", version="2.0.0"), [
            lambda h: h.complete_task(3, '"C"').complete_task(1, '"A"'),
            lambda h: h.complete_task(2, '"B"'),
        ], registry()),
        registry, None,
    ),
    "event_in_first_episode_beats_timeout": (
        lambda: History("Approval", instance_id="ap-1").raise_event("APPROVAL", '"yes"'),
        registry, None,
    ),
    "event_timeout": (
        lambda: _steps(History("Approval", instance_id="ap-2"), [lambda h: h.fire_timer(1)], registry()),
        registry, None,
    ),
    "sub_orchestration_default_id_and_version": (
        lambda: History("Parent", instance_id="parent-1"),
        registry, "default_version",
    ),
    "retry_timer_after_failure": (
        lambda: _steps(History("Parent", instance_id="parent-2"), [
            lambda h: h.complete_sub(1, '"child"'),
            lambda h: h.fail_task(2, "IOError", "disk full"),
        ], registry()),
        registry, None,
    ),
    "retry_exhausted_fails_with_inner": (
        lambda: _steps(History("Parent", instance_id="parent-3"), [
            lambda h: h.complete_sub(1, '"child"'),
            lambda h: h.fail_task(2, "IOError", "disk full"),
            lambda h: h.fire_timer(3),
            lambda h: h.fail_task(4, "IOError", "still full"),
        ], registry()),
        registry, None,
    ),
    "continue_as_new_with_carryover": (
        lambda: _steps(History("Collector"), [
            lambda h: h.raise_event("Item", '"a"').raise_event("Item", '"b"').raise_event("Other", "1"),
        ], registry()),
        registry, None,
    ),
    "terminate": (
        lambda: _steps(History("HelloOrchestration", version="1.0.0"), [lambda h: h.terminate('"operator"')], registry()),
        registry, None,
    ),
    "suspended_then_resumed": (
        lambda: _steps(History("HelloOrchestration", version="1.0.0"), [
            lambda h: h.suspend().complete_task(1, '"Hello Tokyo"'),
            lambda h: h.resume(),
        ], registry()),
        registry, None,
    ),
    "nondeterministic_rename": (
        lambda: _steps(History("HelloOrchestration", version="1.0.0"), [
            lambda h: h.complete_task(1, '"Hello Tokyo"'),
            lambda h: h.complete_task(2, '"Hello Seattle"'),
        ], registry()),
        changed_registry, None,
    ),
    "version_mismatch_strict_fail": (
        lambda: History("HelloOrchestration", version="1.0.0"),
        registry, "strict_fail",
    ),
    "version_not_registered": (
        lambda: History("HelloOrchestration", version="3.0.0"),
        registry, None,
    ),
}

VERSIONING = {"strict_fail": STRICT_FAIL, "default_version": DEFAULT_VERSION}


def response_document(response: object) -> dict[str, object]:
    """The response as JSON, without stack traces (they name local paths and lines)."""
    document = json_format.MessageToDict(response)  # type: ignore[arg-type]
    for action in document.get("actions", []):
        details = action.get("completeOrchestration", {}).get("failureDetails")
        while details:
            details.pop("stackTrace", None)
            details = details.get("innerFailure")
    return document


def render(name: str) -> dict[str, object]:
    """The golden document for scenario ``name`` as the executor produces it now."""
    build, make_registry, versioning_name = SCENARIOS[name]
    request = build().request()
    versioning = VERSIONING[versioning_name] if versioning_name else None
    result = execute_orchestrator(make_registry(), request, versioning=versioning)
    response = response_document(result.response)
    return {
        "scenario": name,
        "registry": make_registry.__name__,
        "versioning": versioning_name,
        "request": json_format.MessageToDict(request),
        "expected": {"abandon": result.abandon, "response": response},
    }


REPLAY_EXPORT = GOLDEN_DIR.parent / "replay" / "hello_histories.json"


def replay_export() -> list[dict[str, object]]:
    """Histories recorded by ``registry()`` (the deployed code), in the replay-check format."""
    from azure_durable_ext.core.orchestration.replay_check import ExportedInstance, history_export

    reg = registry()
    inflight = History("HelloOrchestration", version="1.0.0", instance_id="hello-v1-inflight")
    inflight.run(reg)
    inflight.complete_task(1, '"Hello Tokyo"').run(reg)
    done = History("HelloOrchestration", version="1.0.0", instance_id="hello-v1-done")
    done.run(reg)
    for task_id in (1, 2, 3):
        done.complete_task(task_id, f'"Hello {task_id}"').run(reg)
    fan_out = History("HelloOrchestration", version="2.0.0", instance_id="hello-v2-inflight")
    fan_out.run(reg)
    fan_out.complete_task(2, '"Hello Seattle"').run(reg)
    return history_export(
        ExportedInstance(h.instance_id, list(h.past)) for h in (inflight, done, fan_out)
    )


def main() -> None:
    REPLAY_EXPORT.parent.mkdir(parents=True, exist_ok=True)
    REPLAY_EXPORT.write_text(json.dumps(replay_export(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {REPLAY_EXPORT.name}")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in SCENARIOS:
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(render(name), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {name}.json")


if __name__ == "__main__":
    main()
