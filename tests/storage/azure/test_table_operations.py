"""Single table operations written by table_batch.submit_operation, against Azurite, checked
against what the SDK stores and raises."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ClientAuthenticationError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, UpdateMode
from azure.data.tables.aio import TableClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options
from azure_durable_ext.storage.azure.table_batch import submit_operation

pytestmark = pytest.mark.azurite

ROW = {
    "PartitionKey": "inst'ance 1",
    "RowKey": "",
    "Name": "HelloOrchestration",
    "Input": "\u00e9\u4e2d <&> \"quoted\"",
    "Count": 7,
    "Done": False,
    "Ratio": 0.5,
    "CreatedTime": datetime(2026, 11, 29, 12, 0, 1, 123456, tzinfo=timezone.utc),
}


def replace_if(etag: str) -> dict[str, Any]:
    return {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


async def test_create_stores_what_the_sdk_would(table: TableClient) -> None:
    meta = await submit_operation(table, ("create", ROW))
    ours = await table.get_entity(ROW["PartitionKey"], ROW["RowKey"])
    sdk_row = {**ROW, "PartitionKey": "sdk"}
    await table.create_entity(sdk_row)
    theirs = await table.get_entity("sdk", "")
    assert meta["etag"] == ours.metadata["etag"]
    assert {k: v for k, v in ours.items() if k != "PartitionKey"} == {k: v for k, v in theirs.items() if k != "PartitionKey"}


async def test_create_over_an_existing_row_is_refused_and_the_row_kept(table: TableClient) -> None:
    await submit_operation(table, ("create", ROW))
    with pytest.raises(ResourceExistsError) as caught:
        await submit_operation(table, ("create", {**ROW, "Name": "Other"}))
    assert caught.value.status_code == 409 and caught.value.error_code == "EntityAlreadyExists"  # type: ignore[attr-defined]
    assert table.table_name in str(caught.value) and "inst''ance 1" not in str(caught.value)
    assert "create of row" in str(caught.value) and "\n" not in str(caught.value)
    assert (await table.get_entity(ROW["PartitionKey"], ""))["Name"] == "HelloOrchestration"


async def test_replace_needs_the_current_etag(table: TableClient) -> None:
    first = await submit_operation(table, ("create", ROW))
    second = await submit_operation(table, ("update", {**ROW, "Name": "v2", "Count": 8}, replace_if(first["etag"])))
    assert second["etag"] and second["etag"] != first["etag"]
    with pytest.raises(ResourceModifiedError) as caught:
        await submit_operation(table, ("update", {**ROW, "Name": "stale"}, replace_if(first["etag"])))
    assert caught.value.status_code == 412
    row = await table.get_entity(ROW["PartitionKey"], "")
    assert (row["Name"], row["Count"], row.metadata["etag"]) == ("v2", 8, second["etag"])
    # REPLACE drops properties the new row does not carry.
    await submit_operation(table, ("update", {"PartitionKey": ROW["PartitionKey"], "RowKey": "", "Name": "bare"}, replace_if(second["etag"])))
    assert set(await table.get_entity(ROW["PartitionKey"], "")) == {"PartitionKey", "RowKey", "Name"}


async def test_update_of_a_missing_row_and_delete(table: TableClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        await submit_operation(table, ("update", {**ROW, "RowKey": "nope"}, replace_if('W/"datetime\'2026-01-01T00%3A00%3A00Z\'"')))
    await submit_operation(table, ("upsert", {**ROW, "RowKey": "u"}))
    await submit_operation(table, ("upsert", {"PartitionKey": ROW["PartitionKey"], "RowKey": "u", "Extra": "merged"}))
    merged = await table.get_entity(ROW["PartitionKey"], "u")
    assert merged["Extra"] == "merged" and merged["Name"] == "HelloOrchestration"
    assert await submit_operation(table, ("delete", {"PartitionKey": ROW["PartitionKey"], "RowKey": "u"})) == {}
    with pytest.raises(ResourceNotFoundError):
        await table.get_entity(ROW["PartitionKey"], "u")


async def test_values_it_does_not_encode_go_to_the_sdk(table: TableClient) -> None:
    meta = await submit_operation(table, ("create", {"PartitionKey": "big", "RowKey": "", "N": (2**40, EdmType.INT64)}))
    row = await table.get_entity("big", "")
    assert row["N"].value == 2**40 and meta["etag"] == row.metadata["etag"]
    with pytest.raises(ResourceExistsError):
        await submit_operation(table, ("create", {"PartitionKey": "big", "RowKey": "", "N": (1, EdmType.INT64)}))


async def test_wrong_key(azurite: AzuriteProcess, table: TableClient) -> None:
    forged = azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    async with TableClient.from_connection_string(forged, table.table_name, **client_options()) as client:
        with pytest.raises(ClientAuthenticationError) as caught:
            await submit_operation(client, ("create", ROW))
    assert caught.value.status_code == 403
    assert [e async for e in table.list_entities()] == []


async def test_bad_operations(table: TableClient) -> None:
    with pytest.raises(ValueError, match="PartitionKey"):
        await submit_operation(table, ("update", {"RowKey": "x"}))
    with pytest.raises(ValueError, match="unknown table operation"):
        await submit_operation(table, ("frobnicate", ROW))
