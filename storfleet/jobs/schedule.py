"""Due times of the periodic jobs, kept in the database (the one source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storfleet.config import Settings
from storfleet.jobs.leases import holder, lease_name
from storfleet.store.schema import job, lease, storage
from storfleet.store.types import utcnow

SYNC = "sync"
COLLECT = "collect"  # performance metrics (storfleet.metrics.collect)
POLL = "poll"  # the array's current alerts (storfleet.alerts.poll)
JOB_KINDS = (SYNC, COLLECT, POLL)


class JobRefused(RuntimeError):
    """A run was asked for but cannot start (already running or queued, storage gone)."""


@dataclass(frozen=True)
class DueJob:
    storage_id: str
    kind: str
    due_at: datetime
    requested: bool


def interval_s(settings: Settings, kind: str, storage_interval: int | None) -> float:
    if kind == SYNC:
        return float(storage_interval or settings.sync_interval_s)
    if kind == COLLECT:
        return float(storage_interval or settings.collect_interval_s)
    if kind == POLL:
        return float(settings.alert_poll_interval_s)
    raise ValueError(f"unknown job kind {kind!r}")


def ensure_jobs(conn: sa.Connection, storage_id: str, *, run_now: bool = True) -> None:
    """Create the job rows of a new storage; its first sync is due right away."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    for kind in JOB_KINDS:
        conn.execute(
            insert(job)
            .values(
                storage_id=storage_id,
                kind=kind,
                due_at=now,
                requested_at=now if run_now else None,
            )
            .on_conflict_do_nothing()
        )


def request_run(conn: sa.Connection, storage_id: str, kind: str = SYNC) -> None:
    """Queue a run now. Raises JobRefused when one is running or already queued."""
    row = conn.execute(
        sa.select(job.c.requested_at, storage.c.deleting)
        .join(storage, storage.c.id == job.c.storage_id)
        .where(job.c.storage_id == storage_id, job.c.kind == kind)
    ).first()
    if row is None:
        raise JobRefused(f"storage {storage_id} is not registered")
    if row.deleting:
        raise JobRefused(f"storage {storage_id} is being deleted")
    current = holder(conn, lease_name(kind, storage_id))
    if current is not None and current.startswith("queued:"):  # storfleet.jobs.queue
        raise JobRefused(f"a {kind} of storage {storage_id} is already queued")
    if current is not None:
        raise JobRefused(f"storage {storage_id} is already running a {kind}")
    if row.requested_at is not None:
        raise JobRefused(f"a {kind} of storage {storage_id} is already queued")
    conn.execute(
        sa.update(job)
        .where(job.c.storage_id == storage_id, job.c.kind == kind)
        .values(requested_at=utcnow())
    )
    if kind == SYNC:
        conn.execute(
            sa.update(storage).where(storage.c.id == storage_id).values(sync_status="SYNCING")
        )


def due_jobs(
    conn: sa.Connection,
    now: datetime,
    limit: int = 100,
    kinds: tuple[str, ...] | None = None,
    *,
    storage_ids: tuple[str, ...] | None = None,
    include_leased: bool = False,
) -> list[DueJob]:
    """Jobs to start: requested, or due on a storage that is not paused; never one whose
    lease is held (it is running somewhere), unless ``include_leased`` (the caller holds
    it)."""
    conditions = [
        storage.c.deleting.is_(False),
        sa.or_(
            job.c.requested_at.is_not(None),
            sa.and_(job.c.due_at <= now, storage.c.paused.is_(False)),
        ),
        job.c.kind.in_(kinds or JOB_KINDS),
    ]
    if not include_leased:
        running = sa.select(lease.c.name).where(lease.c.expires_at >= now)
        conditions.append((job.c.kind + sa.literal(":") + job.c.storage_id).not_in(running))
    if storage_ids is not None:
        conditions.append(job.c.storage_id.in_(storage_ids))
    rows = conn.execute(
        sa.select(job.c.storage_id, job.c.kind, job.c.due_at, job.c.requested_at)
        .join(storage, storage.c.id == job.c.storage_id)
        .where(*conditions)
        .order_by(job.c.requested_at.is_(None), job.c.due_at)
        .limit(limit)
    )
    return [DueJob(r.storage_id, r.kind, r.due_at, r.requested_at is not None) for r in rows]


def mark_started(conn: sa.Connection, storage_id: str, kind: str) -> bool:
    """Record the start; True when the run was asked for (its request is consumed)."""
    asked = conn.execute(
        sa.select(job.c.requested_at).where(job.c.storage_id == storage_id, job.c.kind == kind)
    ).scalar()
    conn.execute(
        sa.update(job)
        .where(job.c.storage_id == storage_id, job.c.kind == kind)
        .values(last_started_at=utcnow(), requested_at=None)
    )
    return asked is not None


def mark_finished(
    conn: sa.Connection,
    settings: Settings,
    storage_id: str,
    kind: str,
    *,
    status: str,
    error: str | None,
    every_s: float | None = None,
    retry_at: datetime | None = None,
    asked: bool = False,
) -> None:
    """Record the run and set the next due time, keeping the cadence: the next run is one
    interval after the due time just served (or after now, if that is already past). A
    run ``asked`` for (``mark_started`` says so) before its periodic due time served none:
    the due time stays.

    ``every_s`` is the interval when the job knows better than the settings (a storage's
    collection interval); ``retry_at`` sets the next due time outright (a back-off)."""
    row = conn.execute(
        sa.select(job.c.due_at, storage.c.sync_interval_s)
        .join(storage, storage.c.id == job.c.storage_id)
        .where(job.c.storage_id == storage_id, job.c.kind == kind)
    ).first()
    if row is None:  # the storage was removed meanwhile
        return
    now = utcnow()
    storage_interval = row.sync_interval_s if kind == SYNC else None
    step = timedelta(seconds=every_s or interval_s(settings, kind, storage_interval))
    if asked and row.due_at > now:
        next_due = row.due_at  # an extra run: the periodic one still comes
    else:
        next_due = row.due_at + step
        if next_due <= now:
            next_due = now + step
    if retry_at is not None:
        next_due = retry_at
    conn.execute(
        sa.update(job)
        .where(job.c.storage_id == storage_id, job.c.kind == kind)
        .values(
            last_finished_at=now,
            last_status=status,
            last_error=error,
            due_at=next_due,
            runs=job.c.runs + 1,
        )
    )


def _syncing_without_lease(now: datetime) -> sa.ColumnElement[bool]:
    lease_key = sa.literal(f"{SYNC}:") + storage.c.id
    live = sa.select(lease.c.name).where(lease.c.expires_at >= now)
    return sa.and_(storage.c.sync_state == "syncing", lease_key.not_in(live))


def interrupted(conn: sa.Connection, now: datetime) -> list[str]:
    """Storages shown as syncing whose sync lease is gone: their worker died."""
    return list(
        conn.execute(sa.select(storage.c.id).where(_syncing_without_lease(now))).scalars()
    )


def mark_interrupted(conn: sa.Connection, storage_ids: list[str], now: datetime) -> list[str]:
    """Mark those syncs failed, so nothing shows as syncing when nothing runs. Their job is
    still due, so it runs again. The check is repeated in the UPDATE itself: a sync that
    took the lease meanwhile (on another node, PostgreSQL has no database-wide write lock)
    is left alone."""
    asked = set(storage_ids)
    stuck = [sid for sid in interrupted(conn, now) if sid in asked]
    if stuck:
        queued = sa.select(job.c.storage_id).where(
            job.c.storage_id == storage.c.id, job.c.requested_at.is_not(None)
        )
        result = conn.execute(
            sa.update(storage)
            .where(storage.c.id.in_(stuck), _syncing_without_lease(now))
            .returning(storage.c.id)
            .values(
                # Delfin's status stays SYNCING while a run is still queued.
                sync_status=sa.case((queued.exists(), "SYNCING"), else_="SYNCED"),
                sync_state="failed",
                sync_error="interrupted: the worker running the sync stopped (lease expired)",
            )
        )
        stuck = list(result.scalars())
    return stuck
