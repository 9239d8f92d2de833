"""Pure core: names, versions, statuses, ids, errors, options and the replay executor.

Nothing here performs I/O or imports the other layers.
"""
from .errors import DurableError
from .status import OrchestrationStatus
from .task_name import TaskName
from .versions import VersionFailureStrategy, VersionMatchStrategy, VersioningOptions, compare_versions

__all__ = [
    "DurableError",
    "OrchestrationStatus",
    "TaskName",
    "VersionFailureStrategy",
    "VersionMatchStrategy",
    "VersioningOptions",
    "compare_versions",
]
