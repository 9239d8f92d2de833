"""Indexing function_app.py: metadata with raw bindings (durableRequiresGrpc, orchestration
version), the durable registry, decorator rules, blueprints, replay-check's protocol."""
from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func
import pytest
from functions_support import SAMPLE_APP

from azure_durable_ext.cli.replay_check import load_app_module, registry_of
from azure_durable_ext.core.errors import ConfigurationError, InvalidArgumentError
from azure_durable_ext.core.task_name import TaskName
from azure_durable_ext.functions import DurableApp, DurableBlueprint
from azure_durable_ext.functions.definitions import index_function_app


def _bindings(metadata) -> dict[str, dict]:
    return {b["name"]: b for b in map(json.loads, metadata.raw_bindings)}


def test_sample_app_metadata() -> None:
    indexed = index_function_app(SAMPLE_APP)
    metadata = {f.name: f.to_rpc() for f in indexed.functions}
    assert set(metadata) == {"http_start", "http_start_sync", "echo", "Hello", "say_hello", "shout", "slow", "boom", "enqueue", "info"}

    start = _bindings(metadata["http_start"])
    assert start["client"] == {"direction": "IN", "type": "durableClient", "name": "client", "taskHub": "SampleHub",
                               "durableRequiresGrpc": True}
    assert start["req"]["type"] == "httpTrigger" and start["req"]["route"] == "orchestrators/{name}"
    assert start["$return"]["type"] == "http"

    hello = _bindings(metadata["Hello"])["context"]
    assert hello == {"direction": "IN", "type": "orchestrationTrigger", "name": "context", "orchestration": "Hello",
                     "version": "1.0.0", "durableRequiresGrpc": True}
    activity = _bindings(metadata["say_hello"])["city"]
    assert activity == {"direction": "IN", "type": "activityTrigger", "name": "city", "activity": "say_hello",
                        "durableRequiresGrpc": True}
    assert _bindings(metadata["enqueue"])["message"]["direction"] == "OUT"

    for meta in metadata.values():
        assert meta.properties["worker_indexed"] == "True"
        assert meta.function_id and meta.script_file.endswith("function_app.py")
    assert metadata["Hello"].bindings["context"].type == "orchestrationTrigger"
    assert sorted(indexed.registry.orchestrator_names(), key=str) == [TaskName("Hello", "1.0.0"), TaskName("Hello", "1.2.0")]
    assert indexed.registry.find_activity("say_hello") is not None


def test_indexing_twice_gives_the_same_ids() -> None:
    first = {f.name: f.function_id for f in index_function_app(SAMPLE_APP).functions}
    assert first == {f.name: f.function_id for f in index_function_app(SAMPLE_APP).functions}


def test_replay_check_finds_the_apps_registry() -> None:
    registry = registry_of(load_app_module(str(SAMPLE_APP)))
    assert registry.find_orchestrator("Hello", "1.2.0") is not None


def test_folder_without_function_app_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="function_app.py"):
        index_function_app(tmp_path)


def test_function_app_without_an_app_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("x = 1\n")
    with pytest.raises(ConfigurationError, match="no azure.functions.FunctionApp"):
        index_function_app(tmp_path)


def test_durable_client_above_route_is_refused() -> None:
    app = DurableApp()
    with pytest.raises(InvalidArgumentError, match="directly above the function"):
        @app.durable_client_input(client_name="client")
        @app.route(route="r")
        def start(req: func.HttpRequest, client: str) -> str:
            return ""


def test_durable_client_for_a_missing_parameter_is_refused() -> None:
    app = DurableApp()
    with pytest.raises(InvalidArgumentError, match="no parameter 'client'"):
        @app.durable_client_input(client_name="client")
        def start(req: func.HttpRequest) -> str:
            return ""


def test_async_orchestrator_is_refused() -> None:
    app = DurableApp()
    with pytest.raises(InvalidArgumentError, match="generator"):
        @app.orchestration_trigger(context_name="context")
        async def orchestrator(context):
            return None


def test_same_orchestration_version_twice_is_refused() -> None:
    app = DurableApp()

    @app.orchestration_trigger(context_name="context", orchestration="O", version="1")
    def first(context):
        yield None

    with pytest.raises(InvalidArgumentError, match="already registered"):
        @app.orchestration_trigger(context_name="context", orchestration="O", version="1")
        def second(context):
            yield None


def test_blueprint_functions_and_registry_join_the_app() -> None:
    blueprint = DurableBlueprint()

    @blueprint.activity_trigger(input_name="value", activity="Double")
    async def double(value: int) -> int:
        return value * 2

    @blueprint.orchestration_trigger(context_name="ctx", orchestration="Doubler")
    def doubler(ctx):
        return (yield ctx.call_activity("Double", 2))

    app = DurableApp()
    app.register_functions(blueprint)
    names = sorted(f.get_function_name() for f in app.get_functions())
    assert names == ["Double", "Doubler"]
    assert app.durable_registry.find_activity("double") is not None
    assert app.durable_registry.find_orchestrator("Doubler") is not None
    # get_functions may be called again (the worker and tools both index).
    assert len(app.get_functions()) == 2
