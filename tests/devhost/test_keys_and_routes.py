"""Key loading and checks, route template matching (pure, no servers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_durable_ext.core.errors import ConfigurationError
from azure_durable_ext.devhost.keys import AuthLevel, KeyStore, UnauthorizedError, load_keys
from azure_durable_ext.devhost.routes import compile_template


def test_no_keys_means_auth_disabled(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, lambda name: None)
    assert not keys.enabled and keys.management_key is None
    keys.check_function(AuthLevel.ADMIN, "f", None)
    keys.check_management(None)


def test_keys_file_and_settings(tmp_path: Path) -> None:
    (tmp_path / ".durable-ext").mkdir()
    (tmp_path / ".durable-ext" / "keys.json").write_text(json.dumps({"functionKeys": {"F": "fk"}}))
    settings = {"DURABLE_EXT_MASTER_KEY": "mk", "DURABLE_EXT_SYSTEM_KEY": "sk"}
    keys = load_keys(tmp_path, settings.get)
    assert keys.enabled and keys.management_key == "sk"
    keys.check_function(AuthLevel.FUNCTION, "f", "fk")  # function names match case-insensitively
    keys.check_function(AuthLevel.FUNCTION, "f", "mk")
    with pytest.raises(UnauthorizedError):
        keys.check_function(AuthLevel.FUNCTION, "other", "fk")
    with pytest.raises(UnauthorizedError):
        keys.check_function(AuthLevel.ADMIN, "f", "fk")
    with pytest.raises(UnauthorizedError):
        keys.check_management("fk")
    keys.check_management("sk")
    assert KeyStore(master_key="only").management_key == "only"


@pytest.mark.parametrize("content, where", [("{nope", "not valid JSON"), ("[]", "top level"),
                                            ('{"functionKeys": {"a": 1}}', "functionKeys"),
                                            ('{"masterKey": 5}', "masterKey")])
def test_bad_keys_file_names_the_problem(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=where) as info:
        load_keys(tmp_path, lambda name: None, path)
    assert str(path) in str(info.value)


def test_missing_explicit_keys_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_keys(tmp_path, lambda name: None, tmp_path / "absent.json")


@pytest.mark.parametrize("template, path, params", [
    ("orchestrators/{name}", "orchestrators/Hello", {"name": "Hello"}),
    ("orchestrators/{name}", "ORCHESTRATORS/Hello", {"name": "Hello"}),
    ("orchestrators/{name}", "orchestrators/a/b", None),
    ("items/{id?}", "items", {}),
    ("items/{id?}", "items/4", {"id": "4"}),
    ("n/{n:int}", "n/-12", {"n": "-12"}),
    ("n/{n:int}", "n/x", None),
    ("files/{*path}", "files/a/b/c.txt", {"path": "a/b/c.txt"}),
])
def test_route_templates(template: str, path: str, params: dict[str, str] | None) -> None:
    m = compile_template(template).match(path)
    if params is None:
        assert m is None
    else:
        assert m is not None and {k: v for k, v in m.groupdict().items() if v is not None} == params


def test_unknown_route_constraint_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown constraint 'color'"):
        compile_template("paint/{c:color}")
