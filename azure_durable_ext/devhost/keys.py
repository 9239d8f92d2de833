"""Function keys of the dev host: who may call what.

Auth levels, as in Azure Functions:

- ``anonymous``: anyone.
- ``function``: the function's own key, the app's ``default`` function key, or the master key.
- ``admin``: the master key only.
- The Durable HTTP management API (``/runtime/webhooks/durabletask/...``) needs the
  ``durabletask_extension`` system key or the master key.

A key travels as the ``code`` query parameter or the ``x-functions-key`` header.

Where keys come from (first found wins, per key):

1. The keys file, ``<app>/.durable-ext/keys.json`` by default (``--keys-file``)::

       {"masterKey": "m",
        "functionKeys": {"default": "d", "HttpStart": "h"},
        "systemKeys": {"durabletask_extension": "s"}}

2. App settings (local.settings.json ``Values`` or the environment):
   ``DURABLE_EXT_MASTER_KEY``, ``DURABLE_EXT_FUNCTION_KEY`` (the default function key),
   ``DURABLE_EXT_SYSTEM_KEY``.

Choice made here: with no key configured at all, auth is disabled and every route is
anonymous, the way Core Tools runs an app locally (it ignores auth levels). As soon as any key
is configured, auth levels are enforced, including on the management API.
"""
from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ConfigurationError, DurableError

KEYS_FILE = Path(".durable-ext") / "keys.json"
MASTER_KEY_SETTING = "DURABLE_EXT_MASTER_KEY"
FUNCTION_KEY_SETTING = "DURABLE_EXT_FUNCTION_KEY"
SYSTEM_KEY_SETTING = "DURABLE_EXT_SYSTEM_KEY"
#: The system key name the Durable extension's webhooks use.
DURABLE_SYSTEM_KEY = "durabletask_extension"
DEFAULT_FUNCTION_KEY = "default"
KEY_HEADER = "x-functions-key"


class UnauthorizedError(DurableError):
    """A request lacks the key its route's auth level needs."""

    grpc_status = "UNAUTHENTICATED"
    http_status = 401


class AuthLevel(enum.Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: object) -> "AuthLevel":
        """``authLevel`` of an httpTrigger binding (any case; missing means function)."""
        if value is None:
            return cls.FUNCTION
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ConfigurationError(
                f"authLevel {value!r} is not one of anonymous, function, admin"
            ) from None


@dataclass(frozen=True, slots=True)
class KeyStore:
    """The keys of one app; ``enabled`` is False when none is configured."""

    master_key: str | None = None
    function_keys: Mapping[str, str] = field(default_factory=dict)
    system_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.master_key or self.function_keys or self.system_keys)

    @property
    def management_key(self) -> str | None:
        """The key the management links carry (the extension's system key, else master)."""
        if not self.enabled:
            return None
        return self.system_keys.get(DURABLE_SYSTEM_KEY) or self.master_key

    def function_key(self, function_name: str) -> str | None:
        """The key a caller of ``function_name`` would use (own key, else default, else master)."""
        own = {k.casefold(): v for k, v in self.function_keys.items()}
        return own.get(function_name.casefold()) or own.get(DEFAULT_FUNCTION_KEY) or self.master_key

    def check_function(self, level: AuthLevel, function_name: str, presented: str | None) -> None:
        """Raise UnauthorizedError unless ``presented`` opens ``function_name`` at ``level``."""
        if not self.enabled or level is AuthLevel.ANONYMOUS:
            return
        allowed = [self.master_key]
        if level is AuthLevel.FUNCTION:
            own = {k.casefold(): v for k, v in self.function_keys.items()}
            allowed += [own.get(function_name.casefold()), own.get(DEFAULT_FUNCTION_KEY)]
        if not _matches(presented, allowed):
            what = "the master key" if level is AuthLevel.ADMIN else "a function key"
            raise UnauthorizedError(f"function {function_name} needs {what} (?code= or {KEY_HEADER} header)")

    def check_management(self, presented: str | None) -> None:
        """The management API needs the durabletask_extension system key or the master key."""
        if not self.enabled:
            return
        if not _matches(presented, [self.master_key, self.system_keys.get(DURABLE_SYSTEM_KEY)]):
            raise UnauthorizedError(
                f"the Durable management API needs the {DURABLE_SYSTEM_KEY} system key or the master key "
                f"(?code= or {KEY_HEADER} header)"
            )


def _matches(presented: str | None, allowed: list[str | None]) -> bool:
    if not presented:
        return False
    # compare_digest on every candidate: no early exit that would time which key matched.
    results = [hmac.compare_digest(presented.encode(), key.encode()) for key in allowed if key]
    return any(results)


def presented_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``code`` query parameter, else the x-functions-key header."""
    return query.get("code") or headers.get(KEY_HEADER) or None


def load_keys(
    app_dir: Path | None, setting: Callable[[str], str | None], keys_file: Path | None = None
) -> KeyStore:
    """Keys from ``keys_file`` (default ``<app_dir>/.durable-ext/keys.json``, optional unless
    given explicitly), completed by the app settings."""
    data: dict[str, object] = {}
    path = keys_file or (app_dir / KEYS_FILE if app_dir is not None else None)
    if path is not None and (keys_file is not None or path.exists()):
        data = _read_keys_file(path)
    function_keys = dict(_string_map(data, "functionKeys", path))
    system_keys = dict(_string_map(data, "systemKeys", path))
    master = data.get("masterKey")
    if master is not None and not isinstance(master, str):
        raise ConfigurationError(f"{path}.masterKey: expected a string")
    master = master or setting(MASTER_KEY_SETTING)
    if DEFAULT_FUNCTION_KEY not in function_keys and setting(FUNCTION_KEY_SETTING):
        function_keys[DEFAULT_FUNCTION_KEY] = setting(FUNCTION_KEY_SETTING) or ""
    if DURABLE_SYSTEM_KEY not in system_keys and setting(SYSTEM_KEY_SETTING):
        system_keys[DURABLE_SYSTEM_KEY] = setting(SYSTEM_KEY_SETTING) or ""
    return KeyStore(master or None, function_keys, system_keys)


def _read_keys_file(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the keys file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a JSON object")
    return data


def _string_map(data: Mapping[str, object], key: str, path: Path | None) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        raise ConfigurationError(f"{path}.{key}: expected an object of non-empty strings")
    return dict(value)
