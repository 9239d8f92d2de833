"""The functions layer depends on client, core and protocol only (never sidecar, storage,
devhost or cli): a function app must not pull the host side into the worker."""
from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("azure_durable_ext.sidecar", "azure_durable_ext.storage", "azure_durable_ext.devhost", "azure_durable_ext.cli")


def test_functions_layer_loads_no_host_side_modules() -> None:
    code = (
        "import json, sys\n"
        "import azure_durable_ext.functions, azure_durable_ext.functions.worker_main\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('azure_durable_ext'))))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert "azure_durable_ext.functions.grpc_worker" in loaded
    assert [m for m in loaded if m in FORBIDDEN or m.startswith(tuple(f + "." for f in FORBIDDEN))] == []
