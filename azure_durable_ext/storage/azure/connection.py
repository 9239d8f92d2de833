"""Azure Storage connection strings -> async SDK clients, with clear errors.

Accepted forms: ``UseDevelopmentStorage=true`` (Azurite on 127.0.0.1:10000-10002), account
name + key (optionally with explicit endpoints or an endpoint suffix), and SAS strings with
explicit endpoints. A malformed string raises ConfigurationError naming the setting.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from ...core.errors import ConfigurationError
from .http_transport import IdleLimitedTransport
from .retry import StorageRetry

DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
_SERVICES = ("blob", "queue", "table")
# Short timeouts and few retries without an answer: a wrong endpoint must fail in seconds,
# not hang. Answers asking to back off (503 ServerBusy, 500, 408) get up to 5 retries: the
# table client (azure-core's policy, which these keys configure) retries at once, then after
# 1, 2, 4 and 8 s, or after the answer's Retry-After; see retry.py for queues and blobs.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 5,
    "read_timeout": 60,
    "retry_total": 5,
    "retry_connect": 2,
    "retry_read": 2,
    "retry_status": 5,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 16,
}
#: The blob and queue SDKs ignore ``retry_backoff_*`` (the table SDK uses them) and wait
#: 15 + 3^n s before retry n by default; their clients get ``retry.StorageRetry`` instead
#: (0.25-0.75 s after a lost connection, exponential from 1 s after 503/500 answers).
#: How long a queue receive waits for an answer (per attempt; the client's read timeout,
#: 60 s, stays for long operations such as large blobs). Get Messages answers at once,
#: messages or none; over a connection whose other end is gone without a word, a receive
#: would otherwise hang a minute per attempt and its poller with it. Not shorter: a receive
#: cut off after storage handed out messages leaves them hidden for the visibility timeout.
RECEIVE_READ_TIMEOUT = 5.0
#: With the environment trusted, aiohttp looks up proxy variables and ~/.netrc for every
#: request (a file read in a worker thread: about 1 ms of CPU per start here). Without a
#: proxy configured there is nothing to find, so the clients skip the lookup.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


#: Transport options of CLIENT_OPTIONS (a client given its own transport passes them there).
_TRANSPORT_OPTIONS = ("connection_timeout", "read_timeout")


def client_options(*, emulator: bool = False) -> dict[str, Any]:
    """SDK client options: CLIENT_OPTIONS, trusting the environment only when it names a
    proxy; for a storage emulator (Azurite), an ``IdleLimitedTransport``."""
    options = {**CLIENT_OPTIONS, "use_env_settings": any(os.environ.get(v) for v in PROXY_VARIABLES)}
    if emulator:
        options["transport"] = IdleLimitedTransport(
            use_env_settings=options["use_env_settings"], **{k: CLIENT_OPTIONS[k] for k in _TRANSPORT_OPTIONS}
        )
    return options


def is_local_endpoint(endpoint: str) -> bool:
    """Whether ``endpoint`` (a URL) names a loopback host."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, not an address
        return False


@dataclass(frozen=True, slots=True)
class StorageAccount:
    """A parsed connection: the three service endpoints and the credential."""

    setting_name: str
    account_name: str
    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str
    account_key: str | None = None
    sas_token: str | None = None

    def connection_string(self, service: str) -> str:
        parts = []
        if self.account_key is not None:
            parts += [f"AccountName={self.account_name}", f"AccountKey={self.account_key}"]
        else:
            parts.append(f"SharedAccessSignature={self.sas_token}")
        endpoint = getattr(self, f"{service}_endpoint")
        parts.append(f"{service.capitalize()}Endpoint={endpoint}")
        return ";".join(parts)

    @property
    def is_emulator(self) -> bool:
        """A storage emulator: the emulator's well-known account (Azurite in a container,
        say) or every endpoint on this machine."""
        endpoints = (self.blob_endpoint, self.queue_endpoint, self.table_endpoint)
        return self.account_name == DEV_ACCOUNT or all(is_local_endpoint(e) for e in endpoints)

    def table_service(self) -> TableServiceClient:
        return TableServiceClient.from_connection_string(
            self.connection_string("table"), **client_options(emulator=self.is_emulator)
        )

    def queue_service(self) -> QueueServiceClient:
        return QueueServiceClient.from_connection_string(
            self.connection_string("queue"), retry_policy=StorageRetry(), **client_options(emulator=self.is_emulator)
        )

    def blob_service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(
            self.connection_string("blob"), retry_policy=StorageRetry(), **client_options(emulator=self.is_emulator)
        )


def development_connection_string(host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> str:
    """The explicit connection string of an Azurite on ``host`` (standard ports by default)."""
    p = ports or DEV_PORTS
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{p['blob']}/{DEV_ACCOUNT};"
        f"QueueEndpoint=http://{host}:{p['queue']}/{DEV_ACCOUNT};"
        f"TableEndpoint=http://{host}:{p['table']}/{DEV_ACCOUNT};"
    )


def is_development_storage(connection_string: str | None) -> bool:
    if not connection_string:
        return False
    try:
        values = _split(connection_string, "connection")
    except ConfigurationError:
        return False
    return values.get("usedevelopmentstorage", "").lower() == "true"


def _split(connection_string: str, setting_name: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in connection_string.strip().split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(
                f"{setting_name}: malformed storage connection string: segment {part.strip()[:40]!r} "
                "is not KEY=VALUE"
            )
        values[key.strip().lower()] = value.strip()
    if not values:
        raise ConfigurationError(f"{setting_name}: the storage connection string is empty")
    return values


def parse_connection_string(connection_string: str | None, setting_name: str = "AzureWebJobsStorage") -> StorageAccount:
    """Parse ``connection_string``; ConfigurationError naming ``setting_name`` when unusable."""
    if connection_string is None or not connection_string.strip():
        raise ConfigurationError(
            f"{setting_name}: the storage connection setting is missing or empty "
            "(set it in local.settings.json Values or the environment, e.g. UseDevelopmentStorage=true)"
        )
    values = _split(connection_string, setting_name)
    if values.get("usedevelopmentstorage", "").lower() == "true":
        values = _split(development_connection_string(), setting_name)
    name = values.get("accountname", "")
    key = values.get("accountkey")
    sas = values.get("sharedaccesssignature")
    if key is None and sas is None:
        raise ConfigurationError(
            f"{setting_name}: the storage connection string has neither AccountKey nor "
            "SharedAccessSignature (nor UseDevelopmentStorage=true)"
        )
    if key is not None and not name:
        raise ConfigurationError(f"{setting_name}: the storage connection string has an AccountKey but no AccountName")
    protocol = values.get("defaultendpointsprotocol", "https")
    suffix = values.get("endpointsuffix", "core.windows.net")
    endpoints: dict[str, str] = {}
    for service in _SERVICES:
        explicit = values.get(f"{service}endpoint")
        if explicit:
            if not explicit.startswith(("http://", "https://")):
                raise ConfigurationError(
                    f"{setting_name}: {service.capitalize()}Endpoint must be an http(s) URL, got {explicit!r}"
                )
            endpoints[service] = explicit.rstrip("/")
        elif name:
            endpoints[service] = f"{protocol}://{name}.{service}.{suffix}"
        else:
            raise ConfigurationError(
                f"{setting_name}: the storage connection string needs AccountName or {service.capitalize()}Endpoint"
            )
    return StorageAccount(
        setting_name=setting_name,
        account_name=name,
        blob_endpoint=endpoints["blob"],
        queue_endpoint=endpoints["queue"],
        table_endpoint=endpoints["table"],
        account_key=key,
        sas_token=sas,
    )
