"""The worker's versioning decision for one instance: run it, fail it, or put it back."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from ..model import FailureDetails
from ..versions import VersionFailureStrategy, VersionMatchStrategy, VersioningOptions


class VersionVerdict(enum.Enum):
    RUN = "run"
    FAIL = "fail"  # complete the instance as Failed, errorType "VersionMismatch"
    REJECT = "reject"  # abandon the work item; the backend offers it again later


@dataclass(frozen=True, slots=True)
class VersionDecision:
    verdict: VersionVerdict
    failure: FailureDetails | None = None


VERSION_MISMATCH = "VersionMismatch"


def decide_version(versioning: VersioningOptions | None, instance_version: str | None) -> VersionDecision:
    """Apply the match strategy to ``instance_version`` and, on mismatch, the failure strategy."""
    if versioning is None or versioning.accepts(instance_version):
        return VersionDecision(VersionVerdict.RUN)
    shown = instance_version or ""
    if versioning.match_strategy is VersionMatchStrategy.STRICT:
        message = f"The orchestration version '{shown}' does not match the worker version '{versioning.version}'."
    else:
        message = f"The orchestration version '{shown}' is greater than the worker version '{versioning.version}'."
    failure = FailureDetails(error_type=VERSION_MISMATCH, message=message, is_non_retriable=True)
    verdict = VersionVerdict.FAIL if versioning.failure_strategy is VersionFailureStrategy.FAIL else VersionVerdict.REJECT
    return VersionDecision(verdict, failure)
