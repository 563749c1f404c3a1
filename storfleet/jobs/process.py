"""The embedded mode's jobs in a child process of `storfleet serve`.

Syncs are CPU-bound Python; run in the API's process they would share its interpreter
lock, and API pages slowed 3-5x while a large sync ran. A child process keeps the API
responsive and puts the second core to work. It stays one process tree: the child exits
when its parent does, and the database (due times, leases) is what the two share.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from storfleet.config import Settings

log = logging.getLogger(__name__)


def _run(settings_values: dict[str, Any], log_level: str, parent_pid: int) -> None:
    from storfleet.alerts.exporters.runner import ExportRunner
    from storfleet.alerts.settings import for_settings
    from storfleet.fleet.manager import DriverManager
    from storfleet.jobs.embedded import EmbeddedRunner
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    db = open_database(Settings(**settings_values), auto_migrate=False)
    manager = DriverManager(db)
    runner = EmbeddedRunner(db, manager)
    runner.start()
    exports = ExportRunner(db, for_settings(db.settings))  # alert exporters and pruning
    exports.start()
    log.info("job runner started (pid %s, %s workers)", os.getpid(), runner.workers)
    try:
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:  # orphaned: the server is gone
                break
    finally:
        exports.stop()
        runner.stop(wait=False)
        manager.clear()
        db.dispose()


class JobProcess:
    def __init__(self, settings: Settings, log_level: str = "INFO") -> None:
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=_run,
            args=(settings.model_dump(), log_level, os.getpid()),
            name="storfleet-jobs",
            daemon=True,
        )

    def start(self) -> None:
        self.process.start()

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process.is_alive():
            return
        self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
