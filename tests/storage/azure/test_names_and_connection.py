"""Hub resource names, partition mapping, key escaping and connection-string parsing."""
from __future__ import annotations

import pytest

from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.storage.azure.connection import DEV_ACCOUNT, PROXY_VARIABLES, client_options, parse_connection_string
from azure_durable_ext.storage.azure.names import (
    TaskHubNames,
    escape_partition_key,
    fnv1a_32,
    partition_of,
    unescape_partition_key,
)
from azure_durable_ext.storage.azure.polling import PollingBackoff


@pytest.mark.parametrize(
    ("instance_id", "hash_value", "partition"),
    [("abc", 440920331, 3), ("myinstance", 3228197520, 0), ("@counter@k1", 510912747, 3)],
)
def test_fnv1a_partition_vectors(instance_id: str, hash_value: int, partition: int) -> None:
    assert fnv1a_32(instance_id) == hash_value
    assert partition_of(instance_id, 4) == partition


def test_resource_names() -> None:
    names = TaskHubNames("MyHub", 4)
    assert names.tables == ("MyHubInstances", "MyHubHistory", "MyHubPartitions", "MyHubPoison")
    assert names.control_queues == ("myhub-control-00", "myhub-control-01", "myhub-control-02", "myhub-control-03")
    assert names.work_item_queue == "myhub-workitems"
    assert names.containers == ("myhub-largemessages", "myhub-leases")
    assert names.control_queue_for("abc") == "myhub-control-03"


@pytest.mark.parametrize("hub", ["ab", "1hub", "my-hub", "hub_name", "x" * 46, ""])
def test_bad_hub_names_are_refused_with_the_rule(hub: str) -> None:
    with pytest.raises(ConfigurationError, match="3-45 characters, letters and digits only"):
        TaskHubNames(hub)


def test_partition_count_limits() -> None:
    with pytest.raises(ConfigurationError, match="between 1 and 16"):
        TaskHubNames("MyHub", 17)


def test_partition_key_escaping() -> None:
    assert escape_partition_key("a^b/c\\d#e?f") == "a^^b^0c^1d^2e^3f"
    assert escape_partition_key("x\x01") == "x^" + chr(0xC1)
    for raw in ["a^b/c\\d#e?f", "x\x01\x1f", "plain", "^^^0"]:
        assert unescape_partition_key(escape_partition_key(raw)) == raw


def test_development_storage_expands_to_azurite_endpoints() -> None:
    account = parse_connection_string("UseDevelopmentStorage=true")
    assert account.account_name == DEV_ACCOUNT
    assert account.blob_endpoint == f"http://127.0.0.1:10000/{DEV_ACCOUNT}"
    assert account.queue_endpoint == f"http://127.0.0.1:10001/{DEV_ACCOUNT}"
    assert account.table_endpoint == f"http://127.0.0.1:10002/{DEV_ACCOUNT}"


def test_sdk_clients_trust_the_environment_only_when_it_names_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a proxy, aiohttp's per-request proxy/.netrc lookup is skipped (it finds nothing).
    account = parse_connection_string("UseDevelopmentStorage=true", "AzureWebJobsStorage")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert client_options()["use_env_settings"] is False
    assert account.queue_service()._config.transport._use_env_settings is False  # what aiohttp gets
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert client_options()["use_env_settings"] is True
    assert account.table_service()._client._client._pipeline._transport._use_env_settings is True


def test_account_key_string_builds_default_endpoints() -> None:
    account = parse_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    )
    assert account.table_endpoint == "https://acct.table.core.windows.net"
    assert account.account_key == "a2V5"


def test_sas_string_needs_explicit_endpoints() -> None:
    account = parse_connection_string(
        "BlobEndpoint=https://a.blob.x/;QueueEndpoint=https://a.queue.x;TableEndpoint=https://a.table.x;"
        "SharedAccessSignature=sv=2020&sig=abc"
    )
    assert account.sas_token == "sv=2020&sig=abc" and account.blob_endpoint == "https://a.blob.x"
    with pytest.raises(ConfigurationError, match="MySetting: .*AccountName or BlobEndpoint"):
        parse_connection_string("SharedAccessSignature=sv=1", "MySetting")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing or empty"),
        ("   ", "missing or empty"),
        ("garbage", "not KEY=VALUE"),
        ("AccountName=x", "neither AccountKey nor SharedAccessSignature"),
        ("AccountKey=abc", "AccountKey but no AccountName"),
        ("AccountName=x;AccountKey=a2V5;TableEndpoint=ftp://x", "TableEndpoint must be an http"),
    ],
)
def test_malformed_connection_strings_name_the_setting(value: str | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^AzureWebJobsStorage: .*{message}"):
        parse_connection_string(value, "AzureWebJobsStorage")


async def test_polling_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = PollingBackoff(1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.04 <= delays[0] <= 0.06
    assert delays[-1] <= 1.0 and backoff.current == 1.0
    assert all(b >= a * 1.3 for a, b in zip(delays[:4], delays[1:5]))
    backoff.reset()
    assert backoff.next_delay() <= 0.06


async def test_polling_backoff_wake_interrupts_a_wait() -> None:
    backoff = PollingBackoff(30.0)
    backoff.wake()
    assert await backoff.wait(30.0) is True
    assert await backoff.wait(0.01) is False
