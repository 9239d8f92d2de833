"""What runs an orchestration episode or an activity: the dispatchers' pluggable runners.

The dispatchers ask each runner in turn ``can_run(name, version)`` and hand the work to the
first that says yes; when none does, the work waits, parked, until one can. A runner may
also define ``can_run_any() -> bool``: while every runner says False there (no worker
connected), dispatchers leave new work in storage and sweep it up only periodically or when
runners change. An orchestration runner that sends the request on as bytes may define
``async run_encoded(request, past_events_wire, name, version) -> RunnerOutcome``: when the
provider kept the history encoded, the dispatcher calls it instead of ``run`` with the request
minus its past events and those events as encoded ``pastEvents`` entries, so nobody parses
them. Three runners exist:

1. In process (``in_process.py``): the app's ``Registry`` and the pure replay executor.
2. GetWorkItems workers (``work_item_streams.py``): workers connected to the sidecar, such
   as the official ``durabletask`` worker, chosen by their work-item filters.
3. A Functions worker (the dev host adds it): the orchestration trigger protocol of Durable
   Functions under the gRPC flavour. The runner sends an ``InvocationRequest`` for the
   orchestrator function whose trigger input (``input_data`` binding of the orchestration
   trigger) is ``TypedData.string`` = base64 of the serialized ``pb.OrchestratorRequest``
   (history inline: ``pastEvents``, ``newEvents`` starting with orchestratorStarted). The
   function's ``return_value`` is ``TypedData.string`` (or ``json`` holding a string) =
   base64 of the serialized ``pb.OrchestratorResponse``. A failed invocation
   (StatusResult Failure) is not an orchestration failure: the runner returns
   ``RunnerOutcome.abandoned(...)`` so the episode is retried; an orchestration that fails
   reports it inside the response (a completeOrchestration action with status Failed).
   Activities use ``ActivityRunner`` the same way with the activity trigger's JSON input
   and return value, wrapped into a ``pb.ActivityResponse``.

A runner never touches storage: it turns a request into a response (or says "abandon"),
and the dispatcher records the outcome.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..._proto import pb


R = TypeVar("R", pb.OrchestratorResponse, pb.ActivityResponse)
_O = TypeVar("_O", bound="Outcome[Any]")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """A runner's outcome: a response to record, or ``abandon`` (put the work back, offer
    it again after ``delay`` seconds; None lets the dispatcher choose)."""

    response: R | None = None
    abandon: bool = False
    reason: str | None = None
    delay: float | None = None

    @classmethod
    def completed(cls: "type[_O]", response: Any) -> _O:
        return cls(response=response)

    @classmethod
    def abandoned(cls: "type[_O]", reason: str, delay: float | None = None) -> _O:
        return cls(abandon=True, reason=reason, delay=delay)


# Subclasses rather than aliases (``Outcome[...]``): a call through a generic alias also
# tries to set ``__orig_class__`` on the new (slotted) instance and swallows the failure,
# twice the cost of the construction itself on every work item.
class RunnerOutcome(Outcome[pb.OrchestratorResponse]):
    """An orchestration episode's outcome."""

    __slots__ = ()


class ActivityOutcome(Outcome[pb.ActivityResponse]):
    """An activity's outcome (its response carries the result or the failure details)."""

    __slots__ = ()


class OrchestrationRunner(Protocol):
    """Runs orchestration episodes."""

    def can_run(self, name: str, version: str | None) -> bool:
        """Whether this runner can run orchestrator ``name`` at ``version`` right now."""

    async def run(self, request: pb.OrchestratorRequest) -> RunnerOutcome:
        """Run one episode."""


class ActivityRunner(Protocol):
    """Runs activities."""

    def can_run(self, name: str, version: str | None) -> bool:
        """Whether this runner can run activity ``name`` right now."""

    async def run(self, request: pb.ActivityRequest) -> ActivityOutcome:
        """Run one activity invocation."""
