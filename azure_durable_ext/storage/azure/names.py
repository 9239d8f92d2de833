"""Resource names of a task hub in Azure Storage, partition mapping and table-key escaping.

The names and the FNV-1a partition hash are DurableTask.AzureStorage's, so a hub written by
this package has the layout the .NET provider and its tools expect.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ...config import validate_hub_name
from ...core.errors import ConfigurationError

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_ESCAPES = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_CONTROL_BASE = 0xC0
#: Any character escape_partition_key changes (most instance ids have none).
_NEEDS_ESCAPE = re.compile(r"[\^/\\#?\x00-\x1f\x7f-\x9f]")


@functools.lru_cache(maxsize=4096)
def fnv1a_32(text: str) -> int:
    """FNV-1a 32-bit hash over the UTF-8 bytes of ``text`` (cached: an instance's id is
    hashed for every message to it, and the byte loop costs microseconds)."""
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def partition_of(instance_id: str, partition_count: int) -> int:
    """The control-queue partition an instance belongs to."""
    return fnv1a_32(instance_id) % partition_count


def escape_partition_key(instance_id: str) -> str:
    """PartitionKey for ``instance_id``: characters tables forbid in keys become ``^`` escapes."""
    if _NEEDS_ESCAPE.search(instance_id) is None:
        return instance_id
    out: list[str] = []
    for ch in instance_id:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            # Control characters (forbidden in keys) map into a printable range after ``^``.
            out.append("^" + chr(_CONTROL_BASE + code))
        else:
            out.append(ch)
    return "".join(out)


def unescape_partition_key(key: str) -> str:
    """Inverse of :func:`escape_partition_key`."""
    reverse = {v[1]: k for k, v in _ESCAPES.items()}
    out: list[str] = []
    i = 0
    while i < len(key):
        ch = key[i]
        if ch == "^" and i + 1 < len(key):
            nxt = key[i + 1]
            if nxt in reverse:
                out.append(reverse[nxt])
            else:
                out.append(chr(ord(nxt) - _CONTROL_BASE))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class TaskHubNames:
    """Every storage resource name of one task hub."""

    hub: str
    partition_count: int = 4

    def __post_init__(self) -> None:
        validate_hub_name(self.hub)
        if not 1 <= self.partition_count <= 16:
            raise ConfigurationError(
                f"partitionCount must be between 1 and 16, got {self.partition_count}"
            )

    @property
    def _lower(self) -> str:
        return self.hub.lower()

    @property
    def instances_table(self) -> str:
        return f"{self.hub}Instances"

    @property
    def history_table(self) -> str:
        return f"{self.hub}History"

    @property
    def partitions_table(self) -> str:
        return f"{self.hub}Partitions"

    @property
    def poison_table(self) -> str:
        """Our addition: messages that failed too often end up here instead of looping."""
        return f"{self.hub}Poison"

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.instances_table, self.history_table, self.partitions_table, self.poison_table)

    def control_queue(self, partition: int) -> str:
        return f"{self._lower}-control-{partition:02d}"

    @property
    def control_queues(self) -> tuple[str, ...]:
        return tuple(self.control_queue(p) for p in range(self.partition_count))

    @property
    def work_item_queue(self) -> str:
        return f"{self._lower}-workitems"

    @property
    def queues(self) -> tuple[str, ...]:
        return (*self.control_queues, self.work_item_queue)

    @property
    def large_messages_container(self) -> str:
        return f"{self._lower}-largemessages"

    @property
    def leases_container(self) -> str:
        return f"{self._lower}-leases"

    @property
    def containers(self) -> tuple[str, ...]:
        return (self.large_messages_container, self.leases_container)

    def partition_of(self, instance_id: str) -> int:
        return partition_of(instance_id, self.partition_count)

    def control_queue_for(self, instance_id: str) -> str:
        return self.control_queue(self.partition_of(instance_id))
