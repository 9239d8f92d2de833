"""The sample app as a user runs it: POST /api/orchestrators/HelloOrchestration through the
dev host, poll statusQueryGetUri until Completed; both versions side by side."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import aiohttp
import pytest
from devhost_harness import SAMPLE_APP, running_dev_host, wait_until_done

from azure_durable_ext.client.management_urls import PAYLOAD_KEYS
from azure_durable_ext.config import load_host_config
from azure_durable_ext.devhost.host import DevHost
from azure_durable_ext.storage.azure.azurite import AzuriteProcess

V1 = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
V2 = V1 + ["Hello Cairo!"]


async def _start_and_finish(host: DevHost, query: str = "", body: bytes = b"") -> tuple[dict, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{host.base_url}/api/orchestrators/HelloOrchestration{query}", data=body) as r:
            assert r.status == 202, await r.text()
            started = await r.json()
            assert r.headers["Location"] == started["statusQueryGetUri"]
            assert r.headers["Retry-After"] == "10"
        assert list(started) == list(PAYLOAD_KEYS)
        assert f"taskHub={host.hub.name}&connection=AzureWebJobsStorage" in started["statusQueryGetUri"]
        done = await wait_until_done(s, started["statusQueryGetUri"])
    return started, done


@pytest.mark.parametrize(("query", "version", "output"), [("", "2.0.0", V2), ("?version=1.0.0", "1.0.0", V1),
                                                          ("?version=2.0.0", "2.0.0", V2)])
async def test_hello_orchestration_versions_on_memory(query: str, version: str, output: list[str]) -> None:
    async with running_dev_host() as host:
        started, done = await _start_and_finish(host, query, json.dumps({"from": "test"}).encode())
    assert done["runtimeStatus"] == "Completed"
    assert (done["version"], done["output"]) == (version, output)
    assert done["instanceId"] == started["id"] and done["name"] == "HelloOrchestration"
    assert done["input"] == {"from": "test"}


async def test_hello_orchestration_versions_on_azurite(azurite: AzuriteProcess) -> None:
    async with running_dev_host(storage="azure", connection_string=azurite.connection_string) as host:
        _, v2 = await _start_and_finish(host)
        _, v1 = await _start_and_finish(host, "?version=1.0.0")
    assert (v2["runtimeStatus"], v2["version"], v2["output"]) == ("Completed", "2.0.0", V2)
    assert (v1["runtimeStatus"], v1["version"], v1["output"]) == ("Completed", "1.0.0", V1)


def test_app_folder_is_what_core_tools_expects() -> None:
    files = {p.name for p in SAMPLE_APP.iterdir()}
    assert {"function_app.py", "host.json", "local.settings.json", "requirements.txt", ".funcignore"} <= files
    host_json = json.loads((SAMPLE_APP / "host.json").read_text())
    assert host_json["version"] == "2.0"
    assert host_json["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle.Preview"
    settings = json.loads((SAMPLE_APP / "local.settings.json").read_text())["Values"]
    assert settings == {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "FUNCTIONS_WORKER_RUNTIME": "python"}
    requirements = (SAMPLE_APP / "requirements.txt").read_text().split()
    assert "azure-functions" in requirements and "azure-durable-ext" in requirements
    config = load_host_config(SAMPLE_APP)
    assert (config.durable.hub_name, config.durable.default_version) == ("SampleHub", "2.0.0")


def test_start_command_serves_the_sample_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-m", "azure_durable_ext.cli.main", "start", str(SAMPLE_APP), "--port", "0",
               "--storage", "memory"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(output)
        match = re.search(r"HttpStart: \[GET,POST\] (http://127\.0\.0\.1:\d+)/api/orchestrators/\{name\}", text)
        assert match, text
        assert "HelloOrchestration: orchestrationTrigger" in text and "SayHello: activityTrigger" in text
        base = match.group(1)
        request = urllib.request.Request(f"{base}/api/orchestrators/HelloOrchestration?version=1.0.0", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            assert json.loads(response.read())["statusQueryGetUri"].startswith(base)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        output.append(rest)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(output)
    assert process.returncode == 0, text
    assert "Executing 'Functions.HttpStart'" in text and "Executed 'Functions.HttpStart' (Succeeded" in text
    assert "stopping (draining in-flight invocations)" in text
    assert "Traceback" not in text
