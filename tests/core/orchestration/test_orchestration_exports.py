"""The public API other layers import is pinned: changing it is a deliberate act."""
from __future__ import annotations

import subprocess
import sys

import azure_durable_ext.core.orchestration as orchestration


def test_public_names_are_pinned():
    assert sorted(orchestration.__all__) == [
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
    for name in orchestration.__all__:
        assert getattr(orchestration, name) is not None


def test_core_orchestration_loads_no_io_layers():
    # A fresh interpreter: what importing the executor and activity runner pulls in.
    code = (
        "import sys, azure_durable_ext.core.orchestration, azure_durable_ext.core.activity;"
        "print(sorted({m.split('.')[0] if not m.startswith('azure_durable_ext') else '.'.join(m.split('.')[:2])"
        " for m in sys.modules}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    for forbidden in ("'grpc'", "azure_durable_ext.storage", "azure_durable_ext.sidecar", "'aiohttp'"):
        assert forbidden not in loaded, forbidden
