"""A child process whose exit a coroutine can await, started without fork().

asyncio's subprocesses on uvloop are spawned by libuv with fork(); with grpc's threads busy
(the dev host serves FunctionRpc before it launches the worker), grpc's pre-fork hook then
prints "Other threads are currently calling into gRPC, skipping fork() handlers" on the
console at every worker launch. ``subprocess.Popen`` starts the child with vfork or
posix_spawn where it can, which run no fork hooks. Its exit is awaited through one daemon
thread blocked in ``wait`` (a daemon, so a child that outlives the host's loop cannot hold
up the interpreter's exit).
"""
from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Mapping, Sequence


class ChildProcess:
    """A ``subprocess.Popen`` child with an awaitable ``wait``."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self._exit: asyncio.Future[int] | None = None

    @classmethod
    def spawn(
        cls, args: Sequence[str], *, env: Mapping[str, str], cwd: str, start_new_session: bool = False
    ) -> "ChildProcess":
        return cls(subprocess.Popen(list(args), env=dict(env), cwd=cwd, start_new_session=start_new_session))

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has exited (negative: killed by that signal)."""
        return self._popen.poll()

    def kill(self) -> None:
        """SIGKILL (no-op once the child has been reaped)."""
        self._popen.kill()

    async def wait(self) -> int:
        """The exit code, once the child exits. Cancelling a wait (``wait_for``'s timeout)
        leaves the child and other waits alone."""
        code = self._popen.poll()
        if code is not None:
            return code
        if self._exit is None:
            self._exit = self._watch_exit()
        return await asyncio.shield(self._exit)

    def _watch_exit(self) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        exit_code: asyncio.Future[int] = loop.create_future()

        def deliver(code: int) -> None:
            if not exit_code.done():
                exit_code.set_result(code)

        def wait_in_thread() -> None:
            code = self._popen.wait()
            try:
                loop.call_soon_threadsafe(deliver, code)
            except RuntimeError:  # the loop is closed: nobody awaits this exit any more
                return

        threading.Thread(target=wait_in_thread, name=f"wait-child-{self.pid}", daemon=True).start()
        return exit_code
