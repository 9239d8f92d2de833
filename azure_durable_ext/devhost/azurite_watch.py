"""Keeps the Azurite that the dev host started running: if the process exits while the host
runs (killed, crashed), it is started again on the same ports and data folder, so the app
gets its storage back without a restart of the host."""
from __future__ import annotations

import asyncio
import logging

from ..core.errors import StorageUnavailableError
from ..core.tasks import cancel_and_wait
from ..storage.azure.azurite import AzuriteProcess

log = logging.getLogger(__name__)

#: How often the process is looked at (an exit is noticed within this many seconds).
CHECK_INTERVAL = 1.0


class AzuriteWatch:
    """Restarts ``azurite`` whenever its process exits, until ``stop``."""

    def __init__(self, azurite: AzuriteProcess, interval: float = CHECK_INTERVAL) -> None:
        self.azurite = azurite
        self.interval = interval
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="azurite-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            code = self.azurite.exit_code()
            if code is None:
                continue
            log.error("Azurite exited unexpectedly (code %s); starting it again on ports %s with the same data",
                      code, self.azurite.ports)
            try:
                await asyncio.to_thread(self.azurite.restart)
            except StorageUnavailableError as exc:
                log.error("Azurite could not be started again (%s); storage stays unavailable until the dev host "
                          "is restarted", exc)
                return
            self.restarts += 1
            log.info("Azurite is running again")
