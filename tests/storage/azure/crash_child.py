"""A host process that kills itself (SIGKILL) at one exact point of the Azure provider's work.

Run by ``test_crash_recovery.py`` with the venv's python:

    crash_child.py --connection CS --hub HUB --point POINT [--call N] --instances JSON

The fault is injected here, in the test harness, by wrapping one provider method so that
its N-th call (counted from the moment the fault is armed) kills the process before or
after the real call:

- ``start-before-row``: the start's queue send is done, its Instances row insert not
  (the instances are started through the sidecar's DurableClient, armed from the start);
- ``before-history``: a checkpoint sent its outbound messages, its history batch not;
- ``between-history-batches``: the first table batch of a long episode is stored, the next
  not (the N-th batch submit of all checkpoints dies before it is sent);
- ``before-row``: a checkpoint stored its history, its Instances row not;
- ``before-delete``: a checkpoint stored its row, its consumed messages are not deleted;
- ``activity-before-delete``: an activity's result is sent, its work item not deleted.

For the checkpoint points the instances are created first (unarmed), then the fault is
armed and a sidecar host runs them in process (``crash_app``). Exit code 3 means the
point was never reached within the time limit.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crash_app  # noqa: E402

from azure_durable_ext.core.options import AzureStorageOptions, DurableTaskOptions  # noqa: E402
from crash_app import SHORT_LEASES  # noqa: E402
from azure_durable_ext.sidecar.dispatch.hosting import build_sidecar_host  # noqa: E402
from azure_durable_ext.sidecar.hub import TaskHub, TaskHubRegistry  # noqa: E402
from azure_durable_ext.storage.azure.connection import parse_connection_string  # noqa: E402
from azure_durable_ext.storage.azure.activity_queue import ActivityQueue  # noqa: E402
from azure_durable_ext.storage.azure.orchestration_work import OrchestrationWork  # noqa: E402
from azure_durable_ext.storage.azure.service import AzureStorageOrchestrationService  # noqa: E402
from azure_durable_ext.storage.azure.tracking_store import TrackingStore  # noqa: E402

#: point -> (class, method, kill before the call (True) or after it returned (False))
POINTS: dict[str, tuple[type, str, bool]] = {
    "start-before-row": (TrackingStore, "write_instance", True),
    "before-history": (TrackingStore, "append_history", True),
    "between-history-batches": (TrackingStore, "_submit", True),
    "before-row": (TrackingStore, "append_history", False),
    "before-delete": (OrchestrationWork, "_write_row_after_history", False),
    "activity-before-delete": (ActivityQueue, "finish", True),
}
#: Locks of the dead process come back this fast (seconds), so the next host sees them soon.
VISIBILITY_TIMEOUT = 2.0
TIME_LIMIT = 60.0


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, call: int) -> None:
    """Wrap the point's method so its ``call``-th call kills this process."""
    owner, name, before = POINTS[point]
    original: Callable[..., Any] = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        mine = calls  # other calls run concurrently while this one awaits
        if mine == call and before:
            die()
        result = await original(*args, **kwargs)
        if mine == call:
            die()
        return result

    setattr(owner, name, wrapped)


def hub_for(connection: str, hub_name: str) -> TaskHub:
    storage = AzureStorageOptions(
        max_queue_polling_interval=0.5,
        control_queue_visibility_timeout=VISIBILITY_TIMEOUT,
        work_item_queue_visibility_timeout=VISIBILITY_TIMEOUT,
        partition_leases=SHORT_LEASES,
    )
    service = AzureStorageOrchestrationService(
        parse_connection_string(connection, "AzureWebJobsStorage"), hub_name=hub_name, options=storage
    )
    return TaskHub.create(DurableTaskOptions(hub_name=hub_name, storage=storage), service)


async def run(args: argparse.Namespace) -> int:
    hub = hub_for(args.connection, args.hub)
    instances: list[tuple[str, str, Any]] = json.loads(args.instances)
    if args.point == "start-before-row":
        arm(args.point, args.call)
    for instance_id, name, value in instances:
        await hub.durable.start_new(name, instance_id, input=json.dumps(value))
    if args.point == "start-before-row":
        return 3
    arm(args.point, args.call)
    host = build_sidecar_host(TaskHubRegistry([hub]), registry=crash_app.registry(), poll_timeout=0.2)
    await host.start()
    await asyncio.sleep(TIME_LIMIT)
    await host.stop(0)
    return 3


def main() -> None:
    parser = argparse.ArgumentParser(description="a host that dies at one point of the provider's work")
    parser.add_argument("--connection", required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--point", required=True, choices=sorted(POINTS))
    parser.add_argument("--call", type=int, default=1, help="the N-th call (after arming) dies")
    parser.add_argument("--instances", required=True, help="JSON list of [instance id, orchestrator, input]")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
