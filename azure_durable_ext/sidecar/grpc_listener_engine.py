"""Which of grpc's two TCP listeners a process serving the sidecar uses.

grpc (1.6x-1.8x) ships two implementations of a server's TCP listener and endpoints: the
EventEngine one (the default) and the classic iomgr one, chosen by the
``event_engine_listener`` experiment. With grpc.aio on one event loop the classic listener
answers sooner and costs less CPU per call: StartInstance through our listener against the
durabletask.testing sidecar on 2 cores went from 0.92-0.95 of its calls/s to 0.99-1.03 at 1
caller (0.98-1.03 at 16), and from more sidecar CPU per start than it to 5-10% less (grpcio
1.85.3, ``bench/start_throughput.py``). The ``durable-ext`` commands therefore ask for it;
the processes they start (the dev host's worker) inherit the setting.

grpc reads ``GRPC_EXPERIMENTS`` once, when it is first loaded, so this has to run before
anything imports grpc; nothing here imports it.
"""
from __future__ import annotations

import importlib.util
import logging
import mmap
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

logger = logging.getLogger(__name__)

EXPERIMENTS_VARIABLE = "GRPC_EXPERIMENTS"
LISTENER_EXPERIMENT = "event_engine_listener"
#: A leading '-' turns an experiment off: the classic listener.
CLASSIC_LISTENER_SETTING = f"-{LISTENER_EXPERIMENT}"


def prefer_classic_listener(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``GRPC_EXPERIMENTS`` so grpc serves with its classic listener; True when set.

    Leaves everything as it is when ``GRPC_EXPERIMENTS`` is already set (the user's choice,
    even an empty one), when grpc is already loaded in this process (too late to matter), or
    when the installed grpc does not know the experiment (a grpc that dropped it would print
    an "Unknown experiment" error line at start).
    """
    env = os.environ if environ is None else environ
    if EXPERIMENTS_VARIABLE in env:
        logger.debug("%s already set (%r): grpc's listener left as chosen", EXPERIMENTS_VARIABLE, env[EXPERIMENTS_VARIABLE])
        return False
    if "grpc" in sys.modules:
        logger.debug("grpc already loaded: its listener choice can no longer change")
        return False
    if not grpc_knows_experiment(LISTENER_EXPERIMENT):
        logger.debug("this grpc has no %s experiment: its default listener is used", LISTENER_EXPERIMENT)
        return False
    env[EXPERIMENTS_VARIABLE] = CLASSIC_LISTENER_SETTING
    return True


def grpc_knows_experiment(name: str, extension_dir: Path | None = None) -> bool:
    """Whether the installed grpc core lists experiment ``name``, found without loading grpc:
    the experiment table's names are NUL-terminated strings in the ``cygrpc`` extension."""
    if extension_dir is None:
        spec = importlib.util.find_spec("grpc")
        if spec is None or spec.origin is None:
            return False
        extension_dir = Path(spec.origin).parent / "_cython"
    wanted = name.encode() + b"\0"
    for path in sorted(extension_dir.glob("cygrpc*")):
        if path.suffix not in (".so", ".pyd"):
            continue
        if _contains_c_string(path, wanted):
            return True
    return False


def _contains_c_string(path: Path, wanted: bytes) -> bool:
    """``wanted`` (NUL included) in the file at the start of a C string, i.e. not the tail
    of a longer name."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return False
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(wanted)
            while at != -1:
                if at == 0 or data[at - 1] == 0:
                    return True
                at = data.find(wanted, at + 1)
    return False
