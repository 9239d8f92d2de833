"""An HTTP transport for the Azure SDK clients that loses what a test tells it to: a request
that reaches Azurite (and is applied there) but whose reply never arrives, or one that never
leaves. Storage offers no other way to cause these faults on purpose; everything else is real."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables.aio import TableClient

from azure_durable_ext.storage.azure.connection import client_options
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService

#: What happens to a request: sent and answered, sent and its reply lost, or never sent.
DELIVER, LOSE_REPLY, NOT_SENT = "deliver", "lose-reply", "not-sent"


class LossyTransport(AioHttpTransport):
    """aiohttp transport with a fate per request kind ("write" = anything but GET, "read")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fate = {"write": DELIVER, "read": DELIVER}
        self.seen = {LOSE_REPLY: 0, NOT_SENT: 0}
        #: Runs once, just before the next fault (what else happens meanwhile).
        self.before_fault: Callable[[], Awaitable[None]] | None = None

    async def send(self, request: Any, **config: Any) -> Any:  # type: ignore[override]
        fate = self.fate["read" if request.method.upper() == "GET" else "write"]
        if fate != DELIVER and self.before_fault is not None:
            meanwhile, self.before_fault = self.before_fault, None
            await meanwhile()
        if fate == NOT_SENT:
            self.seen[NOT_SENT] += 1
            raise ServiceRequestError(f"test: {request.method} {request.url} could not be sent")
        response = await super().send(request, **config)
        if fate == LOSE_REPLY:
            self.seen[LOSE_REPLY] += 1
            raise ServiceResponseError(f"test: the reply to {request.method} {request.url} was lost")
        return response


def lossy_instances_table(service: AzureStorageOrchestrationService) -> tuple[LossyTransport, TableClient]:
    """Give ``service`` an Instances table client over a LossyTransport (same retry options as
    the provider's own clients); returns the transport to steer and the client to close."""
    account = service._hub.resources.account
    transport = LossyTransport()
    client = TableClient.from_connection_string(
        account.connection_string("table"), service.names.instances_table, transport=transport, **client_options()
    )
    service._hub.tracking._instances = client
    return transport, client
