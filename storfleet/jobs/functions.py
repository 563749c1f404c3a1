"""The job functions: plain and idempotent, taking a storage id; any runner may call them.

A job that finds its lease held by someone else does nothing ("skipped"): the run that
holds it is doing the work. ``owner``: the caller already holds the job's lease under that
name (a Celery worker) and releases it after the function returns, once the run and the
next due time are recorded, so no scheduler sees the job due in between.
"""

from __future__ import annotations

import logging

from storfleet.fleet.manager import DriverManager, StorageGone
from storfleet.jobs import schedule
from storfleet.jobs.leases import LeaseLost, fence, lease_name
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.sync import AlreadySyncing, sync_storage

log = logging.getLogger(__name__)


def run_sync(
    db: Database, manager: DriverManager, storage_id: str, owner: str | None = None
) -> str:
    """Sync one storage; returns ok / failed / skipped."""
    with write(db.engine) as conn:
        asked = schedule.mark_started(conn, storage_id, schedule.SYNC)
    status, error, result = "failed", None, None
    try:
        result = sync_storage(db, manager, storage_id, owner=owner)
        status, error = ("ok" if result.state == "synced" else "failed"), result.error
    except AlreadySyncing:
        return "skipped"
    except StorageGone:
        return "skipped"
    except Exception as exc:  # recorded on the job; the scheduler goes on
        log.exception("sync job of storage %s crashed", storage_id)
        error = f"{type(exc).__name__}: {exc}"
    if not _finish(db, storage_id, schedule.SYNC, owner, status=status, error=error,
                   asked=asked):
        return status
    from storfleet.alerts.rules import evaluate_after_sync

    evaluate_after_sync(db, storage_id, result)  # never raises
    return status


def run_collect(
    db: Database, manager: DriverManager, storage_id: str, owner: str | None = None
) -> str:
    """Collect one storage's performance metrics; returns ok / failed / not_supported /
    skipped. A failure is retried with back-off (its due time is the retry time)."""
    from storfleet.metrics.collect import collect_storage

    with write(db.engine) as conn:
        asked = schedule.mark_started(conn, storage_id, schedule.COLLECT)
    status, error, every, retry_at = "failed", None, None, None
    try:
        outcome = collect_storage(db, manager, storage_id, owner=owner)
        if outcome.status == "skipped":
            return "skipped"
        status, error = outcome.status, outcome.error
        every, retry_at = outcome.interval_s, outcome.retry_at
    except StorageGone:
        return "skipped"
    except Exception as exc:  # recorded on the job; the scheduler goes on
        log.exception("collect job of storage %s crashed", storage_id)
        error = f"{type(exc).__name__}: {exc}"
    _finish(db, storage_id, schedule.COLLECT, owner, status=status, error=error,
            every_s=every, retry_at=retry_at, asked=asked)
    return status


def run_poll(
    db: Database, manager: DriverManager, storage_id: str, owner: str | None = None
) -> str:
    """Poll one storage's current alerts (storfleet.alerts.poll); returns ok / failed /
    not_supported / skipped."""
    from storfleet.alerts.poll import poll_storage

    with write(db.engine) as conn:
        asked = schedule.mark_started(conn, storage_id, schedule.POLL)
    status, error = "failed", None
    try:
        outcome = poll_storage(db, manager, storage_id, owner=owner)
        if outcome.status == "skipped":
            return "skipped"
        status, error = outcome.status, outcome.error
    except StorageGone:
        return "skipped"
    except Exception as exc:  # recorded on the job; the scheduler goes on
        log.exception("poll job of storage %s crashed", storage_id)
        error = f"{type(exc).__name__}: {exc}"
    _finish(db, storage_id, schedule.POLL, owner, status=status, error=error, asked=asked)
    return status


def _finish(db: Database, storage_id: str, kind: str, owner: str | None,
            **values: object) -> bool:
    """Record the run and the job's next due time. With ``owner`` (a queued run), only
    while its lease is still that owner's: a worker that lost it (stalled past the lease,
    which another worker then took) leaves the record to the run that holds it."""
    with write(db.engine) as conn:
        if owner is not None:
            try:
                fence(conn, lease_name(kind, storage_id), owner, db.settings.lease_s)
            except LeaseLost:
                log.warning("%s of storage %s lost its lease: this run is not recorded",
                            kind, storage_id)
                return False
        schedule.mark_finished(conn, db.settings, storage_id, kind, **values)
    return True


JOB_FUNCTIONS = {schedule.SYNC: run_sync, schedule.COLLECT: run_collect,
                 schedule.POLL: run_poll}
