"""StorageRetry: quick retries after a lost connection, exponential ones when storage is busy."""
from __future__ import annotations

import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.storage.queue.aio import QueueServiceClient

from azure_durable_ext.storage.azure import essential_pipeline as pipelines
from azure_durable_ext.storage.azure.connection import (
    StorageAccount,
    client_options,
    development_connection_string,
    parse_connection_string,
)
from azure_durable_ext.storage.azure.queue_rest import QueueRestChannel
from azure_durable_ext.storage.azure.retry import StorageRetry, retry_after_seconds
from azure_durable_ext.storage.azure.table_batch import submit_operation
from scripted_endpoint import PUT_ANSWER, QUEUE_PUT, TABLE_INSERT, scripted_account



def _settings(*attempts: object) -> dict[str, Any]:
    """Retry settings whose history holds ``attempts``: a header dict for an answer, None for
    a transport error."""
    history = [
        SimpleNamespace(http_response=None if a is None else SimpleNamespace(headers=a)) for a in attempts
    ]
    return {"history": history, "count": len(history)}


def test_a_lost_connection_is_retried_after_a_short_wait() -> None:
    policy = StorageRetry()
    waits = [policy.get_backoff_time(_settings(None)) for _ in range(200)]
    assert all(0.25 <= w <= 0.75 for w in waits) and max(waits) - min(waits) > 0.2, "jittered around 0.5 s"
    assert 0.25 <= policy.get_backoff_time(_settings(None, None)) <= 0.75, "not growing"


def test_busy_answers_are_retried_after_waits_that_double_up_to_the_cap() -> None:
    policy = StorageRetry(status_initial=1.0, status_max=16.0)
    for answers, expected in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 16)):
        waits = [policy.get_backoff_time(_settings(*[{}] * answers)) for _ in range(50)]
        assert all(expected * 0.8 <= w <= expected * 1.2 for w in waits), (answers, waits[:3])
    # Only answers count: a transport error before a busy answer does not double the wait.
    assert 0.8 <= policy.get_backoff_time(_settings(None, {})) <= 1.2


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = StorageRetry(status_max=16.0)
    assert policy.get_backoff_time(_settings({"Retry-After": "3"})) == 3.0
    assert policy.get_backoff_time(_settings({"Retry-After": "0"})) == 0.0
    assert policy.get_backoff_time(_settings({"Retry-After": "3600"})) == 16.0
    assert 0.8 <= policy.get_backoff_time(_settings({"Retry-After": "soon"})) <= 1.2, "unreadable: the doubling"
    assert [retry_after_seconds(v) for v in (None, "", "2.5", "-1", "Fri, 07 Nov 2025 08:00:00 GMT")] == [
        None, None, 2.5, None, None,
    ]


def test_settings_are_checked() -> None:
    for bad in ({"connection_wait": -1.0}, {"jitter": 1.0, "connection_wait": 0.5}, {"status_initial": 0.0},
                {"status_initial": 4.0, "status_max": 2.0}):
        with pytest.raises(ValueError, match="need"):
            StorageRetry(**bad)  # type: ignore[arg-type]


def _service(account: StorageAccount, policy: StorageRetry) -> QueueServiceClient:
    return QueueServiceClient.from_connection_string(
        account.connection_string("queue"), retry_policy=policy, **client_options()
    )


async def test_a_throttled_put_waits_longer_each_time_then_succeeds() -> None:
    """A queue endpoint answering 503 ServerBusy three times: the put through queue_rest (the
    essential pipeline's copy of the policy) comes back after waits that double."""
    arrivals: list[float] = []

    async def put(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) <= 3:
            return web.Response(status=503, headers={"x-ms-error-code": "ServerBusy"})
        return web.Response(status=201, body=PUT_ANSWER, content_type="application/xml")

    policy = StorageRetry(status_initial=0.1, status_max=1.0)
    async with scripted_account(QUEUE_PUT, put) as account, _service(account, policy) as service:
        queue = service.get_queue_client("q")
        sent = await QueueRestChannel(queue).put("x")
        kept = pipelines.essential_pipeline(queue)
    assert (sent.message_id, sent.pop_receipt) == ("m1", "r1")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4)):
        assert expected * 0.8 <= gap <= expected * 1.2 + 0.15, gaps
    assert kept is not None and any(isinstance(getattr(p, "_policy", p), StorageRetry) for p in kept._impl_policies)


async def test_a_put_that_stays_throttled_fails_with_the_status_after_its_retries() -> None:
    attempts = 0

    async def put(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        return web.Response(status=503, headers={"x-ms-error-code": "ServerBusy"})

    policy = StorageRetry(status_initial=0.01, status_max=0.02, retry_status=4)
    async with scripted_account(QUEUE_PUT, put) as account, _service(account, policy) as service:
        with pytest.raises(HttpResponseError) as raised:
            await QueueRestChannel(service.get_queue_client("q")).put("x")
    assert raised.value.status_code == 503 and raised.value.error_code == "ServerBusy"
    assert attempts == 5, "the first attempt and 4 retries"


async def test_a_refused_connection_fails_fast_after_two_quick_retries() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.monotonic()
    account = parse_connection_string(development_connection_string(ports={"blob": port, "queue": port, "table": port}))
    async with _service(account, StorageRetry()) as service:
        with pytest.raises(ServiceRequestError):
            await QueueRestChannel(service.get_queue_client("q")).put("x")
    assert time.monotonic() - began < 3.0, "two retries of 0.25-0.75 s, not the busy schedule"


def test_the_accounts_queue_and_blob_clients_use_it() -> None:
    account = parse_connection_string(development_connection_string())
    assert isinstance(account.queue_service()._config.retry_policy, StorageRetry)
    assert isinstance(account.blob_service()._config.retry_policy, StorageRetry)


async def test_a_throttled_table_insert_is_retried_with_growing_waits() -> None:
    """The table client (azure-core's policy with CLIENT_OPTIONS): an insert answered 503
    ServerBusy twice comes back at once, then after about a second, then succeeds."""
    arrivals: list[float] = []

    async def insert(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) <= 2:
            return web.json_response(
                {"odata.error": {"code": "ServerBusy", "message": {"value": "busy"}}}, status=503,
                headers={"x-ms-error-code": "ServerBusy"},
            )
        return web.Response(status=204, headers={"ETag": "W/\"datetime'2026-11-29T00%3A00%3A00Z'\""})

    async with scripted_account(TABLE_INSERT, insert) as account, account.table_service() as service:
        meta = await submit_operation(service.get_table_client("t"), ("create", {"PartitionKey": "p", "RowKey": "r"}))
    assert meta["etag"].startswith("W/")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(gaps) == 2 and gaps[0] < 0.5 and 0.8 <= gaps[1] <= 2.0, gaps
