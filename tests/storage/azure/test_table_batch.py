"""Table batches written and read by table_batch, against Azurite, compared with the SDK's."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import EdmType, UpdateMode
from azure.data.tables.aio import TableClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options
from azure_durable_ext.storage.azure.table_batch import TableBatchError, encode_batch, submit_batch

pytestmark = pytest.mark.azurite

REPLACE = {"mode": UpdateMode.REPLACE}


def if_unchanged(etag: str) -> dict[str, Any]:
    return {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


async def rows(table: TableClient, pk: str) -> dict[str, dict[str, Any]]:
    return {e["RowKey"]: dict(e) async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})}


async def test_create_then_merge_with_the_etag(table: TableClient) -> None:
    pk = "inst'ance"
    created = await submit_batch(
        table,
        [("create", {"PartitionKey": pk, "RowKey": "sentinel", "Count": 1}),
         ("upsert", {"PartitionKey": pk, "RowKey": "0", "Name": "a"}, REPLACE)],
    )
    sentinel = await table.get_entity(pk, "sentinel")
    assert created[0]["etag"] == sentinel.metadata["etag"]
    assert len(created) == 2 and created[1]["etag"]

    merged = await submit_batch(
        table,
        [("update", {"PartitionKey": pk, "RowKey": "sentinel", "Done": True}, if_unchanged(created[0]["etag"])),
         ("upsert", {"PartitionKey": pk, "RowKey": "1", "Name": "b"}, REPLACE)],
    )
    sentinel = await table.get_entity(pk, "sentinel")
    assert merged[0]["etag"] == sentinel.metadata["etag"] != created[0]["etag"]
    assert dict(sentinel) == {"PartitionKey": pk, "RowKey": "sentinel", "Count": 1, "Done": True}
    assert set(await rows(table, pk)) == {"sentinel", "0", "1"}


async def test_a_stale_etag_refuses_the_whole_batch(table: TableClient) -> None:
    pk = "p"
    first = await submit_batch(table, [("create", {"PartitionKey": pk, "RowKey": "sentinel"})])
    await submit_batch(table, [("update", {"PartitionKey": pk, "RowKey": "sentinel", "N": 1}, if_unchanged(first[0]["etag"]))])
    with pytest.raises(TableBatchError) as caught:
        await submit_batch(
            table,
            [("upsert", {"PartitionKey": pk, "RowKey": "x"}, REPLACE),
             ("update", {"PartitionKey": pk, "RowKey": "sentinel", "N": 2}, if_unchanged(first[0]["etag"]))],
        )
    assert caught.value.status_code == 412
    assert caught.value.index == 1
    assert "operation 1" in str(caught.value) and "412" in str(caught.value)
    assert set(await rows(table, pk)) == {"sentinel"}
    assert (await table.get_entity(pk, "sentinel"))["N"] == 1


async def test_create_over_an_existing_row_conflicts(table: TableClient) -> None:
    pk = "p"
    await submit_batch(table, [("create", {"PartitionKey": pk, "RowKey": "sentinel", "V": "old"})])
    with pytest.raises(TableBatchError) as caught:
        await submit_batch(
            table,
            [("upsert", {"PartitionKey": pk, "RowKey": "a"}, REPLACE),
             ("upsert", {"PartitionKey": pk, "RowKey": "b"}, REPLACE),
             ("create", {"PartitionKey": pk, "RowKey": "sentinel", "V": "new"})],
        )
    assert (caught.value.status_code, caught.value.index, caught.value.error_code) == (409, 2, "EntityAlreadyExists")
    assert await rows(table, pk) == {"sentinel": {"PartitionKey": pk, "RowKey": "sentinel", "V": "old"}}


async def test_upsert_replace_and_delete_mix(table: TableClient) -> None:
    pk = "p"
    await submit_batch(
        table,
        [("create", {"PartitionKey": pk, "RowKey": "s"}),
         *[("upsert", {"PartitionKey": pk, "RowKey": str(i), "Old": i, "Keep": "k"}, REPLACE) for i in range(4)]],
    )
    result = await submit_batch(
        table,
        [("upsert", {"PartitionKey": pk, "RowKey": "0", "New": "n"}, REPLACE),
         ("delete", {"PartitionKey": pk, "RowKey": "1"}),
         ("upsert", {"PartitionKey": pk, "RowKey": "5", "New": "five"}, REPLACE),
         ("delete", {"PartitionKey": pk, "RowKey": "3"}),
         ("upsert", {"PartitionKey": pk, "RowKey": "2", "Merged": True}, {"mode": UpdateMode.MERGE})],
    )
    assert [bool(r.get("etag")) for r in result] == [True, False, True, False, True]
    assert await rows(table, pk) == {
        "s": {"PartitionKey": pk, "RowKey": "s"},
        "0": {"PartitionKey": pk, "RowKey": "0", "New": "n"},
        "2": {"PartitionKey": pk, "RowKey": "2", "Old": 2, "Keep": "k", "Merged": True},
        "5": {"PartitionKey": pk, "RowKey": "5", "New": "five"},
    }


async def test_deleting_a_missing_row_names_its_operation(table: TableClient) -> None:
    with pytest.raises(TableBatchError) as caught:
        await submit_batch(
            table,
            [("upsert", {"PartitionKey": "p", "RowKey": "a"}, REPLACE), ("delete", {"PartitionKey": "p", "RowKey": "gone"})],
        )
    assert (caught.value.status_code, caught.value.index) == (404, 1)
    assert await rows(table, "p") == {}


async def test_one_hundred_operations(table: TableClient) -> None:
    pk = "big"
    ops: list[tuple[Any, ...]] = [("create", {"PartitionKey": pk, "RowKey": "sentinel"})]
    ops += [("upsert", {"PartitionKey": pk, "RowKey": f"{i:016X}", "I": i}, REPLACE) for i in range(99)]
    result = await submit_batch(table, ops)
    assert len(result) == 100 and all(r["etag"] for r in result)
    stored = await rows(table, pk)
    assert len(stored) == 100 and stored[f"{98:016X}"]["I"] == 98
    deleted = await submit_batch(table, [("delete", {"PartitionKey": pk, "RowKey": k}) for k in stored])
    assert deleted == [{}] * 100
    assert await rows(table, pk) == {}


async def test_large_and_unicode_strings(table: TableClient) -> None:
    pk = "ü'ñî €"
    tricky = "line\r\n--changeset_x\r\nHTTP/1.1 204 No Content\r\n\r\n\"quoted\" \\ \t"
    values = {
        "Big": "é" * 31_000,
        "Astral": "🙂𝄞" * 1000,
        "Tricky": tricky,
        "Empty": "",
        "Ascii": "x" * 30_000,
    }
    await submit_batch(table, [("create", {"PartitionKey": pk, "RowKey": "r'1", **values})])
    assert (await table.get_entity(pk, "r'1")) == {"PartitionKey": pk, "RowKey": "r'1", **values}


async def test_typed_values_read_back_as_the_sdk_writes_them(table: TableClient) -> None:
    pk = "types"
    values: dict[str, Any] = {
        "When": datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc),
        "Whole": datetime(2020, 1, 1, tzinfo=timezone.utc),
        "Int": 2**31 - 1,
        "Negative": -(2**31),
        "Flag": True,
        "Off": False,
        "Ratio": 0.1,
        "Huge": float("inf"),
        "Blob": bytes(range(256)),
        "EmptyBlob": b"",
        "Text": "t",
        "Missing": None,
    }
    ours = await submit_batch(table, [("create", {"PartitionKey": pk, "RowKey": "ours", **values})])
    await table.submit_transaction([("create", {"PartitionKey": pk, "RowKey": "sdk", **values})])
    by_ours, by_sdk = await table.get_entity(pk, "ours"), await table.get_entity(pk, "sdk")
    assert ours[0]["etag"] == by_ours.metadata["etag"]
    mine, theirs = dict(by_ours), dict(by_sdk)
    assert mine.pop("RowKey") == "ours" and theirs.pop("RowKey") == "sdk"
    assert mine == theirs
    assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}
    assert "Missing" not in mine and mine["Blob"] == bytes(range(256)) and mine["When"] == values["When"]

    # A datetime read back keeps the service's text when written again.
    again = {**dict(by_ours), "RowKey": "again"}
    await submit_batch(table, [("upsert", again, REPLACE)])
    assert (await table.get_entity(pk, "again"))["When"] == values["When"]


async def test_what_the_codec_leaves_to_the_sdk_still_works(table: TableClient) -> None:
    pk = "fallback"
    guid = uuid.uuid4()
    entity = {"PartitionKey": pk, "RowKey": "r", "Id": guid, "Long": (2**40, EdmType.INT64)}
    result = await submit_batch(table, [("create", entity)])
    stored = await table.get_entity(pk, "r")
    assert result[0]["etag"] == stored.metadata["etag"]
    assert stored["Id"] == guid and stored["Long"].value == 2**40
    with pytest.raises(TypeError):
        await submit_batch(table, [("upsert", {"PartitionKey": pk, "RowKey": "r2", "TooBig": 2**40}, REPLACE)])


async def test_bad_input_and_a_missing_table(table: TableClient, azurite: AzuriteProcess) -> None:
    assert await submit_batch(table, []) == []
    with pytest.raises(ValueError, match="Partition Keys"):
        await submit_batch(table, [("create", {"PartitionKey": "a", "RowKey": "1"}), ("create", {"PartitionKey": "b", "RowKey": "1"})])
    with pytest.raises(ValueError, match="RowKey"):
        await submit_batch(table, [("create", {"PartitionKey": "a"})])
    async with TableClient.from_connection_string(azurite.connection_string, "nosuchtable" + uuid.uuid4().hex[:8]) as gone:
        with pytest.raises(TableBatchError) as missing:
            await submit_batch(gone, [("upsert", {"PartitionKey": "a", "RowKey": "1"}, REPLACE)])
    assert (missing.value.status_code, missing.value.error_code) == (404, "TableNotFound")


async def test_a_refused_batch_request_names_the_table(table: TableClient, azurite: AzuriteProcess) -> None:
    wrong_key = azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    async with TableClient.from_connection_string(wrong_key, table.table_name, **client_options()) as forged:
        with pytest.raises(HttpResponseError) as caught:
            await submit_batch(forged, [("upsert", {"PartitionKey": "a", "RowKey": "1"}, REPLACE)])
    assert caught.value.status_code == 403 and not isinstance(caught.value, TableBatchError)
    assert table.table_name in str(caught.value) and "403" in str(caught.value)
    assert await rows(table, "a") == {}


def test_encoded_request_layout() -> None:
    content_type, body = encode_batch(
        [("update", {"PartitionKey": "p'1", "RowKey": "r 2", "N": 1}, if_unchanged('W/"x"')),
         ("delete", {"PartitionKey": "p'1", "RowKey": "d"})],
        "http://h/acct",
        "Tab",
        "2019-02-02",
        "id",
    )
    assert content_type == "multipart/mixed; boundary=batch_id"
    text = body.decode("ascii")
    assert text.startswith("--batch_id\r\nContent-Type: multipart/mixed; boundary=changeset_id\r\n\r\n--changeset_id\r\n")
    assert "MERGE http://h/acct/Tab(PartitionKey='p%27%271',RowKey='r%202') HTTP/1.1\r\n" in text
    assert "If-Match: W/\"x\"\r\n" in text and "If-Match: *\r\n" in text
    assert "Content-ID: 1\r\n" in text and '{"PartitionKey":"p\'1","RowKey":"r 2","N":1}' in text
    assert text.endswith("--changeset_id--\r\n\r\n--batch_id--\r\n")
