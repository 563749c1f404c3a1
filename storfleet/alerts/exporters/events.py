"""Reading the event outbox and rendering alerts the way every exporter sends them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storfleet.store import write
from storfleet.store.schema import alert, alert_event, alert_export, storage
from storfleet.store.types import utcnow

SCHEMA_VERSION = 1
ALERT_FIELDS = ("alert_id", "alert_name", "severity", "category", "type", "description",
                "recovery_advice", "resource_type", "location", "match_key", "serial_number",
                "source", "transport_address", "state", "count", "cleared_by", "clear_type",
                "acknowledged_by")
TIMES = ("occur_time", "first_seen", "last_seen", "cleared_at", "acknowledged_at")


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    at: datetime
    count: int
    alert: dict[str, Any]


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_json(row: Any, storage_name: str | None = None) -> dict[str, Any]:
    """An alert as every exporter shows it (no internal keys, ISO 8601 UTC times)."""
    m = row._mapping if hasattr(row, "_mapping") else row
    body = {"id": m["id"], "storage_id": m["storage_id"], "storage_name": storage_name}
    body.update({k: m[k] for k in ALERT_FIELDS})
    body.update({k: iso(m[k]) for k in TIMES})
    body["sequence_numbers"] = list(m["sequence_numbers"] or ())[-10:]
    return body


def event_json(event: Event) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "event_id": event.id, "event": event.event,
            "at": iso(event.at), "occurrences": event.count, "alert": event.alert}


def read_events(conn: sa.Connection, cursor: int, limit: int) -> list[Event]:
    """Events after ``cursor``, oldest first, each with its alert as it is now."""
    rows = conn.execute(
        sa.select(alert_event.c.id.label("event_pk"), alert_event.c.event, alert_event.c.at,
                  alert_event.c.count.label("occurrences"), alert, storage.c.name.label("sn"))
        .join(alert, alert.c.id == alert_event.c.alert_ref)
        .outerjoin(storage, storage.c.id == alert.c.storage_id)
        .where(alert_event.c.id > cursor).order_by(alert_event.c.id).limit(limit)
    ).all()
    return [Event(r.event_pk, r.event, r.at, r.occurrences, alert_json(r, r.sn)) for r in rows]


def last_event_id(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(alert_event.c.id))).scalar() or 0)


def active_alerts(conn: sa.Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Not-cleared alerts by id (a page), for exporters that resend what is active."""
    rows = conn.execute(
        sa.select(alert, storage.c.name.label("sn"))
        .outerjoin(storage, storage.c.id == alert.c.storage_id)
        .where(alert.c.state.in_(("open", "acknowledged")), alert.c.id > after_id)
        .order_by(alert.c.id).limit(limit)
    ).all()
    return [alert_json(r, r.sn) for r in rows]


def alerts_by_id(conn: sa.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = conn.execute(
        sa.select(alert, storage.c.name.label("sn"))
        .outerjoin(storage, storage.c.id == alert.c.storage_id)
        .where(alert.c.id.in_(list(ids)))
    ).all()
    return [alert_json(r, r.sn) for r in rows]


def load_cursor(engine: sa.Engine, name: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(alert_export.c.cursor).where(alert_export.c.name == name)).scalar()


def save_cursor(engine: sa.Engine, name: str, cursor: int, error: str | None = None) -> None:
    with write(engine) as conn:
        updated = conn.execute(sa.update(alert_export).where(alert_export.c.name == name)
                               .values(cursor=cursor, updated_at=utcnow(), last_error=error)
                               ).rowcount
        if not updated:
            conn.execute(sa.insert(alert_export).values(name=name, cursor=cursor,
                                                        updated_at=utcnow(), last_error=error))


def start_cursor(engine: sa.Engine, name: str) -> int:
    """Where an exporter resumes: its saved cursor, or (first start) the newest event,
    so turning an exporter on does not replay the whole history."""
    saved = load_cursor(engine, name)
    if saved is not None:
        return saved
    with engine.connect() as conn:
        newest = last_event_id(conn)
    save_cursor(engine, name, newest)
    return newest
