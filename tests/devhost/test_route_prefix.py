"""host.json ``extensions.http.routePrefix``: the dev host serves HTTP triggers under it
("api" by default, "" = at the root); the management API stays where it is."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import aiohttp
import pytest
from devhost_harness import running_dev_host

from azure_durable_ext.config import load_host_config
from azure_durable_ext.core.errors import ConfigurationError

TEST_APP = Path(__file__).parent / "test_app"


def app_with_http_settings(tmp_path: Path, http: dict[str, object] | None) -> Path:
    app_dir = tmp_path / "app"
    shutil.copytree(TEST_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((TEST_APP / "host.json").read_text())
    if http is not None:
        host_json["extensions"]["http"] = http
    (app_dir / "host.json").write_text(json.dumps(host_json))
    return app_dir


@pytest.mark.parametrize(
    ("http", "served", "not_served"),
    [
        (None, "/api/slow/2", "/slow/2"),
        ({"routePrefix": ""}, "/slow/2", "/api/slow/2"),
        ({"routePrefix": "/v1/"}, "/v1/slow/2", "/api/slow/2"),
    ],
)
async def test_http_triggers_are_served_under_the_route_prefix(
    tmp_path: Path, http: dict[str, object] | None, served: str, not_served: str
) -> None:
    async with running_dev_host(app_with_http_settings(tmp_path, http)) as host, aiohttp.ClientSession() as s:
        async with s.get(f"{host.base_url}{served}") as r:
            assert (r.status, await r.text()) == (200, "slept 2")
        async with s.get(f"{host.base_url}{not_served}") as r:
            assert r.status == 404
        # The printed URLs carry the prefix; the management API does not move.
        assert any(line.endswith(f"{host.base_url}{served.rsplit('/', 1)[0]}/{{ms:int}}") for line in host.describe())
        async with s.get(f"{host.base_url}/runtime/webhooks/durabletask/instances/nope") as r:
            assert r.status == 404 and "nope" in (await r.json())["message"]


@pytest.mark.parametrize("prefix", [7, "a?b", "x//y", "{p}"])
def test_a_bad_route_prefix_is_refused_naming_the_key(tmp_path: Path, prefix: object) -> None:
    with pytest.raises(ConfigurationError, match=r"extensions\.http\.routePrefix"):
        load_host_config(app_with_http_settings(tmp_path, {"routePrefix": prefix}))
