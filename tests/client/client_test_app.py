"""A tiny app for the official durabletask worker, shared by the client tests' fixtures
(a module of its own: conftest modules are not importable by name)."""
from __future__ import annotations

from typing import Any

from durabletask import task

FLAKY_CALLS: dict[str, int] = {}


def hello(ctx: task.OrchestrationContext, value: Any) -> Any:
    """Echoes its input and the version it runs as."""
    return {"version": ctx.version, "input": value}


def wait_for_go(ctx: task.OrchestrationContext, _: Any) -> Any:
    value = yield ctx.wait_for_external_event("go")
    return {"got": value}


def flaky_activity(ctx: task.ActivityContext, key: str) -> str:
    FLAKY_CALLS[key] = FLAKY_CALLS.get(key, 0) + 1
    if FLAKY_CALLS[key] == 1:
        raise RuntimeError(f"first attempt of {key} fails")
    return f"{key} ok"


def flaky(ctx: task.OrchestrationContext, key: str) -> Any:
    result = yield ctx.call_activity(flaky_activity, input=key)
    return result


def register_app(worker: Any) -> Any:
    """Register every orchestrator and activity above on a durabletask worker."""
    for orchestrator in (hello, wait_for_go, flaky):
        worker.add_orchestrator(orchestrator)
    worker.add_activity(flaky_activity)
    return worker
