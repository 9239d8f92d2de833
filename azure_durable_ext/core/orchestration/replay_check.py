"""Replay-safety check: would the current code replay these stored histories?

Run before deploying a changed orchestrator: each exported history is replayed against the
new code's registry, and each instance gets a verdict. Pure: the caller reads the files or
the task hub.

Export format (JSON): a list of instance objects, or one instance object::

    [{"instanceId": "abc", "history": [<HistoryEvent>, ...]}, ...]

where each ``<HistoryEvent>`` is the protobuf JSON form of the sidecar protocol's
``HistoryEvent`` (``google.protobuf.json_format.MessageToDict``), e.g.
``{"eventId": -1, "timestamp": "2026-01-01T12:00:00Z", "orchestratorStarted": {}}``.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from ..._proto import pb
from ..errors import InvalidArgumentError, OrchestratorNotRegisteredError
from ..status import OrchestrationStatus
from .executor import execute_orchestrator
from .registry import Registry


class ReplayVerdict(enum.Enum):
    OK = "OK"
    NONDETERMINISTIC = "NONDETERMINISTIC"
    VERSION_NOT_REGISTERED = "VERSION NOT REGISTERED"
    REPLAY_FAILED = "REPLAY FAILED"


@dataclass(frozen=True, slots=True)
class ExportedInstance:
    """One instance's history as exported."""

    instance_id: str
    history: list[pb.HistoryEvent] = field(default_factory=list)

    @property
    def started(self) -> pb.ExecutionStartedEvent | None:
        return next((e.executionStarted for e in self.history if e.HasField("executionStarted")), None)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    instance_id: str
    name: str
    version: str | None
    verdict: ReplayVerdict
    detail: str = ""

    @property
    def compatible(self) -> bool:
        return self.verdict is ReplayVerdict.OK

    def describe(self) -> str:
        """One line: ``<id> <name>@<version>: VERDICT - detail``."""
        label = self.name + (f"@{self.version}" if self.version else "")
        line = f"{self.instance_id} {label}: {self.verdict.value}"
        return f"{line} - {self.detail}" if self.detail else line


# -- the export format ---------------------------------------------------------------------
def parse_history_export(document: Any) -> list[ExportedInstance]:
    """Instances from a parsed export document; InvalidArgumentError names the bad entry."""
    entries = document if isinstance(document, list) else [document]
    instances = []
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            raise InvalidArgumentError(f"{where}: expected an object with instanceId and history")
        instance_id, history = entry.get("instanceId"), entry.get("history")
        if not isinstance(instance_id, str) or not instance_id:
            raise InvalidArgumentError(f"{where}: 'instanceId' must be a non-empty string")
        if not isinstance(history, list):
            raise InvalidArgumentError(f"{where} ({instance_id}): 'history' must be a list of history events")
        events = []
        for position, raw in enumerate(history):
            try:
                events.append(json_format.ParseDict(raw, pb.HistoryEvent()))
            except (json_format.ParseError, TypeError, AttributeError) as exc:
                raise InvalidArgumentError(f"{where} ({instance_id}), event {position}: {exc}") from exc
        instances.append(ExportedInstance(instance_id, events))
    return instances


def history_export(instances: Iterable[ExportedInstance]) -> list[dict[str, Any]]:
    """The export document for ``instances`` (the inverse of ``parse_history_export``)."""
    return [
        {"instanceId": inst.instance_id, "history": [json_format.MessageToDict(e) for e in inst.history]}
        for inst in instances
    ]


# -- replaying -----------------------------------------------------------------------------
def replay_instance(registry: Registry, instance: ExportedInstance) -> ReplayReport:
    """Replay one history against ``registry`` and say whether the code still fits it."""
    started = instance.started
    if started is None:
        return ReplayReport(instance.instance_id, "?", None, ReplayVerdict.REPLAY_FAILED, "history has no executionStarted")
    name, version = started.name, (started.version.value if started.HasField("version") else None) or None

    def report(verdict: ReplayVerdict, detail: str = "") -> ReplayReport:
        return ReplayReport(instance.instance_id, name, version, verdict, detail)

    try:
        registry.get_orchestrator(name, version)
    except OrchestratorNotRegisteredError as exc:
        return report(ReplayVerdict.VERSION_NOT_REGISTERED, str(exc))
    if not instance.history or not instance.history[0].HasField("orchestratorStarted"):
        return report(ReplayVerdict.REPLAY_FAILED, "history does not begin with orchestratorStarted")

    # The whole history is the past; one empty episode at the last known time drives it.
    wake = pb.HistoryEvent(eventId=-1, orchestratorStarted=pb.OrchestratorStartedEvent())
    wake.timestamp.CopyFrom(max((e.timestamp for e in instance.history), key=lambda t: (t.seconds, t.nanos)))
    request = pb.OrchestratorRequest(instanceId=instance.instance_id, pastEvents=instance.history, newEvents=[wake])
    result = execute_orchestrator(registry, request)
    failure = result.failure
    if failure is not None and failure.error_type == "NonDeterminismError":
        return report(ReplayVerdict.NONDETERMINISTIC, failure.message)

    recorded = _recorded_status(instance.history)
    if recorded is not None:
        if result.completion is None:
            return report(
                ReplayVerdict.NONDETERMINISTIC,
                f"the history ended {recorded.durable_name} but the code is still waiting "
                f"(new actions: {_action_summary(result.actions)})",
            )
        if result.status is not recorded:
            return report(
                ReplayVerdict.NONDETERMINISTIC,
                f"the history ended {recorded.durable_name} but the code ends {result.status.durable_name}"
                + (f" ({failure.error_type}: {failure.message})" if failure else ""),
            )
        return report(ReplayVerdict.OK)
    if failure is not None:
        return report(ReplayVerdict.REPLAY_FAILED, f"the code would fail this instance: {failure.error_type}: {failure.message}")
    if result.actions:
        return report(ReplayVerdict.OK, f"replay would now do: {_action_summary(result.actions)}")
    return report(ReplayVerdict.OK)


def replay_instances(registry: Registry, instances: Sequence[ExportedInstance]) -> list[ReplayReport]:
    return [replay_instance(registry, inst) for inst in instances]


def _recorded_status(history: Sequence[pb.HistoryEvent]) -> OrchestrationStatus | None:
    for event in reversed(history):
        if event.HasField("executionCompleted"):
            return OrchestrationStatus(event.executionCompleted.orchestrationStatus)
    return None


def _action_summary(actions: Sequence[pb.OrchestratorAction]) -> str:
    return ", ".join(f"{a.id}:{a.WhichOneof('orchestratorActionType')}" for a in actions) or "none"
