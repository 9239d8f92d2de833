"""``durable-ext replay-check``: compatible code exits 0, a nondeterministic change exits 1
naming the step; --hub reads in-flight histories through the storage interface."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from azure_durable_ext._proto import pb
from azure_durable_ext.cli.main import main
from azure_durable_ext.cli.replay_check import load_app_module, read_hub_histories, registry_of
from azure_durable_ext.core.activity import ActivityContext, execute_activity
from azure_durable_ext.core.episode import checkpoint_episode
from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.core.model import TaskMessage
from azure_durable_ext.core.orchestration import Registry, execute_orchestrator
from azure_durable_ext.core.orchestration.replay_check import ReplayVerdict, replay_instances
from azure_durable_ext.core.status import RUNNING_STATES
from azure_durable_ext.storage.memory import InMemoryOrchestrationService

EXPORT = Path(__file__).parents[1] / "core" / "golden" / "replay" / "hello_histories.json"

ORCHESTRATION_TESTS = Path(__file__).parents[1] / "core" / "orchestration"

# The code that recorded the exported histories (golden_scenarios.registry), as an app that
# exposes a DurableApp-like object with a ``durable_registry``.
APP_TEMPLATE = f"""
import sys
sys.path.insert(0, {str(ORCHESTRATION_TESTS)!r})
from golden_scenarios import changed_registry, hello_v1, hello_v2
from azure_durable_ext.core.orchestration import Registry


class StandInDurableApp:
    def __init__(self):
        self.durable_registry = Registry()


app = StandInDurableApp()
"""
DEPLOYED_APP = APP_TEMPLATE + """
app.durable_registry.add_orchestrator(hello_v1, "HelloOrchestration", "1.0.0")
app.durable_registry.add_orchestrator(hello_v2, "HelloOrchestration", "2.0.0")
"""
# v1 edited in place (its second activity renamed); v2 unchanged.
CHANGED_APP = APP_TEMPLATE + """
app.durable_registry.merge(changed_registry())
app.durable_registry.add_orchestrator(hello_v2, "HelloOrchestration", "2.0.0")
"""
WITHOUT_V1_APP = APP_TEMPLATE + """
app.durable_registry.add_orchestrator(hello_v2, "HelloOrchestration", "2.0.0")
"""


def _write_app(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def _run(*args: str):
    return CliRunner().invoke(main, ["replay-check", *args])


def test_compatible_code_exits_0_with_ok_per_instance(tmp_path):
    app = _write_app(tmp_path / "app", DEPLOYED_APP)
    result = _run("--app", str(app), "--history", str(EXPORT))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "hello-v1-inflight HelloOrchestration@1.0.0: OK",
        "hello-v1-done HelloOrchestration@1.0.0: OK",
        "hello-v2-inflight HelloOrchestration@2.0.0: OK",
    ]
    assert lines[-1] == "3 instance(s) checked, 0 incompatible"


def test_nondeterministic_change_exits_1_naming_the_step(tmp_path):
    app = _write_app(tmp_path / "app", CHANGED_APP)
    result = _run("--app", str(app / "function_app.py"), "--history", str(EXPORT))
    assert result.exit_code == 1, result.output
    inflight = next(line for line in result.output.splitlines() if line.startswith("hello-v1-inflight"))
    assert "NONDETERMINISTIC" in inflight
    assert "history step 2" in inflight and "'SayHello'" in inflight and "'SayGoodbye'" in inflight
    assert "hello-v2-inflight HelloOrchestration@2.0.0: OK" in result.output
    assert result.output.splitlines()[-1] == "3 instance(s) checked, 2 incompatible"


def test_dropped_version_is_reported(tmp_path):
    app = _write_app(tmp_path / "app", WITHOUT_V1_APP)
    result = _run("--app", str(app), "--history", str(EXPORT))
    assert result.exit_code == 1
    assert "hello-v1-inflight HelloOrchestration@1.0.0: VERSION NOT REGISTERED" in result.output
    assert "registered versions: 2.0.0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --history FILE or --hub NAME"),
        (["--history", "missing.json"], "missing.json"),
        (["--history", "{export}", "--hub", "H"], "exactly one of"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    app = _write_app(tmp_path / "app", DEPLOYED_APP)
    args = [a.replace("{export}", str(EXPORT)) for a in args]
    result = _run("--app", str(app), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_history_file_exits_2_naming_the_entry(tmp_path):
    app = _write_app(tmp_path / "app", DEPLOYED_APP)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"instanceId": "x", "history": [{"bogus": 1}]}]', encoding="utf-8")
    result = _run("--app", str(app), "--history", str(bad))
    assert result.exit_code == 2
    assert "entry 0 (x), event 0" in result.output


def test_app_without_registry_is_refused(tmp_path):
    app = _write_app(tmp_path / "empty", "X = 1\n")
    with pytest.raises(ConfigurationError, match="no orchestrators found"):
        registry_of(load_app_module(str(app)))
    with pytest.raises(ConfigurationError, match="no function_app.py"):
        load_app_module(str(tmp_path))


def test_module_name_and_plain_registry_objects_are_loaded(tmp_path, monkeypatch):
    package = tmp_path / "pkg_replay_app"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from azure_durable_ext.core.orchestration import Registry\n"
        "first = Registry()\nsecond = Registry()\n"
        "first.add_orchestrator(lambda ctx: 1, 'A')\nsecond.add_orchestrator(lambda ctx: 2, 'B')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = registry_of(load_app_module("pkg_replay_app"))
    assert sorted(n.name for n in registry.orchestrator_names()) == ["A", "B"]


def test_the_installed_entry_point_runs(tmp_path):
    app = _write_app(tmp_path / "app", CHANGED_APP)
    script = Path(sys.executable).parent / "durable-ext"
    done = subprocess.run(
        [str(script), "replay-check", "--app", str(app), "--history", str(EXPORT)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "NONDETERMINISTIC" in done.stdout


def test_hub_option_goes_through_the_storage_factory(tmp_path):
    # A fresh in-memory hub has no instances: the wiring runs and reports nothing to check.
    app = _write_app(tmp_path / "app", DEPLOYED_APP)
    result = _run("--app", str(app), "--hub", "EmptyHub", "--storage", "memory")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["0 instance(s) checked, 0 incompatible"]


# -- --hub: in-flight histories read through the storage interface -------------------------
def hello(ctx):
    first = yield ctx.call_activity("SayHello", "Tokyo")
    second = yield ctx.call_activity("SayHello", "Seattle")
    return [first, second]


async def _run_one_step(service: InMemoryOrchestrationService, registry: Registry) -> None:
    """A minimal dispatcher: start an instance, run its first episode and its activity, and
    the second episode, so the hub holds a Running instance with a two-episode history."""
    started = pb.HistoryEvent(
        eventId=-1,
        executionStarted=pb.ExecutionStartedEvent(
            name="Hello", orchestrationInstance=pb.OrchestrationInstance(instanceId="hub-1", executionId=None)
        ),
    )
    started.executionStarted.version.value = "1.0.0"
    started.executionStarted.orchestrationInstance.executionId.value = "exec-1"
    await service.create_instance(TaskMessage("hub-1", "exec-1", started), RUNNING_STATES)
    for episode in range(2):
        item = await service.lock_next_orchestration(timeout=5)
        assert item is not None
        wake = pb.HistoryEvent(eventId=-1, orchestratorStarted=pb.OrchestratorStartedEvent())
        wake.timestamp.FromDatetime(datetime(2026, 1, 1, tzinfo=timezone.utc))
        request = pb.OrchestratorRequest(
            instanceId=item.instance_id,
            pastEvents=item.past_events,
            newEvents=[wake, *(m.event for m in item.new_messages)],
        )
        response = execute_orchestrator(registry, request).response
        await service.complete_orchestration(item, checkpoint_episode(item.state, request, response))
        work = await service.lock_next_activity(timeout=5)
        assert work is not None
        scheduled = work.scheduled
        result = execute_activity(
            registry, scheduled.name, scheduled.input.value, ActivityContext(work.instance_id, work.task_id, scheduled.name)
        )
        if episode == 0:
            await service.complete_activity(work, TaskMessage("hub-1", "exec-1", result.to_event(work.task_id)))


async def test_hub_histories_replay_against_current_and_changed_code():
    registry = Registry()
    registry.add_orchestrator(hello, "Hello", "1.0.0")
    registry.add_activity(lambda city: f"Hello {city}", "SayHello")
    service = InMemoryOrchestrationService(task_hub="ReplayHub")
    await service.create_task_hub()
    try:
        await _run_one_step(service, registry)
        instances = await read_hub_histories(service)
    finally:
        await service.stop()
    assert [i.instance_id for i in instances] == ["hub-1"]
    assert sum(e.HasField("taskScheduled") for e in instances[0].history) == 2
    assert [r.verdict for r in replay_instances(registry, instances)] == [ReplayVerdict.OK]

    def changed(ctx):
        yield ctx.call_activity("SayHello", "Tokyo")
        yield ctx.create_timer(datetime(2030, 1, 1, tzinfo=timezone.utc))

    changed_registry = Registry()
    changed_registry.add_orchestrator(changed, "Hello", "1.0.0")
    [report] = replay_instances(changed_registry, instances)
    assert report.verdict is ReplayVerdict.NONDETERMINISTIC
    assert "history step 2" in report.detail and "createTimer" in report.detail
