"""Polling: read a storage's current alerts with list_alerts and reconcile.

New ones are stored (a repeat of an occurrence already stored only moves last_seen); open
alerts this polling raised that the array no longer reports are cleared. Alerts a trap
or a rule raised are left alone: an array's list need not repeat its traps. The
``poll:<storage>`` lease keeps two polls of one storage apart on any node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from storfleet.alerts.lifecycle import NOT_CLEARED, AlertStore, IncomingAlert, dedup_key
from storfleet.drivers import exception
from storfleet.fleet.manager import DriverManager
from storfleet.jobs.leases import Lease, lease_name, new_owner, try_acquire
from storfleet.resources import ALERT, KindValidator, RecordRejected
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import alert

log = logging.getLogger(__name__)

POLL = "poll"
GONE = "poll: no longer reported by the array"


@dataclass
class PollOutcome:
    status: str  # ok / failed / not_supported / skipped
    error: str | None = None
    reported: int = 0
    raised: int = 0
    cleared: int = 0
    rejected: int = 0


def poll_storage(db: Database, manager: DriverManager, storage_id: str,
                 store: AlertStore | None = None, *, owner: str | None = None) -> PollOutcome:
    """Poll one storage now (blocking). StorageGone propagates to the caller. With
    ``owner``, the caller holds the lease and releases it (as for ``sync_storage``)."""
    caller_holds = owner is not None
    owner = owner or new_owner(POLL)
    name = lease_name(POLL, storage_id)
    if not try_acquire(db.engine, name, owner, db.settings.lease_s):
        return PollOutcome("skipped")
    with Lease(db.engine, name, owner, db.settings.lease_s, release=not caller_holds) as lease:
        cached = manager.get(storage_id)
        if "list_alerts" not in type(cached.driver).supported_features():
            return PollOutcome("not_supported")
        try:
            records = list(manager.call(storage_id, "list_alerts", None) or ())
        except exception.NotSupported:
            return PollOutcome("not_supported")
        except Exception as exc:
            category = exception.category_of(exc)
            log.warning("polling alerts of storage %s failed (%s): %s", storage_id, category,
                        exc)
            return PollOutcome("failed", f"{category}: {exc}")
        validator = KindValidator(ALERT, cached.name)
        incoming, rejected = [], 0
        for record in records:
            try:
                fields = validator.validate(record).record
            except RecordRejected as exc:
                rejected += 1
                log.warning("storage %s: polled alert skipped: %s", storage_id, exc)
                continue
            incoming.append(IncomingAlert(storage_id, fields, "poll"))
        store = store or AlertStore()
        with write(db.engine) as conn:
            lease.fence(conn)
            result = store.ingest(conn, incoming)
            current = {dedup_key(storage_id, None, a.fields) for a in incoming
                       if a.fields.get("category") != "Recovery"}
            stale = [r.id for r in conn.execute(
                sa.select(alert.c.id, alert.c.dedup_key).where(
                    alert.c.storage_id == storage_id, alert.c.source == "poll",
                    alert.c.state.in_(NOT_CLEARED)))
                if r.dedup_key not in current]
            cleared = store.clear_rows(conn, stale, GONE)
    return PollOutcome("ok", None, len(records), len(result.raised),
                       len(cleared) + len(result.cleared), rejected)
