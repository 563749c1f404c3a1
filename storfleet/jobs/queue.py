"""Queued jobs of the scale-out mode, the database side (no broker code here).

The database stays the source of truth for what is due and what runs; the broker only
carries "run this now" messages, and may lose or repeat them:

1. The active scheduler marks a due job *queued* by taking the job's own lease
   (``sync:<storage>``...) for the owner ``queued:<token>``; only then does it publish a
   message carrying the token, and once published it extends the lease to
   ``queue_timeout_s``. ``due_jobs`` never returns a job whose lease is held, so a queued
   job is not queued again, by this scheduler or by a standby that takes over. Until
   published the lease lasts only ``scheduler_lease_s``: a scheduler killed between the
   two steps delays the job by the time a standby needs to take over anyway, not by the
   queue timeout.
2. The worker that gets the message takes the lease over from ``queued:<token>`` to
   itself (``hand_over``) and runs the job function under it, renewing it meanwhile.
   It releases the lease only after the run and the next due time are recorded, so no
   scheduler sees the job due again in between.
3. A message that was lost (broker restart) or a worker killed mid-run leaves a lease
   that is no longer renewed: it expires and the job is due again, so it is delayed,
   never lost. A duplicate or stale message (redelivered after its worker died, or
   published before a re-queue) finds the lease no longer held by its token and does
   nothing, so a job never runs twice at once or twice for one due time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from storfleet.fleet.manager import DriverManager
from storfleet.jobs import schedule
from storfleet.jobs.functions import JOB_FUNCTIONS
from storfleet.jobs.leases import (
    extend,
    hand_over,
    lease_name,
    new_owner,
    release,
    try_acquire,
)
from storfleet.store.database import Database
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

QUEUED_PREFIX = "queued:"
STALE = "stale"  # what a worker answers for a message that is no longer current


@dataclass(frozen=True)
class QueuedJob:
    kind: str
    storage_id: str
    token: str
    due_at: datetime | None = None  # the due time it was queued for; None: asked for

    @property
    def lease(self) -> str:
        return lease_name(self.kind, self.storage_id)

    @property
    def queue_owner(self) -> str:
        return QUEUED_PREFIX + self.token


def enqueue_due(
    db: Database,
    publish: Callable[[QueuedJob], None],
    *,
    limit: int = 1000,
    kinds: tuple[str, ...] | None = None,
) -> list[QueuedJob]:
    """Queue what is due now; returns the jobs published. A job another scheduler queued
    meanwhile is passed over (its lease is taken); a publish that fails gives the job back
    (the lease is released) and the error propagates: the broker is down, stop this tick."""
    with db.engine.connect() as conn:
        due = schedule.due_jobs(conn, utcnow(), limit=limit, kinds=kinds)
    published: list[QueuedJob] = []
    try:
        for item in due:
            queued = _enqueue(db, item, publish)
            if queued is not None:
                published.append(queued)
    finally:  # what went out stays queued, even when a later publish failed
        extend(db.engine, [(q.lease, q.queue_owner) for q in published],
               db.settings.queue_timeout_s)
    return published


def _enqueue(
    db: Database, item: schedule.DueJob, publish: Callable[[QueuedJob], None]
) -> QueuedJob | None:
    due_at = None if item.requested else item.due_at
    queued = QueuedJob(item.kind, item.storage_id, uuid.uuid4().hex, due_at)
    if not try_acquire(db.engine, queued.lease, queued.queue_owner,
                       db.settings.scheduler_lease_s):
        return None
    if not _still_due(db, item):  # another scheduler's run came and went meanwhile
        release(db.engine, queued.lease, queued.queue_owner)
        return None
    try:
        publish(queued)
    except Exception:
        release(db.engine, queued.lease, queued.queue_owner)
        raise
    return queued


def _still_due(db: Database, item: schedule.DueJob) -> bool:
    """Re-read under the job's lease: the due list was read before it was taken, and a run
    that started and finished in between (queued by another scheduler during a takeover)
    moved the due time on. Workers move it only while holding the lease, so this holds."""
    with db.engine.connect() as conn:
        again = schedule.due_jobs(conn, utcnow(), limit=1, kinds=(item.kind,),
                                  storage_ids=(item.storage_id,), include_leased=True)
    return bool(again)


class NotTakenOver(RuntimeError):
    """The database could not be asked whether the message is current (it is restarting,
    the connection dropped): nothing ran, and the message should come again shortly
    rather than wait out the queue timeout."""


def run_queued(db: Database, manager: DriverManager, queued: QueuedJob) -> str:
    """Run a queued job in this worker; returns the job function's status, or ``stale``.
    Raises NotTakenOver when the database failed before the job was taken over."""
    owner = new_owner("worker")
    try:
        taken = hand_over(db.engine, queued.lease, queued.queue_owner, owner,
                          db.settings.lease_s)
    except sa.exc.DBAPIError as exc:
        raise NotTakenOver(f"{queued.kind} of storage {queued.storage_id}: {exc}") from exc
    if not taken:
        log.info("%s of storage %s: message no longer current, not run", queued.kind,
                 queued.storage_id)
        return STALE
    started = time.monotonic()
    due = " (asked for)"
    if queued.due_at is not None:
        late_s = (utcnow() - queued.due_at).total_seconds()
        due = f" (due {queued.due_at.isoformat()}, {late_s:.1f} s ago)"
    log.info("job started: %s of storage %s by %s%s", queued.kind, queued.storage_id, owner, due)
    status = "crashed"
    try:
        status = JOB_FUNCTIONS[queued.kind](db, manager, queued.storage_id, owner)
        return status
    finally:
        # logged before the release: the next run of the job can only start after it
        log.info("job finished: %s of storage %s by %s: %s in %.2f s", queued.kind,
                 queued.storage_id, owner, status, time.monotonic() - started)
        release(db.engine, queued.lease, owner)
