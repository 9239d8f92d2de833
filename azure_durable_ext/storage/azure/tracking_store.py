"""The Instances and History tables: instance rows, history snapshots, checkpoints, purge.

Writes that race are guarded by ETags: the instance row on create, the history "sentinel"
row on every checkpoint (its ETag-conditional merge sits in the same batch as the new
events, so an episode is stored entirely or not at all).
"""
from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from ..._proto import pb
from ...core.errors import ConcurrencyConflictError, InvalidArgumentError
from ...core.model import InstancePage, InstanceQuery, InstanceState
from ...protocol.history_wire import PastEventsWire
from .event_codec import event_type_name
from .history_codec import COMPLETE_ROW_COUNT, SENTINEL_ROW_KEY, event_to_row, row_key, row_to_event, sentinel_row
from .instance_codec import INSTANCE_ROW_KEY, PAYLOAD_COLUMNS, row_to_state, state_to_row
from .large_messages import BLOB_SUFFIX, MessageManager, externalize_large, history_blob_name, instance_blob_name
from .names import escape_partition_key
from .table_batch import submit_batch, submit_operation
from .operations import StorageOperationCounter

log = logging.getLogger(__name__)
MAX_BATCH = 100
REFUSED_PREFIX = "refused-"
_CONFLICT_STATUSES = frozenset({409, 412})


@dataclass(slots=True)
class HistorySnapshot:
    """The stored history of one instance and the ETag that guards the next checkpoint."""

    events: list[pb.HistoryEvent] = field(default_factory=list)
    execution_id: str | None = None
    row_keys: list[str] = field(default_factory=list)
    #: Rows past the last complete checkpoint (one that died between its batches).
    stale_keys: list[str] = field(default_factory=list)
    sentinel_etag: str | None = None
    #: Executions whose start was refused after its message could not be taken back.
    refused: set[str] = field(default_factory=set)
    #: ``events`` encoded as OrchestratorRequest.pastEvents entries, for the next episode.
    wire: PastEventsWire = field(default_factory=PastEventsWire)


class TrackingStore:
    """Instance rows and history rows of one task hub."""

    def __init__(
        self,
        instances: TableClient,
        history: TableClient,
        blobs: MessageManager,
        counter: StorageOperationCounter,
        task_hub: str,
    ) -> None:
        self._instances = instances
        self._history = history
        self._blobs = blobs
        self._ops = counter
        self._hub = task_hub

    # -- instance rows ---------------------------------------------------------------------
    async def fetch_instance(
        self, instance_id: str, *, include_payloads: bool = True
    ) -> tuple[InstanceState | None, str | None]:
        """The instance row and its ETag, or (None, None)."""
        self._ops.count("table", "get")
        try:
            entity = await self._instances.get_entity(escape_partition_key(instance_id), INSTANCE_ROW_KEY)
        except ResourceNotFoundError:
            return None, None
        row = dict(entity)
        await self._payloads(row, include_payloads)
        return row_to_state(row), entity.metadata.get("etag")

    async def _payloads(self, row: dict[str, Any], include: bool) -> None:
        if include:
            await self._blobs.restore_large(row)
        else:
            for col in PAYLOAD_COLUMNS:
                row.pop(col, None)
                row.pop(col + BLOB_SUFFIX, None)

    async def _row_for(self, state: InstanceState) -> dict[str, Any]:
        row = state_to_row(state, self._hub)
        uploads = externalize_large(
            row, lambda prop, value: instance_blob_name(state.instance_id, state.execution_id, prop, value)
        )
        await self._blobs.upload_all(uploads)
        return row

    async def write_instance(self, state: InstanceState, etag: str | None) -> str | None:
        """Insert the row (no ETag) or replace it only if unchanged since read (ETag);
        returns the new ETag. ConcurrencyConflictError when another writer got there first."""
        row = await self._row_for(state)
        self._ops.count("table", "insert" if etag is None else "replace")
        try:
            if etag is None:
                meta = await submit_operation(self._instances, ("create", row))
            else:
                meta = await submit_operation(
                    self._instances,
                    ("update", row, {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}),
                )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise ConcurrencyConflictError(
                f"instance {state.instance_id!r} was created or changed concurrently"
            ) from exc
        return meta.get("etag") if meta else None

    async def delete_instance_row(self, instance_id: str) -> None:
        self._ops.count("table", "delete")
        await self._instances.delete_entity(escape_partition_key(instance_id), INSTANCE_ROW_KEY)

    # -- history ---------------------------------------------------------------------------
    async def load_history(self, instance_id: str) -> HistorySnapshot:
        """Every history row of the instance (one query), oldest first, and the sentinel."""
        snapshot = HistorySnapshot()
        rows: list[dict[str, Any]] = []
        complete_rows: int | None = None
        self._ops.count("table", "query")
        pk = escape_partition_key(instance_id)
        async for entity in self._history.query_entities("PartitionKey eq @pk", parameters={"pk": pk}):
            if entity["RowKey"] == SENTINEL_ROW_KEY:
                snapshot.sentinel_etag = entity.metadata.get("etag")
                snapshot.execution_id = entity.get("ExecutionId")
                if isinstance(entity.get(COMPLETE_ROW_COUNT), int):
                    complete_rows = entity[COMPLETE_ROW_COUNT]
            elif entity["RowKey"].startswith(REFUSED_PREFIX):
                snapshot.refused.add(entity["RowKey"][len(REFUSED_PREFIX) :])
            else:
                rows.append(dict(entity))
        rows.sort(key=lambda r: r["RowKey"])
        if complete_rows is not None and len(rows) > complete_rows:
            log.warning("history of %r: ignoring %d rows of an incomplete checkpoint", instance_id, len(rows) - complete_rows)
            snapshot.stale_keys = [r["RowKey"] for r in rows[complete_rows:]]
            rows = rows[:complete_rows]
        for row in rows:
            snapshot.row_keys.append(row["RowKey"])
            await self._blobs.restore_large(row)
            snapshot.events.append(row_to_event(row))
        if snapshot.execution_id is None and rows:
            snapshot.execution_id = rows[0].get("ExecutionId")
        return snapshot

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        events: Sequence[pb.HistoryEvent],
        snapshot: HistorySnapshot,
        now: datetime,
        *,
        replace: bool = False,
    ) -> None:
        """Store ``events`` after the snapshot's (or in place of it when ``replace``).

        The first batch carries the sentinel guarded by the snapshot's ETag; a conflict
        raises ConcurrencyConflictError and nothing of this checkpoint is stored.
        """
        first = 0 if replace else len(snapshot.row_keys)
        ops: list[tuple[Any, ...]] = []
        for i, event in enumerate(events):
            row = event_to_row(instance_id, execution_id, first + i, event)
            key, kind = row["RowKey"], event_type_name(event)
            uploads = externalize_large(row, lambda prop, _value: history_blob_name(instance_id, key, kind, prop))
            await self._blobs.upload_all(uploads)
            ops.append(("upsert", row, {"mode": UpdateMode.REPLACE}))
        kept = {row_key(first + i) for i in range(len(events))}
        doomed = [*snapshot.row_keys, *snapshot.stale_keys] if replace else snapshot.stale_keys
        pk = escape_partition_key(instance_id)
        ops += [("delete", {"PartitionKey": pk, "RowKey": k}) for k in doomed if k not in kept]
        batches = [ops[i : i + MAX_BATCH - 1] for i in range(0, len(ops), MAX_BATCH - 1)] or [[]]
        etag = snapshot.sentinel_etag
        for index, batch in enumerate(batches):
            done = index == len(batches) - 1
            rows_now = first + len(events) if done else (0 if replace else first)
            sentinel = sentinel_row(instance_id, execution_id, now, complete=done, row_count=rows_now)
            if etag is None:
                guard: tuple[Any, ...] = ("create", sentinel)
            else:
                conditional = {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
                guard = ("update", sentinel, conditional)
            etag = await self._submit(instance_id, [guard, *batch], conflict_is_fatal=index == 0)
        snapshot.sentinel_etag = etag
        snapshot.execution_id = execution_id
        if replace:
            snapshot.events = list(events)
            snapshot.row_keys = [row_key(i) for i in range(len(events))]
        else:
            snapshot.events.extend(events)
            snapshot.row_keys.extend(row_key(first + i) for i in range(len(events)))
        snapshot.stale_keys = []

    async def _submit(self, instance_id: str, ops: list[tuple[Any, ...]], *, conflict_is_fatal: bool) -> str | None:
        self._ops.count("table", "batch")
        try:
            results = await submit_batch(self._history, ops)
        except (TableTransactionError, ResourceExistsError, ResourceModifiedError) as exc:
            status = getattr(exc, "status_code", None)
            if status in _CONFLICT_STATUSES or isinstance(exc, (ResourceExistsError, ResourceModifiedError)):
                where = "first" if conflict_is_fatal else "a later"
                raise ConcurrencyConflictError(
                    f"history of {instance_id!r} changed underneath this checkpoint ({where} batch refused)"
                ) from exc
            raise
        return str(results[0].get("etag")) if results else None

    async def record_refused_start(self, instance_id: str, execution_id: str) -> None:
        """Mark execution ``execution_id`` as refused (a row in the history partition, read
        with the history at no extra cost), for a start message a poller already holds."""
        self._ops.count("table", "upsert")
        await self._history.upsert_entity(
            {"PartitionKey": escape_partition_key(instance_id), "RowKey": REFUSED_PREFIX + execution_id}
        )

    async def delete_history(self, instance_id: str) -> int:
        """Delete every history row (and the sentinel); returns how many rows."""
        pk = escape_partition_key(instance_id)
        self._ops.count("table", "query")
        keys = [
            e["RowKey"]
            async for e in self._history.query_entities(
                "PartitionKey eq @pk", parameters={"pk": pk}, select=["RowKey"]
            )
        ]
        for i in range(0, len(keys), MAX_BATCH):
            chunk = keys[i : i + MAX_BATCH]
            self._ops.count("table", "batch")
            await submit_batch(self._history, [("delete", {"PartitionKey": pk, "RowKey": k}) for k in chunk])
        return len(keys)

    # -- queries ---------------------------------------------------------------------------
    async def query_instances(self, query: InstanceQuery) -> InstancePage:
        """One page of instance rows matching ``query``; the token is opaque."""
        if query.page_size < 1:
            raise InvalidArgumentError(f"page size must be at least 1, got {query.page_size}")
        flt, params = _instance_filter(query.statuses, query.created_from, query.created_to, query.instance_id_prefix)
        pager = self._instances.query_entities(flt, parameters=params, results_per_page=query.page_size).by_page(
            continuation_token=_decode_token(query.continuation_token)
        )
        states: list[InstanceState] = []
        self._ops.count("table", "query")
        async for page in pager:
            async for entity in page:
                row = dict(entity)
                await self._payloads(row, query.include_payloads)
                states.append(row_to_state(row))
            break
        token = pager.continuation_token  # type: ignore[attr-defined]
        return InstancePage(states, _encode_token(token))

    async def instance_ids_matching(
        self,
        statuses: frozenset[Any],
        created_from: datetime | None,
        created_to: datetime | None,
    ) -> list[str]:
        """Ids of every instance row matching the filter (all pages)."""
        flt, params = _instance_filter(statuses, created_from, created_to, None)
        self._ops.count("table", "query")
        return [
            row_to_state(dict(e)).instance_id
            async for e in self._instances.query_entities(
                flt, parameters=params, select=["PartitionKey", "RowKey", "RuntimeStatus", "CreatedTime"]
            )
        ]


def _instance_filter(
    statuses: frozenset[Any], created_from: datetime | None, created_to: datetime | None, prefix: str | None
) -> tuple[str, dict[str, Any]]:
    clauses = ["RowKey eq @rk"]
    params: dict[str, Any] = {"rk": INSTANCE_ROW_KEY}
    if statuses:
        names = sorted(s.durable_name for s in statuses)
        ors = []
        for i, name in enumerate(names):
            params[f"s{i}"] = name
            ors.append(f"RuntimeStatus eq @s{i}")
        clauses.append("( " + " or ".join(ors) + " )")
    if created_from is not None:
        params["cf"] = created_from
        clauses.append("CreatedTime ge @cf")
    if created_to is not None:
        params["ct"] = created_to
        clauses.append("CreatedTime le @ct")
    if prefix:
        start = escape_partition_key(prefix)
        params["pf"] = start
        params["pt"] = start[:-1] + chr(ord(start[-1]) + 1)
        clauses.append("PartitionKey ge @pf and PartitionKey lt @pt")
    return " and ".join(clauses), params


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"continuation token {token[:40]!r} is not one this provider issued") from exc

