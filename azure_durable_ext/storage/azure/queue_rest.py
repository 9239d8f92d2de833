"""Queue service message operations (Put, Get, Update, Delete Message) encoded and decoded
here, sent through the queue client's own transport and policies.

The SDK's QueueClient builds each request through its generated serializer and reads every
answer into models (XML through its deserializer): about a third of a queue send's client
CPU, and the queue calls are most of what a start and a checkpoint cost the host. The
requests are small and fixed, so they are written and read directly (sans-IO: the functions
below build ``HttpRequest`` objects and parse bytes); ``QueueRestChannel`` sends them through
the client's transport and essential policies (``essential_pipeline``), so signing
(SharedKey or SAS), retries, timeouts and the user agent stay the SDK's. Failures raise the
exceptions the SDK raises for the same status (with ``error_code`` from
``x-ms-error-code``), so callers handle both alike.

REST reference: "Put Message", "Get Messages", "Update Message", "Delete Message" (Azure
Queue Storage REST API).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import HttpResponseError
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.storage.queue.aio import QueueClient

from .essential_pipeline import send_whole
from .rest_errors import status_error

#: Get Messages hands out at most this many messages per call.
MAX_MESSAGES_PER_GET = 32
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
_ERROR_MESSAGE = re.compile(rb"<Message>(.*?)</Message>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PutReceipt:
    """What Put Message answers: the new message's id and the receipt that locks it."""

    message_id: str
    pop_receipt: str


@dataclass(frozen=True, slots=True)
class QueueMessageItem:
    """One message handed out by Get Messages."""

    message_id: str
    pop_receipt: str
    dequeue_count: int
    text: str


class QueueAddress:
    """The URLs of one queue's messages, with the SAS token (if any) kept on every request."""

    def __init__(self, queue_url: str, api_version: str) -> None:
        base, _, sas = queue_url.partition("?")
        self.messages_url = base.rstrip("/") + "/messages"
        self.sas = sas
        self.api_version = api_version

    def url(self, params: dict[str, Any], message_id: str | None = None) -> str:
        path = self.messages_url if message_id is None else f"{self.messages_url}/{quote(message_id, safe='')}"
        query = "&".join(f"{key}={quote(str(value), safe='')}" for key, value in params.items())
        if self.sas:
            query = f"{query}&{self.sas}" if query else self.sas
        return f"{path}?{query}" if query else path

    def headers(self, *, body: bool = False) -> dict[str, str]:
        headers = {"x-ms-version": self.api_version, "Accept": "application/xml"}
        if body:
            headers["Content-Type"] = "application/xml; charset=utf-8"
        return headers


# -- requests ------------------------------------------------------------------------------------
def message_xml(text: str) -> bytes:
    """The ``QueueMessage`` body carrying ``text`` (XML-escaped; a carriage return is written
    as a character reference, which XML parsers would otherwise turn into a line feed)."""
    return f"{_XML_DECLARATION}<QueueMessage><MessageText>{text.translate(_XML_ESCAPES)}</MessageText></QueueMessage>".encode()


def put_message_request(address: QueueAddress, text: str, *, visibility_timeout: int = 0, time_to_live: int | None = None) -> HttpRequest:
    """Put Message: ``text`` hidden for ``visibility_timeout`` seconds, kept ``time_to_live``
    seconds (-1: never expires; None: the service's 7 days)."""
    params: dict[str, Any] = {}
    if visibility_timeout:
        params["visibilitytimeout"] = int(visibility_timeout)
    if time_to_live is not None:
        params["messagettl"] = int(time_to_live)
    return HttpRequest("POST", address.url(params), headers=address.headers(body=True), content=message_xml(text))


def get_messages_request(address: QueueAddress, count: int, visibility_timeout: int) -> HttpRequest:
    """Get Messages: up to ``count`` (1-32) messages, hidden ``visibility_timeout`` seconds."""
    if not 1 <= count <= MAX_MESSAGES_PER_GET:
        raise ValueError(f"Get Messages takes 1 to {MAX_MESSAGES_PER_GET} messages, not {count}")
    params = {"numofmessages": count, "visibilitytimeout": int(visibility_timeout)}
    return HttpRequest("GET", address.url(params), headers=address.headers())


def update_message_request(
    address: QueueAddress, message_id: str, pop_receipt: str, visibility_timeout: int, text: str | None = None
) -> HttpRequest:
    """Update Message: hidden ``visibility_timeout`` seconds from now; the text replaced
    unless ``text`` is None."""
    params = {"popreceipt": pop_receipt, "visibilitytimeout": int(visibility_timeout)}
    body = None if text is None else message_xml(text)
    return HttpRequest("PUT", address.url(params, message_id), headers=address.headers(body=body is not None), content=body)


def delete_message_request(address: QueueAddress, message_id: str, pop_receipt: str) -> HttpRequest:
    return HttpRequest("DELETE", address.url({"popreceipt": pop_receipt}, message_id), headers=address.headers())


# -- answers -------------------------------------------------------------------------------------
def _messages(body: bytes) -> list[ElementTree.Element]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ValueError(f"the queue service answered with unreadable XML: {exc}") from exc
    if root.tag != "QueueMessagesList":
        raise ValueError(f"the queue service answered with <{root.tag}>, expected <QueueMessagesList>")
    return root.findall("QueueMessage")


def _field(element: ElementTree.Element, name: str) -> str:
    value = element.findtext(name)
    if value is None:
        raise ValueError(f"a queue message in the service's answer has no <{name}>")
    return value


def parse_put_message(body: bytes) -> PutReceipt:
    messages = _messages(body)
    if len(messages) != 1:
        raise ValueError(f"Put Message answered with {len(messages)} messages, expected 1")
    return PutReceipt(_field(messages[0], "MessageId"), _field(messages[0], "PopReceipt"))


def parse_get_messages(body: bytes) -> list[QueueMessageItem]:
    return [
        QueueMessageItem(
            _field(m, "MessageId"), _field(m, "PopReceipt"), int(_field(m, "DequeueCount")), m.findtext("MessageText") or ""
        )
        for m in _messages(body)
    ]


def error_for(status: int, headers: Any, body: bytes, what: str) -> HttpResponseError:
    """The exception the SDK raises for this answer (``rest_errors.status_error``), with the
    first line of the service's XML message."""
    match = _ERROR_MESSAGE.search(body or b"")
    detail = match.group(1).decode("utf-8", "replace").splitlines()[0] if match else ""
    return status_error(status, headers.get("x-ms-error-code"), detail, what)


# -- sending -------------------------------------------------------------------------------------
class QueueRestChannel:
    """Sends this module's requests for one queue through the client's transport, signing
    and retries (``essential_pipeline.send_whole``)."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client
        self.address = QueueAddress(client.url, client.api_version)
        self.name = client.queue_name

    async def _send(self, request: HttpRequest, expected: int, what: str, **options: Any) -> AsyncHttpResponse:
        response = await send_whole(self._client, request, **options)
        if response.status_code != expected:
            raise error_for(response.status_code, response.headers, response.content, f"{what} on queue {self.name}")
        return response

    async def put(self, text: str, *, visibility_timeout: int = 0, time_to_live: int | None = None) -> PutReceipt:
        request = put_message_request(self.address, text, visibility_timeout=visibility_timeout, time_to_live=time_to_live)
        response = await self._send(request, 201, "Put Message")
        return parse_put_message(response.content)

    async def get(self, count: int, visibility_timeout: int, *, read_timeout: float | None = None) -> list[QueueMessageItem]:
        options = {} if read_timeout is None else {"read_timeout": read_timeout}
        response = await self._send(get_messages_request(self.address, count, visibility_timeout), 200, "Get Messages", **options)
        return parse_get_messages(response.content)

    async def update(self, message_id: str, pop_receipt: str, visibility_timeout: int, text: str | None = None) -> str:
        """Returns the new pop receipt."""
        request = update_message_request(self.address, message_id, pop_receipt, visibility_timeout, text)
        response = await self._send(request, 204, "Update Message")
        receipt = response.headers.get("x-ms-popreceipt")
        if not receipt:
            raise ValueError(f"Update Message on queue {self.name} answered without a pop receipt")
        return str(receipt)

    async def delete(self, message_id: str, pop_receipt: str) -> None:
        await self._send(delete_message_request(self.address, message_id, pop_receipt), 204, "Delete Message")
