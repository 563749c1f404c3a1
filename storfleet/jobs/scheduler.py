"""``storfleet scheduler``: queues what is due, with exactly one scheduler active.

Several may run (on several machines); they elect the active one through the database
lease ``scheduler``: the active one renews it every tick, the others try to take it every
tick and take over at most ``scheduler_lease_s`` after the active one stopped renewing.
Correctness does not rest on the election: a job is queued under its own lease
(storfleet.jobs.queue), so even two schedulers active at once during a takeover could not
queue one job twice. The election only keeps standbys from doing needless work.

The active scheduler also does the fleet's housekeeping: syncs whose worker died are shown
as interrupted, and the change feed is pruned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from storfleet.jobs import schedule
from storfleet.jobs.embedded import HOUSEKEEPING_EVERY_S, prune_changes
from storfleet.jobs.leases import new_owner, release, try_acquire
from storfleet.jobs.queue import QueuedJob, enqueue_due
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"
ENQUEUE_LIMIT = 2000  # jobs queued per tick at most (the next tick takes the rest)


class Scheduler:
    def __init__(self, db: Database, publish: Callable[[QueuedJob], None]) -> None:
        self.db = db
        self.publish = publish
        self.owner = new_owner("scheduler")
        self.active = False
        self.queued = 0  # jobs published by this scheduler since it started
        self._last_housekeeping = 0.0

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; then give up the lease so a standby takes over now."""
        log.info("scheduler %s started; standing by until it holds the lease", self.owner)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the database or the broker is away: try next tick
                    log.exception("scheduler tick failed")
                stop.wait(self.db.settings.scheduler_tick_s)
        finally:
            if self.active:
                release(self.db.engine, SCHEDULER_LEASE, self.owner)

    def tick(self) -> int:
        """Renew or take the lease; when active, queue what is due. Returns jobs queued."""
        active = try_acquire(
            self.db.engine, SCHEDULER_LEASE, self.owner, self.db.settings.scheduler_lease_s
        )
        if active != self.active:
            log.warning("scheduler %s is now %s", self.owner, "active" if active else "standby")
            self.active = active
        if not active:
            return 0
        self._mark_interrupted()
        queued = enqueue_due(self.db, self.publish, limit=ENQUEUE_LIMIT)
        self.queued += len(queued)
        self._housekeeping()
        return len(queued)

    def _mark_interrupted(self) -> None:
        now = utcnow()
        with self.db.engine.connect() as conn:
            stuck = schedule.interrupted(conn, now)
        if stuck:
            with write(self.db.engine) as conn:
                for storage_id in schedule.mark_interrupted(conn, stuck, now):
                    log.warning("storage %s: its sync was interrupted; it runs again", storage_id)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_housekeeping >= HOUSEKEEPING_EVERY_S:
            self._last_housekeeping = now
            prune_changes(self.db)
