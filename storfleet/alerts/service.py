"""The receiving side, assembled: socket -> queue -> writer, kept in step with the alert
sources. Runs inside ``storfleet serve`` (on its event loop) or alone (``storfleet
traps``, see ``run_forever``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from storfleet.alerts.counters import TrapCounters
from storfleet.alerts.lifecycle import AlertStore
from storfleet.alerts.matching import MatchTable
from storfleet.alerts.parsing import TrapParser
from storfleet.alerts.receiver import TrapReceiver
from storfleet.alerts.settings import AlertSettings
from storfleet.alerts.sources import SourceEntry, SourceWatcher
from storfleet.alerts.usm import V3Decoder
from storfleet.alerts.writer import TrapWriter
from storfleet.store.database import Database

log = logging.getLogger(__name__)


class TrapService:
    """``await start()`` / ``await stop()`` on a running loop; ``counters.snapshot()``."""

    def __init__(
        self,
        db: Database,
        settings: AlertSettings | None = None,
        *,
        manager: Any | None = None,
        counters: TrapCounters | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or AlertSettings()
        self.counters = counters or TrapCounters()
        self.writer = TrapWriter(
            db,
            self.counters,
            TrapParser(self.counters, manager),
            store=AlertStore(self.settings.max_sequence_numbers),
            queue_size=self.settings.trap_queue_size,
            batch_size=self.settings.trap_batch_size,
        )
        self.receiver = TrapReceiver(
            self.counters,
            self.writer.submit,
            host=self.settings.trap_host,
            port=self.settings.trap_port,
            socket_buffer=self.settings.trap_socket_buffer,
        )
        self.watcher = SourceWatcher(db.engine, db.keyring, self._reload,
                                     self.settings.sources_reload_s)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.receiver.address

    def _reload(self, entries: list[SourceEntry]) -> None:
        """On the watcher's thread: build the new table and USM, then swap them in on the
        loop (building a v3 user localises its keys: not on the loop)."""
        table = MatchTable(entries)
        v3 = V3Decoder(table.v3_users(), self.receiver.send)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.receiver.configure, table, v3)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.writer.start()
        await self._loop.run_in_executor(None, self.watcher.check)  # the table, first
        await self.receiver.start()
        await self._loop.run_in_executor(None, self.watcher.start)

    async def stop(self) -> None:
        await self.receiver.stop()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.watcher.stop)
        await loop.run_in_executor(None, self.writer.stop)

    def snapshot(self) -> dict[str, Any]:
        return self.counters.snapshot()


async def run_forever(db: Database, settings: AlertSettings, *, manager: Any | None = None,
                      exporters: bool = True) -> None:
    """``storfleet traps``: the receiver (and the alert exporters) until cancelled."""
    from storfleet.alerts.exporters.runner import ExportRunner

    service = TrapService(db, settings, manager=manager)
    runner = ExportRunner(db, settings) if exporters else None
    await service.start()
    if runner is not None:
        runner.start()
        service.writer.after_commit.append(lambda _result: runner.nudge())
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()
        if runner is not None:
            await asyncio.get_running_loop().run_in_executor(None, runner.stop)
