"""One collection of one storage: capabilities, windows, driver calls, validation, sinks.

Runs in a job worker thread (never on the event loop), under the storage's
``collect:<id>`` lease so two collections of a storage never overlap on any node. Each
window is stored in one transaction together with the advance of the storage's
high-water mark (fenced by the lease), so a crash never loses or doubles a window; only
then does it reach the latest values and Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.fleet.manager import DriverManager, StorageGone
from storfleet.jobs import schedule
from storfleet.jobs.leases import Lease, lease_name, new_owner, try_acquire
from storfleet.metrics import history, kafka, state, windows
from storfleet.metrics.batch import label
from storfleet.metrics.capabilities import CollectionPlan, needs_refresh, plan_for
from storfleet.metrics.latest import latest_store
from storfleet.metrics.vocabulary import usable_series, validate_capabilities
from storfleet.store import access_infos, write
from storfleet.store.database import Database
from storfleet.store.schema import storage
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

# Prune a storage's history at most this often (it deletes what aged out since).
PRUNE_EVERY_S = 600.0


@dataclass(frozen=True)
class CollectOutcome:
    status: str  # ok / failed / not_supported / skipped
    error: str | None = None
    interval_s: int | None = None  # the storage's collection interval
    retry_at: datetime | None = None  # when a failed collection is tried again
    windows: int = 0
    samples: int = 0
    lost_windows: int = 0


def describe(exc: BaseException) -> str:
    return f"{exception.category_of(exc)}: {exc}"


def collect_storage(
    db: Database,
    manager: DriverManager,
    storage_id: str,
    *,
    now_ms: int | None = None,
    owner: str | None = None,
) -> CollectOutcome:
    """Collect everything due for a storage up to ``now_ms`` (default: now). With
    ``owner``, the caller holds the lease and releases it (as for ``sync_storage``)."""
    settings = db.settings
    caller_holds = owner is not None
    name, owner = lease_name(schedule.COLLECT, storage_id), owner or new_owner("collect")
    if not try_acquire(db.engine, name, owner, settings.lease_s):
        return CollectOutcome("skipped", "another collection of this storage is running")
    with Lease(db.engine, name, owner, settings.lease_s, release=not caller_holds) as lease:
        return _Collection(db, manager, storage_id, lease).run(now_ms)


class _Collection:
    def __init__(self, db: Database, manager: DriverManager, storage_id: str, lease: Lease):
        self.db, self.manager, self.storage_id, self.lease = db, manager, storage_id, lease
        self.settings = db.settings

    def run(self, now_ms: int | None) -> CollectOutcome:
        engine, sid = self.db.engine, self.storage_id
        with engine.connect() as conn:
            record = conn.execute(
                sa.select(storage.c.id, storage.c.name, storage.c.serial_number,
                          storage.c.deleting).where(storage.c.id == sid)
            ).first()
            version = access_infos.version_of(conn, sid)
        if record is None or record.deleting or version is None:
            return CollectOutcome("skipped", "the storage is not registered")
        with engine.connect() as conn:
            row = state.load(conn, sid)
        if row is None:
            with write(engine) as conn:
                state.ensure(conn, sid)
                row = state.load(conn, sid) or {}
        at = utcnow()
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        caps = row.get("capabilities")
        if needs_refresh(row, version, at, self.settings):
            try:
                caps = self.manager.call(sid, "get_capabilities")
            except StorageGone:
                raise
            except Exception as exc:
                if exception.category_of(exc) == exception.NotSupported.category:
                    return self._not_supported(row, at, describe(exc))
                return self._failed(row, at, f"get_capabilities: {describe(exc)}", plan=None)
            caps = self._keep_capabilities(row, caps, at, version)
        plan = plan_for(row, caps, self.settings)
        if plan.empty:
            problems = row.get("capability_problems") or []
            reason = "the driver declares no metric storfleet knows" + (
                f" ({problems[0]}{' ...' if len(problems) > 1 else ''})" if problems else ""
            )
            return self._not_supported(row, at, reason, plan)
        return self._collect(row, record._mapping, caps, plan, now_ms, at)

    def _keep_capabilities(self, row: dict[str, Any], caps: Any, at: datetime,
                           version: int) -> Any:
        problems = validate_capabilities(caps)
        if problems:
            log.warning("storage %s: its driver's capabilities have %d problem(s): %s",
                        self.storage_id, len(problems), "; ".join(problems[:5]))
        stored = caps if isinstance(caps, Mapping) else None
        values = {"capabilities": stored, "capability_problems": problems or None,
                  "capabilities_at": at, "capabilities_version": version}
        with write(self.db.engine) as conn:
            state.update(conn, self.storage_id, **values)
        row.update(values)
        return stored

    def _collect(self, row: dict[str, Any], record: Mapping[str, Any], caps: Any,
                 plan: CollectionPlan, now_ms: int, at: datetime) -> CollectOutcome:
        engine, sid, settings = self.db.engine, self.storage_id, self.settings
        todo = windows.plan(
            row.get("collected_until_ms"), now_ms,
            retention_ms=plan.retention_s * 1000, interval_ms=plan.interval_s * 1000,
            max_window_ms=int(settings.collect_max_window_s * 1000),
        )
        lost_windows = 0
        if todo.lost is not None:
            with write(engine) as conn:
                self.lease.fence(conn)
                lost_windows = state.record_lost(conn, sid, row, todo.lost,
                                                 plan.interval_s * 1000)
            log.warning("storage %s: %d ms of metrics lost (%d..%d): out of the array's "
                        "%d s retention", sid, todo.lost[1] - todo.lost[0] + 1, *todo.lost,
                        plan.retention_s)
        known = history.known_series(engine)
        latest = latest_store(engine)
        exporter = kafka.exporter_for(settings)
        samples = 0
        rolled = row.get("rolled_until_ms")
        for number, (start, end) in enumerate(todo.chunks, 1):
            try:
                answer = self.manager.call(
                    sid, "collect_perf_metrics", sid, plan.resource_metrics, start, end
                )
            except StorageGone:  # removed meanwhile: nothing to record
                raise
            except Exception as exc:
                return self._failed(row, at, f"collect_perf_metrics: {describe(exc)}", plan,
                                    lost_windows=lost_windows)
            usable, problems, rejected = usable_series(answer, caps, start, end)
            if problems:
                log.warning("storage %s: %d problem(s) in collected metrics, e.g. %s",
                            sid, len(problems), problems[0])
            batch = label(record, usable, start, end, time.time())
            with write(engine) as conn:
                self.lease.fence(conn)
                written = history.write_batch(conn, batch, known)
                state.record_window(conn, sid, end_ms=end, last_sample_ms=batch.last_sample_ms,
                                    samples=batch.samples, rejected=rejected, problems=problems)
                rolled = history.roll_up(conn, sid, end, rolled, first_ms=start)
                state.update(conn, sid, rolled_until_ms=rolled)
                if number == len(todo.chunks):  # one transaction less per collection
                    self._succeeded(conn, row, now_ms)
            known.remember(sid, written)
            latest.update(batch)
            if exporter is not None:
                exporter.publish(batch)
            samples += batch.samples
        if not todo.chunks:
            with write(engine) as conn:
                self._succeeded(conn, row, now_ms)
        return CollectOutcome("ok", None, plan.interval_s, None, len(todo.chunks), samples,
                              lost_windows)

    def _succeeded(self, conn: sa.Connection, row: dict[str, Any], now_ms: int) -> None:
        finished = utcnow()
        state.record_success(conn, self.storage_id, at=finished)
        pruned = row.get("pruned_at")
        if pruned is None or finished - pruned >= timedelta(seconds=PRUNE_EVERY_S):
            history.prune(conn, self.storage_id, now_ms, self.settings)
            state.update(conn, self.storage_id, pruned_at=finished)

    def _failed(self, row: dict[str, Any], at: datetime, error: str,
                plan: CollectionPlan | None, lost_windows: int = 0) -> CollectOutcome:
        settings = self.settings
        interval = plan.interval_s if plan else int(settings.collect_interval_s)
        retention = plan.retention_s if plan else interval
        failures = int(row.get("failures") or 0) + 1
        delay = windows.retry_delay_s(failures, base_s=settings.collect_retry_s,
                                      max_s=settings.collect_retry_max_s, retention_s=retention)
        retry_at = utcnow() + timedelta(seconds=delay)
        with write(self.db.engine) as conn:
            state.record_failure(conn, self.storage_id, at=at, retry_at=retry_at, error=error)
        log.warning("storage %s: collection failed (%d in a row), retry in %.3g s: %s",
                    self.storage_id, failures, delay, error)
        return CollectOutcome("failed", error, interval, retry_at, lost_windows=lost_windows)

    def _not_supported(self, row: dict[str, Any], at: datetime, reason: str,
                       plan: CollectionPlan | None = None) -> CollectOutcome:
        with write(self.db.engine) as conn:
            state.update(conn, self.storage_id, last_attempt_at=at, last_error=reason)
        interval = plan.interval_s if plan else int(self.settings.collect_interval_s)
        return CollectOutcome("not_supported", reason, interval)
