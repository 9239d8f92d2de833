"""Table service batches (Entity Group Transactions), and single row writes in the same
encoding (``submit_operation``), encoded and decoded here, sent through the table client's
own transport and policies.

The SDK's ``submit_transaction`` builds the multipart/mixed body and parses the multipart
answer with Python's ``email`` package: about 3 ms of CPU for a 3-row batch, most of a
checkpoint's client cost. The format is fixed and small (one changeset, one
``application/http`` part per operation), so it is written and read directly. The request
still goes through the client's transport and essential policies (``essential_pipeline``):
SharedKey/SAS signing, retries, timeouts and user agent are the SDK's. Operations or values
this codec does not handle go to ``submit_transaction`` unchanged.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from .essential_pipeline import send_whole
from .rest_errors import status_error

_CRLF = "\r\n"
_INT32 = 2**31
_BOUNDARY = re.compile(rb'boundary="?([^";\s]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})")
_INDEX_PREFIX = re.compile(r"^(\d+):")


class UnsupportedOperation(Exception):
    """An operation or value this codec leaves to the SDK."""


class TableBatchError(TableTransactionError):
    """An operation of a batch was refused; the whole batch was rolled back.

    ``status_code`` is the failing operation's status, ``index`` its position in the batch."""

    def __init__(self, index: int, status: int, error_code: str | None, detail: str) -> None:
        super().__init__(
            message=f"batch operation {index} failed with HTTP {status} ({error_code or 'no error code'}): {detail}",
            index=index,
        )
        self.status_code = status
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class PartResult:
    """One operation's answer inside a batch response."""

    status: int
    headers: dict[str, str]
    body: bytes


# -- request ---------------------------------------------------------------------------------
def entity_json(entity: Mapping[str, Any]) -> str:
    """The JSON body the SDK would send for ``entity``, with the stored types it would store.

    Strings carry no ``Edm.String`` annotation (the service's default type for a JSON string,
    the SDK adds one anyway); ints are Edm.Int32 and out of range is refused, as in the SDK
    (an Int64 needs the SDK's ``(value, EdmType.INT64)`` tuple, which goes to the SDK)."""
    out: dict[str, Any] = {}
    for name, value in entity.items():
        kind = type(value)
        if value is None:
            continue
        if kind is str or kind is bool:
            out[name] = value
        elif kind is int:
            if not -_INT32 <= value < _INT32:
                raise UnsupportedOperation(f"int {name} out of Int32 range")
            out[name] = value
        elif kind is float:
            out[name] = _float_value(value)
            out[name + "@odata.type"] = "Edm.Double"
        elif isinstance(value, datetime):
            out[name] = _datetime_value(value)
            out[name + "@odata.type"] = "Edm.DateTime"
        elif kind is bytes:
            out[name] = base64.b64encode(value).decode("ascii")
            out[name + "@odata.type"] = "Edm.Binary"
        else:
            raise UnsupportedOperation(f"property {name} of type {kind.__name__}")
    return json.dumps(out, separators=(",", ":"))


def _float_value(value: float) -> float | str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _datetime_value(value: datetime) -> str:
    # A value read from a table keeps the service's own text (sub-microsecond digits).
    service_text = getattr(value, "tables_service_value", None)
    if service_text:
        return str(service_text)
    # As the SDK: a naive datetime is taken as local time.
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entity_path(table: str, entity: Mapping[str, Any]) -> str:
    try:
        pk, rk = entity["PartitionKey"], entity["RowKey"]
    except KeyError as exc:
        raise ValueError("PartitionKey and/or RowKey were not provided in entity") from exc
    if type(pk) is not str or type(rk) is not str:
        raise UnsupportedOperation("keys that are not str")
    key = quote(pk.replace("'", "''"), safe="")
    row = quote(rk.replace("'", "''"), safe="")
    return f"{table}(PartitionKey='{key}',RowKey='{row}')"


def _if_match(options: Mapping[str, Any]) -> str | None:
    """The If-Match header of an operation's options, or None for an unconditional write."""
    etag, condition = options.get("etag"), options.get("match_condition")
    if condition == MatchConditions.IfNotModified:
        if not etag:
            # The SDK takes the ETag of a TableEntity's metadata then, or refuses.
            raise UnsupportedOperation("IfNotModified without an etag")
        return str(etag)
    if condition not in (None, MatchConditions.Unconditionally) or etag:
        raise UnsupportedOperation(f"match condition {condition!r} with etag {etag!r}")
    return None


def _operation(op: tuple[Any, ...], table: str) -> tuple[str, str, dict[str, str], str | None]:
    """(method, path relative to the account, headers, JSON body) of one operation."""
    if len(op) not in (2, 3):
        raise UnsupportedOperation(f"operation of {len(op)} items")
    kind, entity = str(op[0]).lower(), op[1]
    options: Mapping[str, Any] = op[2] if len(op) == 3 else {}
    extra = set(options) - {"mode", "etag", "match_condition"}
    if extra:
        raise UnsupportedOperation(f"options {sorted(extra)}")
    path = _entity_path(table, entity)
    headers: dict[str, str] = {}
    if kind == "create":
        if options:
            raise UnsupportedOperation("options on create")
        headers["Prefer"] = "return-no-content"
        return "POST", table, headers, entity_json(entity)
    if kind == "delete":
        if "mode" in options:
            raise UnsupportedOperation("mode on delete")
        headers["If-Match"] = _if_match(options) or "*"
        return "DELETE", path, headers, None
    if kind not in ("update", "upsert"):
        raise UnsupportedOperation(f"operation {kind!r}")
    mode = options.get("mode", UpdateMode.MERGE)
    if mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
        raise UnsupportedOperation(f"mode {mode!r}")
    if kind == "update":
        # An update without a condition still needs the row to exist (If-Match: *).
        headers["If-Match"] = _if_match(options) or "*"
    elif "etag" in options or "match_condition" in options:
        raise UnsupportedOperation("condition on upsert")
    method = "MERGE" if mode == UpdateMode.MERGE else "PUT"
    return method, path, headers, entity_json(entity)


def encode_batch(
    ops: Sequence[tuple[Any, ...]], account_url: str, table: str, version: str, batch_id: str
) -> tuple[str, bytes]:
    """(Content-Type, body) of the batch request for ``ops`` against ``table``.

    ``account_url`` is the table endpoint without a trailing slash; every operation names
    the same partition (the service refuses the batch otherwise)."""
    table_path = quote(table, safe="")
    batch, changeset = f"batch_{batch_id}", f"changeset_{batch_id}"
    lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    partition: object = None
    for index, op in enumerate(ops):
        method, path, headers, body = _operation(op, table_path)
        pk = op[1]["PartitionKey"]
        if partition is None:
            partition = pk
        elif pk != partition:
            raise ValueError("Partition Keys in the batch must all be the same.")
        lines += [
            f"--{changeset}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {index}",
            "",
            f"{method} {account_url}/{path} HTTP/1.1",
            f"x-ms-version: {version}",
            "DataServiceVersion: 3.0",
            "Accept: application/json;odata=minimalmetadata",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is None:
            lines += ["", ""]
        else:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", body]
    lines += [f"--{changeset}--", "", f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", _CRLF.join(lines).encode("ascii")


# -- response --------------------------------------------------------------------------------
def parse_batch_response(content_type: str, body: bytes) -> list[PartResult]:
    """Each operation's answer in a batch response (multipart/mixed, usually one changeset)."""
    boundary = _boundary(content_type.encode("latin-1"))
    results: list[PartResult] = []
    for part in _parts(body, boundary):
        head, _, rest = _split_head(part)
        inner_type = head.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            for inner in _parts(rest, _boundary(inner_type.encode("latin-1"))):
                results.append(_http_part(inner))
        else:
            results.append(_http_part(part))
    return results


def _boundary(content_type: bytes) -> bytes:
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"batch response without a multipart boundary: {content_type[:100]!r}")
    return match.group(1)


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.strip(b"\r\n"))
    return parts


def _split_head(block: bytes) -> tuple[dict[str, str], bytes, bytes]:
    """(headers, first line, rest) of a header block ended by an empty line; for an HTTP
    message the first line is its status line, for a MIME part it is a header too."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in block else b"\n\n"
    head, _, rest = block.partition(sep)
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    headers: dict[str, str] = {}
    first = b""
    for i, line in enumerate(lines):
        name, colon, value = line.partition(b":")
        if not colon or (i == 0 and line.startswith(b"HTTP/")):
            first = first or line
            continue
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers, first, rest


def _http_part(part: bytes) -> PartResult:
    _, _, message = _split_head(part)
    headers, status_line, body = _split_head(message)
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise ValueError(f"batch response part without an HTTP status line: {part[:200]!r}")
    return PartResult(int(match.group(1)), headers, body)


def part_error(part: PartResult, position: int) -> TableBatchError:
    """The error for a refused operation: its index from the service's message (``"2:..."``),
    else its position among the answers."""
    code, detail = error_detail(part.headers.get("x-ms-error-code"), part.body)
    match = _INDEX_PREFIX.match(detail)
    index = int(match.group(1)) if match else position
    return TableBatchError(index, part.status, code, detail.splitlines()[0] if detail else "")


def error_detail(code: str | None, body: bytes) -> tuple[str | None, str]:
    """(error code, message) of a refused operation's answer: from its OData JSON body,
    else ``code`` (the x-ms-error-code header) and the body's text."""
    detail = body.decode("utf-8", "replace").strip()
    try:
        error = json.loads(detail)["odata.error"]
        code = error.get("code", code)
        detail = error["message"]["value"]
    except (ValueError, KeyError, TypeError):
        pass
    return code, detail


# -- sending ---------------------------------------------------------------------------------
def _service(table: TableClient, accept: str) -> tuple[str, dict[str, str]]:
    """(account URL, the headers every request carries); UnsupportedOperation for a Cosmos
    endpoint, which wants its own MERGE form."""
    if table._cosmos_endpoint:  # noqa: SLF001
        raise UnsupportedOperation("Cosmos endpoint")
    account_url = f"{table.scheme}://{table._primary_hostname}"  # noqa: SLF001 - as the SDK's _batch_send
    headers = {
        "x-ms-version": table.api_version,
        "DataServiceVersion": "3.0",
        "MaxDataServiceVersion": "3.0;NetFx",
        "Accept": accept,
    }
    return account_url, headers


async def submit_batch(table: TableClient, ops: Sequence[tuple[Any, ...]]) -> list[dict[str, str]]:
    """Run ``ops`` as one transaction; each operation's response metadata (``etag``), as
    ``TableClient.submit_transaction`` returns. TableBatchError when an operation is refused."""
    if not ops:
        return []
    try:
        account_url, headers = _service(table, "application/json")
        content_type, body = encode_batch(ops, account_url, table.table_name, table.api_version, str(uuid.uuid4()))
    except UnsupportedOperation:
        return [dict(meta) for meta in await table.submit_transaction(ops)]
    headers["Content-Type"] = content_type
    request = HttpRequest("POST", f"{account_url}/$batch", headers=headers, content=body)
    response = await send_whole(table, request)
    if response.status_code != 202:
        raise HttpResponseError(
            message=f"batch of {len(ops)} operations on table {table.table_name!r} refused with HTTP "
            f"{response.status_code}: {response.text()[:500]}",
            response=response,
        )
    parts = parse_batch_response(response.headers.get("Content-Type", ""), response.content)
    for position, part in enumerate(parts):
        if not 200 <= part.status < 300:
            raise part_error(part, position)
    if len(parts) != len(ops):
        raise ValueError(f"batch of {len(ops)} operations answered with {len(parts)} parts")
    return [{"etag": part.headers["etag"]} if "etag" in part.headers else {} for part in parts]


async def submit_operation(table: TableClient, op: tuple[Any, ...]) -> dict[str, str]:
    """Run one operation (a batch's tuple: create, update, upsert or delete) on its own;
    its response metadata (``etag``), as the SDK's single-entity calls return. A refused
    operation raises what the SDK raises for its status (ResourceExistsError for a create
    over an existing row, ResourceModifiedError for a stale ETag...), naming table and row.
    Cheaper than the SDK's own calls: 0.38-0.44 vs 0.60-0.79 ms of client CPU per insert
    on Azurite (16 coroutines, same script)."""
    try:
        account_url, headers = _service(table, "application/json;odata=minimalmetadata")
        method, path, op_headers, body = _operation(op, quote(table.table_name, safe=""))
    except UnsupportedOperation:
        return await _sdk_operation(table, op)
    headers.update(op_headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = HttpRequest(method, f"{account_url}/{path}", headers=headers, content=body.encode() if body is not None else None)
    response = await send_whole(table, request)
    if response.status_code != 204:
        code, detail = error_detail(response.headers.get("x-ms-error-code"), response.content)
        entity = op[1]
        raise status_error(
            response.status_code, code, detail.splitlines()[0] if detail else "",
            f"{op[0]} of row ({entity['PartitionKey']!r}, {entity['RowKey']!r}) in table {table.table_name!r}",
        )
    etag = response.headers.get("ETag")
    return {"etag": etag} if etag else {}


async def _sdk_operation(table: TableClient, op: tuple[Any, ...]) -> dict[str, str]:
    """``op`` through the SDK's own call (what submit_operation does not encode)."""
    kind, entity = str(op[0]).lower(), op[1]
    options = dict(op[2]) if len(op) == 3 else {}
    if kind == "create":
        meta = await table.create_entity(entity, **options)
    elif kind == "update":
        meta = await table.update_entity(entity, **options)
    elif kind == "upsert":
        meta = await table.upsert_entity(entity, **options)
    elif kind == "delete":
        await table.delete_entity(entity, **options)
        return {}
    else:
        raise ValueError(f"unknown table operation {op[0]!r}")
    return {"etag": meta["etag"]} if meta and meta.get("etag") else {}
