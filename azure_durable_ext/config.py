"""The one place configuration is read: host.json, local.settings.json and the environment.

Every malformed value raises ConfigurationError naming the file and the key.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from .core.errors import ConfigurationError
from .core.options import AzureStorageOptions, DurableTaskOptions, HttpOptions, OverridableStates, PartitionLeaseOptions
from .core.versions import VersionFailureStrategy, VersionMatchStrategy, validate_version

E = TypeVar("E")

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")
# Task hub names: Azure table names allow only letters and digits, start with a letter,
# and the longest derived name ("{hub}Instances") must fit in 63 characters.
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")


def validate_hub_name(name: str, where: str = "hubName") -> str:
    """Return ``name`` if it is a valid task hub name, else raise naming the rule."""
    if not isinstance(name, str) or not _HUB_NAME.match(name):
        raise ConfigurationError(
            f"{where}: invalid task hub name {name!r}: it must be 3-45 characters, letters and "
            "digits only, starting with a letter"
        )
    return name


def parse_timespan(value: object, where: str) -> float:
    """A .NET TimeSpan string ("00:05:00", "1.02:03:04.5") or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        m = _TIMESPAN.match(value.strip())
        if m:
            days, h, mi, s, frac = m.groups()
            return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + int(s) + float(f"0.{frac or 0}")
    raise ConfigurationError(f"{where}: expected a TimeSpan like '00:05:00', got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    """Everything the host side needs, resolved."""

    app_dir: Path | None = None
    durable: DurableTaskOptions = field(default_factory=DurableTaskOptions)
    settings: Mapping[str, str] = field(default_factory=dict)
    http: HttpOptions = field(default_factory=HttpOptions)

    def setting(self, name: str) -> str | None:
        """An app setting: the environment wins over local.settings.json Values."""
        return os.environ.get(name, self.settings.get(name))

    @property
    def storage_connection_string(self) -> str | None:
        return self.setting(self.durable.storage.connection_name)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a JSON object")
    return data


class _Section:
    """Typed, case-insensitive reads from one JSON object, naming file + key on errors."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = {k.lower(): (k, v) for k, v in data.items()}
        self.where = where

    def _raw(self, key: str) -> tuple[str, Any] | None:
        return self._data.get(key.lower())

    def _err(self, key: str, msg: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}.{key}: {msg}")

    def get(self, key: str, kind: type, default: Any) -> Any:
        raw = self._raw(key)
        if raw is None or raw[1] is None:
            return default
        value = raw[1]
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                    return int(value)
                raise self._err(key, f"expected an integer, got {value!r}")
            return value
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self._err(key, f"expected true or false, got {value!r}")
        if kind is str:
            if not isinstance(value, str):
                raise self._err(key, f"expected a string, got {value!r}")
            return value
        raise AssertionError(kind)

    def enum(self, key: str, enum_type: type[E], default: E) -> E:
        raw = self._raw(key)
        if raw is None or raw[1] is None:
            return default
        by_name: dict[str, E] = {m.value.lower(): m for m in enum_type}  # type: ignore[attr-defined]
        value = raw[1]
        if isinstance(value, str) and value.lower() in by_name:
            return by_name[value.lower()]
        allowed = ", ".join(m.value for m in enum_type)  # type: ignore[attr-defined]
        raise self._err(key, f"expected one of {allowed}, got {value!r}")

    def timespan(self, key: str, default: float) -> float:
        raw = self._raw(key)
        if raw is None or raw[1] is None:
            return default
        return parse_timespan(raw[1], f"{self.where}.{key}")

    def section(self, key: str) -> "_Section":
        raw = self._raw(key)
        if raw is None or raw[1] is None:
            return _Section({}, f"{self.where}.{key}")
        if not isinstance(raw[1], dict):
            raise self._err(key, "expected a JSON object")
        return _Section(raw[1], f"{self.where}.{raw[0]}")


def _checked(where: str, build: Callable[[], E]) -> E:
    try:
        return build()
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def parse_durable_options(
    host_json: Mapping[str, Any], where: str = "host.json", app_settings: Mapping[str, str] | None = None
) -> DurableTaskOptions:
    """extensions.durableTask of an already-parsed host.json; ``hubName`` may name an app
    setting as ``%Name%`` (looked up in ``app_settings``, default: the environment)."""
    dt = _Section(host_json, where).section("extensions").section("durableTask")
    sp = dt.section("storageProvider")
    d = DurableTaskOptions()
    s = AzureStorageOptions()
    storage = _checked(
        sp.where,
        lambda: AzureStorageOptions(
            connection_name=sp.get("connectionName", str, None)
            or sp.get("connectionStringName", str, s.connection_name),
            partition_count=sp.get("partitionCount", int, s.partition_count),
            control_queue_batch_size=sp.get("controlQueueBatchSize", int, s.control_queue_batch_size),
            control_queue_buffer_threshold=sp.get(
                "controlQueueBufferThreshold", int, s.control_queue_buffer_threshold
            ),
            control_queue_visibility_timeout=sp.timespan(
                "controlQueueVisibilityTimeout", s.control_queue_visibility_timeout
            ),
            work_item_queue_visibility_timeout=sp.timespan(
                "workItemQueueVisibilityTimeout", s.work_item_queue_visibility_timeout
            ),
            max_queue_polling_interval=sp.timespan("maxQueuePollingInterval", s.max_queue_polling_interval),
            use_table_partition_management=sp.get(
                "useTablePartitionManagement", bool, s.use_table_partition_management
            ),
            poison_message_dequeue_count=sp.get(
                "poisonMessageDequeueCount", int, s.poison_message_dequeue_count
            ),
            partition_leases=_partition_leases(sp.section("partitionLeases")),
        ),
    )
    hub = resolve_setting_reference(
        dt.get("hubName", str, d.hub_name), os.environ if app_settings is None else app_settings, f"{dt.where}.hubName"
    )
    validate_hub_name(hub, f"{dt.where}.hubName")
    default_version = dt.get("defaultVersion", str, None)
    try:
        default_version = validate_version(default_version)
    except ValueError as exc:
        raise ConfigurationError(f"{dt.where}.defaultVersion: {exc}") from exc
    options = DurableTaskOptions(
        hub_name=hub,
        default_version=default_version,
        version_match_strategy=dt.enum("versionMatchStrategy", VersionMatchStrategy, d.version_match_strategy),
        version_failure_strategy=dt.enum(
            "versionFailureStrategy", VersionFailureStrategy, d.version_failure_strategy
        ),
        max_concurrent_activity_functions=dt.get(
            "maxConcurrentActivityFunctions", int, d.max_concurrent_activity_functions
        ),
        max_concurrent_orchestrator_functions=dt.get(
            "maxConcurrentOrchestratorFunctions", int, d.max_concurrent_orchestrator_functions
        ),
        extended_sessions_enabled=dt.get("extendedSessionsEnabled", bool, d.extended_sessions_enabled),
        extended_session_idle_timeout_in_seconds=dt.get(
            "extendedSessionIdleTimeoutInSeconds", int, d.extended_session_idle_timeout_in_seconds
        ),
        max_orchestration_actions=dt.get("maxOrchestrationActions", int, d.max_orchestration_actions),
        overridable_existing_instance_states=dt.enum(
            "overridableExistingInstanceStates", OverridableStates, d.overridable_existing_instance_states
        ),
        max_grpc_message_size_in_bytes=dt.get(
            "maxGrpcMessageSizeInBytes", int, d.max_grpc_message_size_in_bytes
        ),
        storage=storage,
    )
    for f in ("max_concurrent_activity_functions", "max_concurrent_orchestrator_functions",
              "max_orchestration_actions", "max_grpc_message_size_in_bytes",
              "extended_session_idle_timeout_in_seconds"):
        if getattr(options, f) < 1:
            key = "".join(p.capitalize() if i else p for i, p in enumerate(f.split("_")))
            raise ConfigurationError(f"{dt.where}.{key}: must be a positive integer")
    return options


def _partition_leases(section: _Section) -> PartitionLeaseOptions:
    """storageProvider.partitionLeases (this package's own keys, TimeSpans or seconds)."""
    d = PartitionLeaseOptions()
    return _checked(
        section.where,
        lambda: PartitionLeaseOptions(
            acquire_interval=section.timespan("acquireInterval", d.acquire_interval),
            renew_interval=section.timespan("renewInterval", d.renew_interval),
            lease_interval=section.timespan("leaseInterval", d.lease_interval),
            claim_interval=section.timespan("claimInterval", d.claim_interval),
            busy_interval=section.timespan("busyInterval", d.busy_interval),
            operation_timeout=section.timespan("operationTimeout", d.operation_timeout),
            drain_timeout=section.timespan("drainTimeout", d.drain_timeout),
        ),
    )


def parse_http_options(host_json: Mapping[str, Any], where: str = "host.json") -> HttpOptions:
    """extensions.http of an already-parsed host.json (routePrefix: surrounding slashes are
    dropped; "" means no prefix)."""
    section = _Section(host_json, where).section("extensions").section("http")
    prefix = section.get("routePrefix", str, HttpOptions().route_prefix).strip().strip("/")
    if any(c in prefix for c in "?#{}\\") or "//" in prefix:
        raise ConfigurationError(f"{section.where}.routePrefix: {prefix!r} is not a plain URL path")
    return HttpOptions(route_prefix=prefix)


def load_host_config(
    app_dir: str | Path | None = None,
    *,
    host_json: str | Path | None = None,
    hub_name: str | None = None,
) -> HostConfig:
    """Read ``host.json`` and ``local.settings.json`` from ``app_dir`` (both optional).

    ``host_json`` names a host.json elsewhere; ``hub_name`` overrides hubName.
    """
    base = Path(app_dir) if app_dir is not None else None
    host_path = Path(host_json) if host_json is not None else (base / "host.json" if base else None)
    settings: dict[str, str] = {}
    if base is not None and (base / "local.settings.json").exists():
        path = base / "local.settings.json"
        values = _read_json(path).get("Values", {})
        if not isinstance(values, dict):
            raise ConfigurationError(f"{path}.Values: expected a JSON object")
        for k, v in values.items():
            if not isinstance(v, (str, int, float, bool)):
                raise ConfigurationError(f"{path}.Values.{k}: expected a string, got {v!r}")
            settings[k] = v if isinstance(v, str) else json.dumps(v)
    app_settings = {**settings, **os.environ}  # the environment wins, as for every app setting
    host_data: dict[str, Any] = {}
    where = "host.json"
    if host_path is not None and (host_json is not None or host_path.exists()):
        host_data = _read_json(host_path)
        where = str(host_path)
    host_data = apply_host_overrides(host_data, app_settings)
    durable = parse_durable_options(host_data, where, app_settings)
    http = parse_http_options(host_data, where)
    if hub_name is not None:
        validate_hub_name(hub_name, "--hub")
        durable = _replace(durable, hub_name=hub_name)
    return HostConfig(app_dir=base, durable=durable, settings=settings, http=http)


#: App settings named ``AzureFunctionsJobHost__<path>`` override host.json values, as in the
#: Functions host (``__`` separates the keys: ``AzureFunctionsJobHost__extensions__durableTask__hubName``).
HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def apply_host_overrides(host_data: Mapping[str, Any], app_settings: Mapping[str, str]) -> dict[str, Any]:
    """``host_data`` with every ``AzureFunctionsJobHost__...`` app setting applied (keys
    matched case-insensitively, missing sections created; values stay strings, which the
    typed reads accept). A copy: the parsed file is left as it was."""
    result: dict[str, Any] = json.loads(json.dumps(host_data))
    for name, value in sorted(app_settings.items()):
        if not name.lower().startswith(HOST_OVERRIDE_PREFIX.lower()):
            continue
        path = name[len(HOST_OVERRIDE_PREFIX):].split("__")
        if not all(path):
            raise ConfigurationError(f"app setting {name}: empty key in the host.json path")
        node = result
        for key in path[:-1]:
            existing = next((k for k in node if k.lower() == key.lower()), key)
            child = node.get(existing)
            if not isinstance(child, dict):
                if child is not None:
                    raise ConfigurationError(
                        f"app setting {name}: host.json {existing!r} is a value, not a section"
                    )
                child = node[existing] = {}
            node = child
        leaf = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
        node[leaf] = value
    return result


_SETTING_REFERENCE = re.compile(r"^%([^%]+)%$")


def resolve_setting_reference(value: str, app_settings: Mapping[str, str], where: str) -> str:
    """``%Name%`` means the app setting Name (as Durable Functions reads hubName); other
    values are returned as they are."""
    m = _SETTING_REFERENCE.match(value.strip())
    if m is None:
        return value
    name = m.group(1)
    resolved = app_settings.get(name)
    if resolved is None or resolved == "":
        raise ConfigurationError(f"{where}: app setting {name!r} (from {value!r}) is not set")
    return resolved


def _replace(options: DurableTaskOptions, **changes: Any) -> DurableTaskOptions:
    values = {f.name: getattr(options, f.name) for f in fields(options)}
    values.update(changes)
    return DurableTaskOptions(**values)
