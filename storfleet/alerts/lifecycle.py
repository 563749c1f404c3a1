"""The stored alert lifecycle: new alerts, duplicates, recoveries, acknowledge, clear.

Every alert, whether a trap, a poll or a rule raised it, goes through ``ingest``: one
write transaction per batch that

* counts a duplicate (same storage + alert id + resource type + location while not
  cleared) on the open row instead of adding a row: count + 1, last_seen, its sequence
  number appended (a polled alert seen again with a sequence number already stored is
  the same occurrence: only last_seen moves);
* lets a recovery (category Recovery) clear the open alert it answers: the one with its
  match key when it has one, else the one with its own identity; the recovery itself is
  kept, already cleared, as history;
* writes one row per change to the ``alert_event`` outbox, which the exporters read.

Open rows of a batch are read once up front by their dedup keys, and new rows are
inserted in bulk with ids taken ahead (``_allocate_ids``), so a batch of thousands of
traps is a handful of statements. On PostgreSQL an advisory lock serialises ingests
(SQLite's write lock already does), so two writers never open the same alert twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storfleet.store.bulk import insert_rows
from storfleet.store.schema import alert, alert_event
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

OPEN, ACKNOWLEDGED, CLEARED = "open", "acknowledged", "cleared"
NOT_CLEARED = (OPEN, ACKNOWLEDGED)
RECOVERY = "Recovery"
RAISED, REPEATED, ACKED, CLEARED_EVENT = "raised", "repeated", "acknowledged", "cleared"
_ADVISORY_KEY = 0x5F0A1E27  # "storfleet alerts"

ALERT_COLUMNS = (
    "id", "storage_id", "alert_id", "alert_name", "severity", "category", "type",
    "description", "recovery_advice", "resource_type", "location", "match_key",
    "serial_number", "sequence_numbers", "source", "transport_address", "state", "count",
    "occur_time", "first_seen", "last_seen", "cleared_at", "cleared_by", "dedup_key",
    "clear_type", "varbinds", "updated_at",
)
EVENT_COLUMNS = ("alert_ref", "storage_id", "event", "at", "count")
_LIMITS = {"severity": 16, "category": 16, "type": 48, "resource_type": 32}


@dataclass(slots=True)
class IncomingAlert:
    """An alert to store: the driver's fields (validated), where it came from."""

    storage_id: str | None
    fields: dict[str, Any]
    source: str  # trap / poll / rule
    transport_address: str | None = None
    varbinds: dict[str, str] | None = None
    received_at: float | None = None  # time.monotonic() at receipt, for latency


@dataclass
class IngestResult:
    raised: list[int] = field(default_factory=list)
    repeated: int = 0
    cleared: list[int] = field(default_factory=list)
    stored: int = 0


def dedup_key(storage_id: str | None, transport_address: str | None, fields: dict) -> str:
    """Identity of "the same alert": storage (or, unmatched, the sender), alert id,
    resource type and location."""
    owner = storage_id or f"unmatched:{transport_address or ''}"
    text = "\x1f".join(
        (owner, str(fields.get("alert_id") or ""), str(fields.get("resource_type") or ""),
         str(fields.get("location") or ""))
    )
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def epoch_ms_to_datetime(value: Any) -> datetime | None:
    try:
        ms = int(value)
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _short(name: str, value: Any) -> Any:
    if value is None:
        return None
    text = str(value)
    limit = _LIMITS.get(name)
    return text[:limit] if limit else text


@dataclass(slots=True)
class _Row:
    """A not-cleared alert row as the batch sees it (loaded, or new in this batch)."""

    id: int | None
    storage_id: str | None
    dedup_key: str
    match_key: str | None
    count: int
    sequence_numbers: list[str]
    state: str
    new_values: dict[str, Any] | None = None  # set for rows this batch inserts
    repeats: int = 0
    last_seen: datetime | None = None
    touched: bool = False
    cleared_by: str | None = None


class AlertStore:
    """Stores alerts; stateless apart from its settings, safe from any thread."""

    def __init__(self, max_sequence_numbers: int = 1000) -> None:
        self.max_sequence_numbers = max_sequence_numbers

    # -- ingest -------------------------------------------------------------------------
    def ingest(self, conn: sa.Connection, incoming: Sequence[IncomingAlert],
               now: datetime | None = None) -> IngestResult:
        """Store a batch inside the caller's write transaction (``store.write``)."""
        result = IngestResult()
        if not incoming:
            return result
        now = now or utcnow()
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
        keyed = [(dedup_key(a.storage_id, a.transport_address, a.fields), a) for a in incoming]
        by_key, by_match = self._load_open(conn, keyed)
        inserts: list[_Row] = []
        history: list[dict[str, Any]] = []  # recoveries, stored already cleared
        cleared: list[_Row] = []
        for key, item in keyed:
            fields = item.fields
            if fields.get("category") == RECOVERY:
                targets = self._targets(item, key, by_key, by_match)
                label = f"recovery {fields.get('alert_id')}"
                seq = fields.get("sequence_number")
                label += f" #{seq}" if seq else ""
                for row in targets:
                    row.state, row.cleared_by = CLEARED, label
                    by_key.pop(row.dedup_key, None)
                    if row.match_key:
                        rows = by_match.get((row.storage_id, row.match_key), [])
                        if row in rows:
                            rows.remove(row)
                    cleared.append(row)
                history.append(self._values(item, key, now, state=CLEARED,
                                            cleared_by="itself (a recovery)"))
                continue
            row = by_key.get(key)
            if row is None:
                values = self._values(item, key, now, state=OPEN)
                row = _Row(None, item.storage_id, key, values["match_key"], 1,
                           values["sequence_numbers"], OPEN, new_values=values)
                by_key[key] = row
                if row.match_key:
                    by_match.setdefault((row.storage_id, row.match_key), []).append(row)
                inserts.append(row)
                continue
            self._repeat(row, item, now)
        stored_rows = [r.new_values for r in inserts if r.state != CLEARED] + history
        # a row raised and cleared within this batch is inserted as cleared
        for row in inserts:
            if row.state == CLEARED and row.new_values is not None:
                row.new_values.update(state=CLEARED, cleared_at=now, cleared_by=row.cleared_by,
                                      clear_type="Automatic")
                stored_rows.append(row.new_values)
        ids = _allocate_ids(conn, len(stored_rows))
        for values, new_id in zip(stored_rows, ids, strict=True):
            values["id"] = new_id
        for row in inserts:
            row.id = row.new_values["id"] if row.new_values else row.id
        insert_rows(conn, alert, ALERT_COLUMNS,
                    [tuple(v[c] for c in ALERT_COLUMNS) for v in stored_rows])
        events: list[tuple] = []
        for row in inserts:
            events.append((row.id, row.storage_id, RAISED, now, 1))
            result.raised.append(row.id)  # type: ignore[arg-type]
        self._write_repeats(conn, by_key, inserts, cleared, now, events, result)
        self._write_clears(conn, [r for r in cleared if r.new_values is None], now, events)
        for row in cleared:
            events.append((row.id, row.storage_id, CLEARED_EVENT, now, 1))
            result.cleared.append(row.id)  # type: ignore[arg-type]
        insert_rows(conn, alert_event, EVENT_COLUMNS, events)
        result.stored = len(incoming)
        return result

    def _load_open(self, conn: sa.Connection, keyed: list[tuple[str, IncomingAlert]]):
        keys = {k for k, _ in keyed}
        matches = {(a.storage_id, a.fields.get("match_key")) for _, a in keyed
                   if a.fields.get("category") == RECOVERY and a.fields.get("match_key")}
        by_key: dict[str, _Row] = {}
        by_match: dict[tuple[str | None, str], list[_Row]] = {}
        columns = (alert.c.id, alert.c.storage_id, alert.c.dedup_key, alert.c.match_key,
                   alert.c.count, alert.c.sequence_numbers, alert.c.state)
        found: dict[int, _Row] = {}
        key_list = sorted(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start : start + 500]
            for r in conn.execute(sa.select(*columns).where(
                    alert.c.dedup_key.in_(chunk), alert.c.state.in_(NOT_CLEARED))):
                found[r.id] = _Row(r.id, r.storage_id, r.dedup_key, r.match_key, r.count,
                                   list(r.sequence_numbers or ()), r.state)
        match_list = sorted(m for _, m in matches)
        for start in range(0, len(match_list), 500):
            chunk = match_list[start : start + 500]
            for r in conn.execute(sa.select(*columns).where(
                    alert.c.match_key.in_(chunk), alert.c.state.in_(NOT_CLEARED))):
                if (r.storage_id, r.match_key) in matches and r.id not in found:
                    found[r.id] = _Row(r.id, r.storage_id, r.dedup_key, r.match_key, r.count,
                                       list(r.sequence_numbers or ()), r.state)
        for row in sorted(found.values(), key=lambda r: r.id):
            by_key.setdefault(row.dedup_key, row)
            if row.match_key:
                by_match.setdefault((row.storage_id, row.match_key), []).append(row)
        return by_key, by_match

    @staticmethod
    def _targets(item: IncomingAlert, key: str, by_key: dict[str, _Row],
                 by_match: dict[tuple[str | None, str], list[_Row]]) -> list[_Row]:
        match_key = item.fields.get("match_key")
        if match_key:
            return list(by_match.get((item.storage_id, match_key), ()))
        row = by_key.get(key)
        return [row] if row is not None else []

    def _values(self, item: IncomingAlert, key: str, now: datetime, *, state: str,
                cleared_by: str | None = None) -> dict[str, Any]:
        f = item.fields
        seq = f.get("sequence_number")
        return {
            "id": None,
            "storage_id": item.storage_id,
            "alert_id": str(f.get("alert_id") or "unknown"),
            "alert_name": f.get("alert_name"),
            "severity": _short("severity", f.get("severity")),
            "category": _short("category", f.get("category")),
            "type": _short("type", f.get("type")),
            "description": f.get("description"),
            "recovery_advice": f.get("recovery_advice"),
            "resource_type": _short("resource_type", f.get("resource_type")),
            "location": f.get("location"),
            "match_key": f.get("match_key"),
            "serial_number": f.get("serial_number"),
            "sequence_numbers": [str(seq)] if seq not in (None, "") else [],
            "source": item.source,
            "transport_address": item.transport_address,
            "state": state,
            "count": 1,
            "occur_time": epoch_ms_to_datetime(f.get("occur_time")) or now,
            "first_seen": now,
            "last_seen": now,
            "cleared_at": now if state == CLEARED else None,
            "cleared_by": cleared_by,
            "dedup_key": key,
            "clear_type": "Automatic" if state == CLEARED else None,
            "varbinds": item.varbinds,
            "updated_at": now,
        }

    def _repeat(self, row: _Row, item: IncomingAlert, now: datetime) -> None:
        seq = item.fields.get("sequence_number")
        seq = str(seq) if seq not in (None, "") else None
        known = seq is not None and seq in row.sequence_numbers
        row.last_seen = now
        row.touched = True
        if item.source == "poll" and known:
            return  # the array reports the same occurrence again
        row.repeats += 1
        row.count += 1
        if seq is not None and not known:
            row.sequence_numbers.append(seq)
            if len(row.sequence_numbers) > self.max_sequence_numbers:
                del row.sequence_numbers[: -self.max_sequence_numbers]
        if row.new_values is not None:
            row.new_values.update(count=row.count, sequence_numbers=row.sequence_numbers,
                                  last_seen=now)

    @staticmethod
    def _write_repeats(conn, by_key, inserts, cleared, now, events, result) -> None:
        result.repeated += sum(r.repeats for r in inserts)
        rows = [r for r in {id(r): r for r in [*by_key.values(), *cleared]}.values()
                if r.touched and r.new_values is None]
        if not rows:
            return
        conn.execute(
            sa.update(alert)
            .where(alert.c.id == sa.bindparam("row_id"))
            .values(count=sa.bindparam("new_count"), last_seen=sa.bindparam("seen"),
                    sequence_numbers=sa.bindparam("seqs"), updated_at=sa.bindparam("seen")),
            [{"row_id": r.id, "new_count": r.count, "seen": r.last_seen,
              "seqs": r.sequence_numbers} for r in rows],
        )
        for r in rows:
            if r.repeats:
                events.append((r.id, r.storage_id, REPEATED, now, r.repeats))
                result.repeated += r.repeats

    @staticmethod
    def _write_clears(conn, rows: list[_Row], now: datetime, events) -> None:
        if not rows:
            return
        conn.execute(
            sa.update(alert)
            .where(alert.c.id == sa.bindparam("row_id"))
            .values(state=CLEARED, cleared_at=now, cleared_by=sa.bindparam("by"),
                    clear_type="Automatic", updated_at=now),
            [{"row_id": r.id, "by": r.cleared_by} for r in rows],
        )

    # -- operator actions and reconciliation --------------------------------------------
    def set_state(self, conn: sa.Connection, alert_pk: int, state: str, by: str,
                  clear_type: str = "Manual") -> sa.Row | None:
        """Acknowledge or clear one stored alert (idempotent); None when it does not
        exist. Clearing an acknowledged alert is allowed; acknowledging a cleared one
        leaves it cleared."""
        row = conn.execute(sa.select(alert).where(alert.c.id == alert_pk)).first()
        if row is None:
            return None
        now = utcnow()
        if state == ACKNOWLEDGED and row.state == OPEN:
            conn.execute(sa.update(alert).where(alert.c.id == alert_pk).values(
                state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by, updated_at=now))
            self._event(conn, row, ACKED, now)
        elif state == CLEARED and row.state != CLEARED:
            conn.execute(sa.update(alert).where(alert.c.id == alert_pk).values(
                state=CLEARED, cleared_at=now, cleared_by=by, clear_type=clear_type,
                updated_at=now))
            self._event(conn, row, CLEARED_EVENT, now)
        return conn.execute(sa.select(alert).where(alert.c.id == alert_pk)).first()

    def clear_rows(self, conn: sa.Connection, ids: Iterable[int], by: str,
                   clear_type: str = "Automatic") -> list[int]:
        """Clear these rows if still not cleared (a poll's reconciliation, a rule)."""
        now = utcnow()
        ids = list(ids)
        if not ids:
            return []
        rows = conn.execute(sa.select(alert.c.id, alert.c.storage_id).where(
            alert.c.id.in_(ids), alert.c.state.in_(NOT_CLEARED))).all()
        if not rows:
            return []
        conn.execute(sa.update(alert).where(alert.c.id.in_([r.id for r in rows])).values(
            state=CLEARED, cleared_at=now, cleared_by=by, clear_type=clear_type,
            updated_at=now))
        insert_rows(conn, alert_event, EVENT_COLUMNS,
                    [(r.id, r.storage_id, CLEARED_EVENT, now, 1) for r in rows])
        return [r.id for r in rows]

    @staticmethod
    def _event(conn: sa.Connection, row: Any, event: str, now: datetime) -> None:
        insert_rows(conn, alert_event, EVENT_COLUMNS, [(row.id, row.storage_id, event, now, 1)])


def _allocate_ids(conn: sa.Connection, n: int) -> list[int]:
    """``n`` fresh alert ids, taken before a bulk insert (COPY returns none). PostgreSQL
    draws them from the id sequence; on SQLite the caller holds the write lock, so the
    next ids after the current maximum are ours."""
    if n == 0:
        return []
    if conn.dialect.name == "postgresql":
        return list(conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('alert', 'id')) "
                    "FROM generate_series(1, :n)"), {"n": n}).scalars())
    top = conn.execute(sa.select(sa.func.max(alert.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + n))
