"""Queue message operations written and read by queue_rest, against Azurite, checked against
what the SDK's QueueClient sends and reads on the same queue."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueSasPermissions, generate_queue_sas
from azure.storage.queue.aio import QueueClient

from azure_durable_ext.storage.azure.azurite import AzuriteProcess
from azure_durable_ext.storage.azure.connection import client_options, parse_connection_string
from azure_durable_ext.storage.azure import essential_pipeline as pipelines
from azure_durable_ext.storage.azure.queue_rest import (
    QueueAddress,
    QueueRestChannel,
    error_for,
    get_messages_request,
    message_xml,
    parse_get_messages,
    parse_put_message,
    put_message_request,
    update_message_request,
)
from scripted_endpoint import PUT_ANSWER, QUEUE_PUT, scripted_account

pytestmark = pytest.mark.azurite

AWKWARD = '{"$type":"MessageData","Input":"<a href=\'x\'>&amp; \r\n tab\t \u00e9\u4e2d\U0001f600 ]]> </MessageText>"}'


async def test_put_then_get_keeps_the_text_and_the_sdk_reads_it_alike(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    sent = await channel.put(AWKWARD, time_to_live=-1)
    [peeked] = await queue.peek_messages()
    assert (peeked.id, peeked.content) == (sent.message_id, AWKWARD)
    # Never expires, as the SDK's time_to_live=-1 would make it.
    assert peeked.expires_on is not None and peeked.expires_on.year >= 9999
    [got] = await channel.get(32, 30)
    assert (got.message_id, got.dequeue_count, got.text) == (sent.message_id, 1, AWKWARD)
    await channel.delete(got.message_id, got.pop_receipt)
    assert await queue.peek_messages() == []


async def test_reads_what_the_sdk_sent(queue: QueueClient) -> None:
    await queue.send_message("plain & <simple>")
    await queue.send_message("x" * 60_000)
    got = await QueueRestChannel(queue).get(2, 30)
    assert sorted(m.text for m in got) == sorted(["plain & <simple>", "x" * 60_000])
    assert all(m.dequeue_count == 1 for m in got)


async def test_put_hidden_then_visible(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    await channel.put("later", visibility_timeout=1)
    assert await channel.get(32, 30) == []
    await asyncio.sleep(1.5)
    [got] = await channel.get(32, 30)
    assert got.text == "later"


async def test_the_put_receipt_locks_the_message_as_a_receive_would(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    sent = await channel.put("locked", visibility_timeout=30)
    receipt = await channel.update(sent.message_id, sent.pop_receipt, 0)
    [got] = await channel.get(1, 30)
    assert got.message_id == sent.message_id and got.pop_receipt != receipt


async def test_update_text_and_visibility(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    await channel.put("before")
    [got] = await channel.get(1, 30)
    receipt = await channel.update(got.message_id, got.pop_receipt, 0, AWKWARD)
    assert receipt and receipt != got.pop_receipt
    [again] = await channel.get(1, 30)
    assert (again.text, again.dequeue_count) == (AWKWARD, 2)
    # Without a text only the visibility changes.
    await channel.update(again.message_id, again.pop_receipt, 0)
    [third] = await channel.get(1, 30)
    assert third.text == AWKWARD


async def test_an_outdated_receipt_is_refused_and_the_message_kept(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    await channel.put("kept")
    [got] = await channel.get(1, 30)
    await channel.update(got.message_id, got.pop_receipt, 0)  # got.pop_receipt is now outdated
    with pytest.raises(HttpResponseError) as caught:
        await channel.delete(got.message_id, got.pop_receipt)
    # What the SDK raises for the same answer (MessageQueue.delete tells the two apart).
    assert caught.value.status_code in (400, 404)
    assert caught.value.error_code in ("PopReceiptMismatch", "MessageNotFound")
    [still] = await channel.get(1, 30)
    assert still.text == "kept"


async def test_deleting_twice_raises_not_found_naming_the_queue(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    sent = await channel.put("once")
    await channel.delete(sent.message_id, sent.pop_receipt)
    with pytest.raises(ResourceNotFoundError) as caught:
        await channel.delete(sent.message_id, sent.pop_receipt)
    assert caught.value.error_code == "MessageNotFound" and caught.value.status_code == 404
    assert queue.queue_name in str(caught.value) and "Delete Message" in str(caught.value)
    assert "Content:" not in str(caught.value)  # one readable line, not the XML body


async def test_missing_queue(azurite: AzuriteProcess) -> None:
    async with QueueClient.from_connection_string(azurite.connection_string, "nosuchqueue" + uuid.uuid4().hex[:8]) as q:
        with pytest.raises(ResourceNotFoundError) as caught:
            await QueueRestChannel(q).put("x")
    assert caught.value.error_code == "QueueNotFound"


async def test_wrong_key_is_an_authentication_error(azurite: AzuriteProcess, queue: QueueClient) -> None:
    forged = azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    async with QueueClient.from_connection_string(forged, queue.queue_name, **client_options()) as q:
        with pytest.raises(ClientAuthenticationError) as caught:
            await QueueRestChannel(q).put("x")
    assert caught.value.status_code == 403
    assert await queue.peek_messages() == []


async def test_a_sas_token_travels_with_every_request(azurite: AzuriteProcess, queue: QueueClient) -> None:
    account = parse_connection_string(azurite.connection_string)
    assert account.account_key is not None
    sas = generate_queue_sas(
        account.account_name, queue.queue_name, account.account_key,
        permission=QueueSasPermissions(read=True, add=True, update=True, process=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    async with QueueClient(account.queue_endpoint, queue.queue_name, credential=sas) as q:
        assert "sig=" in q.url
        channel = QueueRestChannel(q)
        sent = await channel.put(AWKWARD)
        receipt = await channel.update(sent.message_id, sent.pop_receipt, 0)
        [got] = await channel.get(1, 30)
        assert got.text == AWKWARD and got.pop_receipt != receipt
        await channel.delete(got.message_id, got.pop_receipt)
    assert await queue.peek_messages() == []


async def test_the_full_pipeline_serves_when_the_client_lacks_a_part(queue: QueueClient) -> None:
    channel = QueueRestChannel(queue)
    assert pipelines.essential_pipeline(queue) is not None  # the normal path
    pipelines._pipelines[queue] = None  # as essential_pipeline answers for a client it cannot take apart
    sent = await channel.put(AWKWARD)
    [got] = await channel.get(1, 30)
    assert (got.message_id, got.text) == (sent.message_id, AWKWARD)
    await channel.delete(got.message_id, got.pop_receipt)
    with pytest.raises(ResourceNotFoundError):
        await channel.delete(got.message_id, got.pop_receipt)

    class Bare:
        url, api_version, queue_name = queue.url, queue.api_version, queue.queue_name

    assert pipelines.essential_pipeline(Bare()) is None  # type: ignore[arg-type]


async def test_the_essential_pipeline_signs_and_retries() -> None:
    """A queue endpoint that fails the first attempt with 503, then answers: the put is
    retried by the client's retry policy, and every attempt carries the SharedKey
    signature, the date, the version and the user agent."""
    seen: list[dict[str, str]] = []

    async def put(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if len(seen) == 1:
            return web.Response(status=503, headers={"x-ms-error-code": "ServerBusy"})
        return web.Response(status=201, body=PUT_ANSWER, content_type="application/xml")

    async with scripted_account(QUEUE_PUT, put) as account, account.queue_service() as service:
        sent = await QueueRestChannel(service.get_queue_client("q")).put("x")
    assert (sent.message_id, sent.pop_receipt) == ("m1", "r1")
    assert len(seen) == 2
    for headers in seen:
        assert headers["Authorization"].startswith("SharedKey devstoreaccount1:")
        assert headers["x-ms-date"] and headers["x-ms-version"] and "azsdk-python-storage-queue" in headers["User-Agent"]


def test_get_takes_one_to_32() -> None:
    address = QueueAddress("http://h/acct/q", "2021-02-12")
    for bad in (0, 33):
        with pytest.raises(ValueError, match="1 to 32"):
            get_messages_request(address, bad, 30)


def test_request_layout() -> None:
    address = QueueAddress("https://acct.queue.core.windows.net/q?sv=1&sig=a%2Bb", "2021-02-12")
    put = put_message_request(address, "a&b", visibility_timeout=5, time_to_live=-1)
    assert put.method == "POST"
    assert put.url == "https://acct.queue.core.windows.net/q/messages?visibilitytimeout=5&messagettl=-1&sv=1&sig=a%2Bb"
    assert put.headers["x-ms-version"] == "2021-02-12"
    assert put.content == message_xml("a&b")
    update = update_message_request(address, "id/1", "r+e=", 0)
    assert update.url == "https://acct.queue.core.windows.net/q/messages/id%2F1?popreceipt=r%2Be%3D&visibilitytimeout=0&sv=1&sig=a%2Bb"
    assert not update.content
    plain = QueueAddress("http://127.0.0.1:10001/devstoreaccount1/q", "v")
    assert get_messages_request(plain, 3, 7).url == "http://127.0.0.1:10001/devstoreaccount1/q/messages?numofmessages=3&visibilitytimeout=7"


def test_message_xml_escapes_markup_and_keeps_carriage_returns() -> None:
    body = message_xml("<x>&\r\n").decode()
    assert body.endswith("<QueueMessage><MessageText>&lt;x&gt;&amp;&#13;\n</MessageText></QueueMessage>")


def test_unreadable_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="unreadable XML"):
        parse_get_messages(b"not xml")
    with pytest.raises(ValueError, match="expected <QueueMessagesList>"):
        parse_get_messages(b"<Error><Code>x</Code></Error>")
    with pytest.raises(ValueError, match="no <PopReceipt>"):
        parse_put_message(b"<QueueMessagesList><QueueMessage><MessageId>1</MessageId></QueueMessage></QueueMessagesList>")
    with pytest.raises(ValueError, match="answered with 0 messages"):
        parse_put_message(b"<QueueMessagesList></QueueMessagesList>")
    assert parse_get_messages(b"<QueueMessagesList/>") == []


def test_errors_map_to_the_sdk_classes() -> None:
    body = b"<?xml version='1.0'?><Error><Code>PopReceiptMismatch</Code><Message>The receipt did not match.\nRequestId:1</Message></Error>"
    error = error_for(400, {"x-ms-error-code": "PopReceiptMismatch"}, body, "Delete Message on queue q")
    assert type(error) is HttpResponseError and error.error_code == "PopReceiptMismatch" and error.status_code == 400
    assert str(error) == "Delete Message on queue q: HTTP 400 PopReceiptMismatch: The receipt did not match."
    assert isinstance(error_for(404, {}, b"", "x"), ResourceNotFoundError)
    assert isinstance(error_for(403, {}, b"", "x"), ClientAuthenticationError)
    assert str(error_for(500, {}, b"", "Put Message")) == "Put Message: HTTP 500"
