"""essential_pipeline: the policies it keeps and leaves out, and the client's own pipeline
left intact (against Azurite)."""
from __future__ import annotations

import re
import uuid

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options, parse_connection_string
from azure_durable_ext.storage.azure.essential_pipeline import REQUEST_ID_HEADER, essential_pipeline, send_whole
from azure_durable_ext.storage.azure.queue_rest import QueueAddress, QueueRestChannel, put_message_request
from azure_durable_ext.storage.azure.table_batch import submit_batch, submit_operation

pytestmark = pytest.mark.azurite


def _policy_names(pipeline: object) -> list[str]:
    return [type(getattr(p, "_policy", p)).__name__ for p in pipeline._impl_policies]  # type: ignore[attr-defined]


async def test_queue_client_keeps_signing_retries_headers_and_its_own_chain(azurite: AzuriteProcess) -> None:
    account = parse_connection_string(azurite.connection_string)
    async with account.queue_service() as service:
        queue = await service.create_queue("ep" + uuid.uuid4().hex[:10])
        try:
            pipeline = essential_pipeline(queue)
            assert pipeline is not None
            names = _policy_names(pipeline)
            for needed in ("StorageHeadersPolicy", "UserAgentPolicy", "ProxyPolicy", "StorageRetry", "SharedKeyCredentialPolicy"):
                assert needed in names, names
            for left_out in ("StorageResponseHook", "AsyncStorageResponseHook", "DistributedTracingPolicy", "HttpLoggingPolicy", "ContentDecodePolicy", "StorageHosts"):
                assert left_out not in names, names
            # The client's own pipeline still runs every policy: its response hook fires.
            QueueRestChannel(queue)
            seen: list[int] = []
            await queue.send_message("hooked", raw_response_hook=lambda response: seen.append(response.http_response.status_code))
            assert seen == [201]
        finally:
            await service.delete_queue(queue.queue_name)


async def test_table_batches_use_it_and_the_client_chain_stays_whole(azurite: AzuriteProcess) -> None:
    async with TableServiceClient.from_connection_string(azurite.connection_string, **client_options()) as service:
        table = await service.create_table("ep" + uuid.uuid4().hex[:10])
        try:
            pipeline = essential_pipeline(table)
            assert pipeline is not None
            names = _policy_names(pipeline)
            assert "AsyncTablesRetryPolicy" in names and "SharedKeyCredentialPolicy" in names, names
            assert not {"CustomHookPolicy", "DistributedTracingPolicy", "HttpLoggingPolicy", "StorageHosts"} & set(names), names
            await submit_batch(table, [("create", {"PartitionKey": "p", "RowKey": "1", "N": 1})])
            seen: list[int] = []
            await table.create_entity({"PartitionKey": "p", "RowKey": "2"}, raw_response_hook=lambda response: seen.append(response.http_response.status_code))
            assert seen == [201]
            assert sorted([e["RowKey"] async for e in table.list_entities()]) == ["1", "2"]
        finally:
            await service.delete_table(table.table_name)
            await table.close()


def test_a_client_not_built_as_expected_gets_none() -> None:
    class Elsewhere:
        _client = object()

    assert essential_pipeline(Elsewhere()) is None


_GUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


async def test_requests_carry_a_v4_request_id_and_no_policy_makes_a_uuid1(
    azurite: AzuriteProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = parse_connection_string(azurite.connection_string)
    async with account.queue_service() as service, TableServiceClient.from_connection_string(
        azurite.connection_string, **client_options()
    ) as tables:
        queue = await service.create_queue("ep" + uuid.uuid4().hex[:10])
        table = await tables.create_table("ep" + uuid.uuid4().hex[:10])
        made: list[object] = []
        real_uuid1 = uuid.uuid1

        def counting_uuid1(*args: object) -> uuid.UUID:
            made.append(args)
            return real_uuid1()

        monkeypatch.setattr(uuid, "uuid1", counting_uuid1)
        try:
            ids = set()
            for _ in range(3):
                request = put_message_request(QueueAddress(queue.url, queue.api_version), "m")
                response = await send_whole(queue, request)
                assert response.status_code == 201
                sent = request.headers[REQUEST_ID_HEADER]
                assert _GUID4.fullmatch(sent) and response.headers[REQUEST_ID_HEADER] == sent  # Azurite echoes it
                ids.add(sent)
            assert len(ids) == 3
            await submit_operation(table, ("create", {"PartitionKey": "p", "RowKey": "1"}))
            # A caller's own id is kept, through the queue SDK's headers policy too.
            request = put_message_request(QueueAddress(queue.url, queue.api_version), "mine")
            response = await send_whole(queue, request, client_request_id="my-request")
            assert response.headers[REQUEST_ID_HEADER] == "my-request"
            assert made == []
        finally:
            monkeypatch.undo()
            await service.delete_queue(queue.queue_name)
            await tables.delete_table(table.table_name)
            await table.close()
