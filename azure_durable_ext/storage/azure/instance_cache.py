"""What this process last stored for recently run instances, to skip reads next episode.

After a checkpoint the service knows the instance row (and its ETag) and the history (and
the sentinel's ETag) exactly, so the next episode of that instance needs no read at all. A
stale entry (another process or client wrote meanwhile) cannot do harm: every write it
leads to is ETag-guarded, the conflict drops the entry and the messages are retried with
fresh reads.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ...core.model import InstanceState
from .tracking_store import HistorySnapshot

DEFAULT_CAPACITY = 1000


@dataclass(slots=True)
class CachedInstance:
    state: InstanceState | None
    row_etag: str | None
    snapshot: HistorySnapshot


class InstanceCache:
    """A bounded LRU map of instance id -> CachedInstance."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, CachedInstance] = OrderedDict()

    def take(self, instance_id: str) -> CachedInstance | None:
        """Remove and return the entry (the episode that uses it puts a new one back)."""
        return self._entries.pop(instance_id, None)

    def put(self, instance_id: str, entry: CachedInstance) -> None:
        self._entries[instance_id] = entry
        self._entries.move_to_end(instance_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def put_if_absent(self, instance_id: str, entry: CachedInstance) -> bool:
        """Add ``entry`` unless one exists (an episode may have stored a newer one first)."""
        if instance_id in self._entries:
            return False
        self.put(instance_id, entry)
        return True

    def forget(self, instance_id: str) -> None:
        self._entries.pop(instance_id, None)

    def forget_where(self, predicate: Callable[[str], bool]) -> None:
        """Forget every instance whose id matches (e.g. of a partition no longer owned)."""
        for instance_id in [i for i in self._entries if predicate(i)]:
            del self._entries[instance_id]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
