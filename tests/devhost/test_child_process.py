"""ChildProcess: an awaitable exit for a child started without fork() (see the module doc)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from azure_durable_ext.devhost.child_process import ChildProcess


def _spawn(code: str) -> ChildProcess:
    return ChildProcess.spawn([sys.executable, "-c", code], env=os.environ, cwd=os.getcwd())


async def test_wait_gives_the_exit_code_to_every_waiter() -> None:
    child = _spawn("import time, sys; time.sleep(0.2); sys.exit(3)")
    assert child.returncode is None and child.pid > 0
    assert await asyncio.gather(child.wait(), child.wait()) == [3, 3]
    assert child.returncode == 3
    assert await child.wait() == 3  # already exited: at once


async def test_a_timed_out_wait_leaves_the_child_and_later_waits_alone() -> None:
    child = _spawn("import time; time.sleep(30)")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(child.wait(), 0.2)
    assert child.returncode is None  # still running
    child.kill()
    assert await asyncio.wait_for(child.wait(), 10) == -signal.SIGKILL
    child.kill()  # reaped: nothing to signal, no error


async def test_env_cwd_and_own_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "seen.txt"
    child = ChildProcess.spawn(
        [sys.executable, "-c",
         "import os; open('seen.txt', 'w').write(os.environ['CHILD_MARK'] + ' ' + str(os.getsid(0) == os.getpid()))"],
        env={**os.environ, "CHILD_MARK": "m1"}, cwd=str(tmp_path), start_new_session=True,
    )
    assert await asyncio.wait_for(child.wait(), 30) == 0
    assert marker.read_text() == "m1 True"
