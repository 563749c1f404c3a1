"""Removing a storage: quick to accept, thorough in the background.

``begin`` (inside the DELETE request) marks the storage deleting, so it disappears from
the API, deletes its job rows, so nothing schedules it again, and drops its sync lease, so
a sync in flight fails its next fence instead of writing more rows. ``finish`` (in the
background) removes the trap config on the array (best effort: the array may be gone),
drops the cached driver and deletes the storage's records in batches of short write
transactions, so a million-volume storage never holds SQLite's write lock for long; the
storage row goes last. A removal interrupted by a restart is resumed at the next start
(every step is idempotent), and a lease keeps two nodes from doing the same one at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import sqlalchemy as sa

from storfleet.alerts.queries import forget_storage as forget_storage_alerts
from storfleet.fleet.manager import DriverManager
from storfleet.jobs.leases import Lease, lease_name, new_owner, try_acquire
from storfleet.metrics.history import delete_storage as delete_metric_history
from storfleet.metrics.latest import latest_store
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import (
    access_info,
    alert,
    alert_source,
    change,
    inventory,
    job,
    lease,
    storage,
    sync_state,
)
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

BATCH = 5000
TRAP_CONFIG_TIMEOUT_S = 30.0


def begin(db: Database, storage_id: str) -> bool:
    """Mark the storage deleting and stop its jobs; False if there is no such storage."""
    with write(db.engine) as conn:
        found = conn.execute(
            sa.update(storage)
            .where(storage.c.id == storage_id, storage.c.deleting.is_(False))
            .values(deleting=True, deleted=True, deleted_at=utcnow(), paused=True)
        ).rowcount
        if not found:
            return False
        conn.execute(sa.delete(job).where(job.c.storage_id == storage_id))
        conn.execute(
            sa.delete(lease).where(
                lease.c.name.in_(
                    [lease_name(j, storage_id) for j in ("sync", "collect", "poll")]
                )
            )
        )
    latest_store(db.engine).forget(storage_id)  # its series leave /metrics now
    log.info("removing storage %s", storage_id)
    return True


def pending(db: Database) -> list[str]:
    """Storages whose removal was accepted but not finished (e.g. before a restart)."""
    with db.engine.connect() as conn:
        return list(
            conn.execute(sa.select(storage.c.id).where(storage.c.deleting.is_(True))).scalars()
        )


def finish(
    db: Database,
    manager: DriverManager,
    storage_id: str,
    stop: threading.Event | None = None,
) -> bool:
    """Delete everything of a storage marked deleting. True when it is all gone; False
    when stopped, or when another process holds the removal."""
    owner = new_owner("remove")
    name = lease_name("remove", storage_id)
    if not try_acquire(db.engine, name, owner, db.settings.lease_s):
        return False
    with Lease(db.engine, name, owner, db.settings.lease_s):
        _remove_trap_config(db, manager, storage_id)
        manager.remove(storage_id)
        for table in (*inventory.values(), change, alert):
            if not _delete_in_batches(db.engine, table, storage_id, stop):
                return False
        delete_metric_history(db.engine, storage_id)
        with write(db.engine) as conn:
            forget_storage_alerts(conn, storage_id)
            for table in (sync_state, alert_source, access_info, job):
                conn.execute(sa.delete(table).where(table.c.storage_id == storage_id))
            conn.execute(sa.delete(lease).where(lease.c.name == lease_name("sync", storage_id)))
            conn.execute(sa.delete(storage).where(storage.c.id == storage_id))
    log.info("storage %s removed", storage_id)
    return True


def sweep_orphans(db: Database) -> int:
    """Delete sync-state rows of storages that no longer exist.

    A sync that the removal interrupted fails its fences, but still records how its kinds
    ended; if that comes after ``finish``, the rows are orphans. They are never served
    (every endpoint checks the storage first); this keeps the table clean.
    """
    with write(db.engine) as conn:
        return conn.execute(
            sa.delete(sync_state).where(sync_state.c.storage_id.not_in(sa.select(storage.c.id)))
        ).rowcount


def _delete_in_batches(
    engine: sa.Engine, table: sa.Table, storage_id: str, stop: threading.Event | None
) -> bool:
    while True:
        if stop is not None and stop.is_set():
            return False
        batch = (
            sa.select(table.c.id).where(table.c.storage_id == storage_id).limit(BATCH)
        ).scalar_subquery()
        with write(engine) as conn:
            deleted = conn.execute(sa.delete(table).where(table.c.id.in_(batch))).rowcount
        if deleted < BATCH:
            return True


def _trap_config(db: Database, storage_id: str) -> dict[str, Any] | None:
    """What the array was told about storfleet's trap receiver (None: no access info)."""
    with db.engine.connect() as conn:
        if (
            conn.execute(
                sa.select(access_info.c.storage_id).where(access_info.c.storage_id == storage_id)
            ).first()
            is None
        ):
            return None
        source = conn.execute(
            sa.select(alert_source).where(alert_source.c.storage_id == storage_id)
        ).first()
    config: dict[str, Any] = {"storage_id": storage_id}
    if source is not None:
        config.update(
            {
                k: v
                for k, v in source._mapping.items()
                if k not in ("secret", "created_at", "updated_at")
            }
        )
    return config


def _remove_trap_config(db: Database, manager: DriverManager, storage_id: str) -> None:
    """Best effort: an array that is gone or refuses must not keep its storage alive."""
    config = _trap_config(db, storage_id)
    if config is None:
        return
    timeout = min(TRAP_CONFIG_TIMEOUT_S, manager.call_timeout_s)
    try:
        manager.call(storage_id, "remove_trap_config", config, timeout=timeout)
    except Exception as exc:  # not supported, unreachable, timed out...: logged, not fatal
        log.info("storage %s: trap config not removed from the array: %s", storage_id, exc)


class RemovalWorker:
    """One background thread that finishes removals, in the order they were accepted."""

    def __init__(self, db: Database, manager: DriverManager) -> None:
        self.db = db
        self.manager = manager
        # When to sweep orphans after a removal: soon, and once an interrupted sync's
        # longest driver call has surely returned.
        settings = db.settings
        self.sweep_after_s = (5.0, settings.driver_call_timeout_s + settings.lease_s)
        self._sweeps: list[float] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, storage_id: str) -> None:
        self._queue.put(storage_id)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="storfleet-removal", daemon=True
                )
                self._thread.start()

    def resume_pending(self) -> None:
        for storage_id in pending(self.db):
            log.info("resuming the removal of storage %s", storage_id)
            self.submit(storage_id)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop between two batches; what is left is resumed at the next start."""
        self._stop.set()
        self._queue.put("")
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sweep_if_due()
            try:
                storage_id = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if not storage_id:
                continue
            try:
                if finish(self.db, self.manager, storage_id, self._stop):
                    now = time.monotonic()
                    self._sweeps.extend(now + delay for delay in self.sweep_after_s)
            except Exception:
                log.exception("removal of storage %s failed; retried at the next start", storage_id)

    def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if not any(at <= now for at in self._sweeps):
            return
        self._sweeps = [at for at in self._sweeps if at > now]
        try:
            sweep_orphans(self.db)
        except Exception:
            log.warning("could not sweep the sync state of removed storages", exc_info=True)
