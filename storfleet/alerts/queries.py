"""Reading and acting on stored alerts, for the API and the CLI (no HTTP here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storfleet.alerts.lifecycle import ACKNOWLEDGED, CLEARED, NOT_CLEARED, AlertStore
from storfleet.store import write
from storfleet.store.schema import alert, alert_event, alert_rule_state, storage

STATES = ("open", "acknowledged", "cleared")
# columns a client sees (the dedup key is internal)
PUBLIC_COLUMNS = tuple(c.name for c in alert.columns if c.name not in ("dedup_key",))


@dataclass(frozen=True)
class AlertFilter:
    storage_ids: Sequence[str] = ()
    unmatched: bool | None = None  # True: only traps that matched no storage
    severities: Sequence[str] = ()
    states: Sequence[str] = ()
    sources: Sequence[str] = ()
    begin: datetime | None = None  # last seen at or after
    end: datetime | None = None  # first seen at or before
    extra: dict[str, Any] = field(default_factory=dict)

    def clauses(self) -> list[sa.ColumnElement]:
        where: list[sa.ColumnElement] = []
        if self.storage_ids:
            where.append(alert.c.storage_id.in_(list(self.storage_ids)))
        if self.unmatched is True:
            where.append(alert.c.storage_id.is_(None))
        elif self.unmatched is False:
            where.append(alert.c.storage_id.is_not(None))
        if self.severities:
            where.append(alert.c.severity.in_(list(self.severities)))
        if self.states:
            where.append(alert.c.state.in_(list(self.states)))
        if self.sources:
            where.append(alert.c.source.in_(list(self.sources)))
        if self.begin is not None:
            where.append(alert.c.last_seen >= self.begin)
        if self.end is not None:
            where.append(alert.c.first_seen <= self.end)
        return where


def list_alerts(conn: sa.Connection, flt: AlertFilter, *, limit: int, offset: int = 0
                ) -> tuple[list[sa.Row], int]:
    """A page of alerts, newest activity first, and how many match in all."""
    where = flt.clauses()
    rows = conn.execute(
        sa.select(*[alert.c[n] for n in PUBLIC_COLUMNS]).where(*where)
        .order_by(alert.c.last_seen.desc(), alert.c.id.desc()).limit(limit).offset(offset)
    ).all()
    total = conn.execute(sa.select(sa.func.count()).select_from(alert).where(*where)).scalar()
    return rows, int(total or 0)


def get_alert(conn: sa.Connection, alert_pk: int) -> sa.Row | None:
    return conn.execute(
        sa.select(*[alert.c[n] for n in PUBLIC_COLUMNS]).where(alert.c.id == alert_pk)
    ).first()


def acknowledge(engine: sa.Engine, alert_pk: int, by: str) -> sa.Row | None:
    with write(engine) as conn:
        AlertStore().set_state(conn, alert_pk, ACKNOWLEDGED, by)
    with engine.connect() as conn:
        return get_alert(conn, alert_pk)


def clear(engine: sa.Engine, alert_pk: int, by: str) -> sa.Row | None:
    with write(engine) as conn:
        AlertStore().set_state(conn, alert_pk, CLEARED, by)
    with engine.connect() as conn:
        return get_alert(conn, alert_pk)


def clear_by_sequence_number(engine: sa.Engine, storage_id: str, sequence_number: str,
                             by: str) -> list[int]:
    """Delfin's ``DELETE /v1/storages/{id}/alerts/{sequence_number}``, after the driver's
    clear_alert succeeded: clear the stored alert(s) holding that sequence number."""
    needle = f'%"{_json_escape(sequence_number)}"%'
    with write(engine) as conn:
        holds = sa.type_coerce(alert.c.sequence_numbers, sa.Text).like(needle, escape="\\")
        ids = conn.execute(sa.select(alert.c.id).where(
            alert.c.storage_id == storage_id, alert.c.state.in_(NOT_CLEARED), holds)
        ).scalars().all()
        return AlertStore().clear_rows(conn, ids, by, clear_type="Manual")


def forget_storage(conn: sa.Connection, storage_id: str) -> int:
    """Delete a removed storage's alerts, their events and rule memory (call inside the
    removal's write transaction). Returns the alerts deleted."""
    conn.execute(sa.delete(alert_event).where(alert_event.c.storage_id == storage_id))
    conn.execute(sa.delete(alert_rule_state).where(alert_rule_state.c.storage_id == storage_id))
    return conn.execute(sa.delete(alert).where(alert.c.storage_id == storage_id)).rowcount


def prune(engine: sa.Engine, alert_retention_s: float, event_retention_s: float) -> int:
    """Delete cleared alerts older than the retention, and old outbox events."""
    now = datetime.now(UTC)
    with write(engine) as conn:
        conn.execute(sa.delete(alert_event).where(
            alert_event.c.at < now - _seconds(event_retention_s)))
        return conn.execute(sa.delete(alert).where(
            alert.c.state == CLEARED,
            alert.c.cleared_at < now - _seconds(alert_retention_s))).rowcount


def storage_names(conn: sa.Connection, ids: set[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(storage.c.id, storage.c.name).where(storage.c.id.in_(ids)))
    return {r.id: r.name for r in rows}


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _json_escape(text: str) -> str:
    return json.dumps(str(text))[1:-1].replace("%", "\\%").replace("_", "\\_")
