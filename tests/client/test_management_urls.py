"""The check-status payload links (pure)."""
from __future__ import annotations

import pytest

from azure_durable_ext.client.management_urls import (
    PAYLOAD_KEYS,
    base_url_from_request_url,
    build_management_urls,
    code_from_query_string,
)

BASE = "http://localhost:7071/runtime/webhooks/durabletask"


def test_exact_links_and_key_order_with_code():
    urls = build_management_urls(BASE, "abc123", task_hub="TestHubName", connection="Storage", code="k3y==")
    q = "taskHub=TestHubName&connection=Storage&code=k3y%3D%3D"
    i = f"{BASE}/instances/abc123"
    assert list(urls) == list(PAYLOAD_KEYS)
    assert urls == {
        "id": "abc123",
        "statusQueryGetUri": f"{i}?{q}",
        "sendEventPostUri": f"{i}/raiseEvent/{{eventName}}?{q}",
        "terminatePostUri": f"{i}/terminate?reason={{text}}&{q}",
        "purgeHistoryDeleteUri": f"{i}?{q}",
        "restartPostUri": f"{i}/restart?{q}",
        "suspendPostUri": f"{i}/suspend?reason={{text}}&{q}",
        "resumePostUri": f"{i}/resume?reason={{text}}&{q}",
    }


def test_without_code_and_with_an_id_that_needs_escaping():
    urls = build_management_urls(BASE + "/", "a b:c", task_hub="Hub", connection="Conn")
    assert urls["statusQueryGetUri"] == f"{BASE}/instances/a%20b%3Ac?taskHub=Hub&connection=Conn"
    assert urls["id"] == "a b:c"


def test_base_url_from_request_and_code_from_query():
    assert base_url_from_request_url("https://app.example.net:8443/api/start?x=1") == (
        "https://app.example.net:8443/runtime/webhooks/durabletask"
    )
    assert code_from_query_string("code=abc") == "abc"
    assert code_from_query_string("?taskHub=h&code=xyz&connection=c") == "xyz"
    assert code_from_query_string("code=") is None
    assert code_from_query_string(None) is None
    with pytest.raises(ValueError, match="needs a scheme and a host"):
        base_url_from_request_url("/api/start")
    with pytest.raises(ValueError, match="instance_id"):
        build_management_urls(BASE, "", task_hub="h", connection="c")
