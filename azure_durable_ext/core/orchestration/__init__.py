"""Orchestration replay: registry, context API, executor, replay check. Pure (no I/O).

Public API (stable; other layers import only these names):

- ``Registry`` — orchestrators by (name, version), activities by name.
- ``OrchestrationContext`` — what generator orchestrators receive.
- ``Task`` — what they yield.
- ``RetryOptions`` — retry policy for activities and sub-orchestrations.
- ``execute_orchestrator(registry, request, *, versioning=None)`` ->
  ``OrchestratorExecutionResult`` (wraps a ``pb.OrchestratorResponse``).
- ``to_json`` / ``from_json`` — the payload converter.
"""
from .context import OrchestrationContext
from .converter import from_json, to_json
from .executor import OrchestratorExecutionResult, execute_orchestrator
from .registry import RegisteredActivity, RegisteredOrchestrator, Registry
from .retry import RetryOptions
from .tasks import Task
from .versioning import VersionDecision, VersionVerdict, decide_version

__all__ = [
    "OrchestrationContext",
    "OrchestratorExecutionResult",
    "RegisteredActivity",
    "RegisteredOrchestrator",
    "Registry",
    "RetryOptions",
    "Task",
    "VersionDecision",
    "VersionVerdict",
    "decide_version",
    "execute_orchestrator",
    "from_json",
    "to_json",
]
