"""Golden files: stored OrchestratorRequests replayed against stored expected responses.

The request is read from the file (never rebuilt), so a change in the executor's output
for a recorded history shows up here as a diff against reviewed JSON.
"""
from __future__ import annotations

import json

import pytest
from golden_scenarios import GOLDEN_DIR, SCENARIOS, VERSIONING, changed_registry, registry, response_document
from google.protobuf import json_format

from azure_durable_ext._proto import pb
from azure_durable_ext.core.orchestration import execute_orchestrator

REGISTRIES = {"registry": registry, "changed_registry": changed_registry}
FILES = sorted(GOLDEN_DIR.glob("*.json"))


def test_every_scenario_has_a_golden_file():
    assert {f.stem for f in FILES} == set(SCENARIOS)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_executor_output_matches_the_golden_file(path):
    golden = json.loads(path.read_text(encoding="utf-8"))
    request = json_format.ParseDict(golden["request"], pb.OrchestratorRequest())
    versioning = VERSIONING[golden["versioning"]] if golden["versioning"] else None
    result = execute_orchestrator(REGISTRIES[golden["registry"]](), request, versioning=versioning)
    assert result.abandon == golden["expected"]["abandon"]
    assert response_document(result.response) == golden["expected"]["response"]
