"""The embedded mode's scheduler and worker pool, inside ``storfleet serve``.

One scheduler thread reads what is due from the database every tick and hands it to a
bounded pool of worker threads. Leases (not this process's bookkeeping) decide what may
run, so a second storfleet process on the same database cannot double a job either.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from storfleet.fleet.manager import DriverManager
from storfleet.jobs import schedule
from storfleet.jobs.functions import JOB_FUNCTIONS
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import change
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY_S = 60.0


class EmbeddedRunner:
    def __init__(
        self,
        db: Database,
        manager: DriverManager,
        workers: int | None = None,
        kinds: tuple[str, ...] | None = None,
    ):
        self.db = db
        self.kinds = kinds  # job kinds this runner starts (default: all)
        self.manager = manager
        self.workers = workers or db.settings.workers
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="storfleet-job")
        self._inflight: dict[tuple[str, str], Future] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_housekeeping = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="storfleet-scheduler", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def nudge(self) -> None:
        """Look for due work now (after a registration or a sync request)."""
        self._wake.set()

    def _loop(self) -> None:
        tick = self.db.settings.scheduler_tick_s
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            self._wake.wait(tick)
            self._wake.clear()

    def tick(self) -> int:
        """Submit what is due; returns how many jobs were started."""
        with self._lock:
            free = self.workers - len(self._inflight)
        now = utcnow()
        with self.db.engine.connect() as conn:
            stuck = schedule.interrupted(conn, now)
            due = schedule.due_jobs(
                conn, now, limit=free + len(self._inflight), kinds=self.kinds
            )
        if stuck:
            with write(self.db.engine) as conn:
                for storage_id in schedule.mark_interrupted(conn, stuck, now):
                    log.warning("storage %s: its sync was interrupted; it runs again", storage_id)
        started = 0
        if free <= 0:
            due = []
        for item in due:
            key = (item.storage_id, item.kind)
            with self._lock:
                if key in self._inflight or len(self._inflight) >= self.workers:
                    continue
                future = self._pool.submit(self._run, item.kind, item.storage_id)
                self._inflight[key] = future
            future.add_done_callback(lambda _f, key=key: self._done(key))
            started += 1
        self._housekeeping()
        return started

    def _run(self, kind: str, storage_id: str) -> str:
        return JOB_FUNCTIONS[kind](self.db, self.manager, storage_id)

    def _done(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._inflight.pop(key, None)
        self._wake.set()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping < HOUSEKEEPING_EVERY_S:
            return
        self._last_housekeeping = now
        prune_changes(self.db)


def prune_changes(db: Database) -> int:
    """Delete change-feed rows older than the retention setting."""
    cutoff = utcnow() - timedelta(seconds=db.settings.change_retention_s)
    with write(db.engine) as conn:
        return conn.execute(sa.delete(change).where(change.c.at < cutoff)).rowcount
