"""Applying one kind's records to the store.

The driver's records are streamed in chunks: each record is validated, keyed by its native
id and compared with the stored row by fingerprint (a dict lookup: O(n) in all). New and
changed rows are written to connection-local TEMPORARY tables in bounded batches, which
never take the database's write lock. Only when the whole kind has been read does one short
transaction swap it in: INSERT ... SELECT, UPDATE ... FROM, DELETE ... IN, the change rows
and the kind's sync state, fenced by the sync's lease. So a crash, an exception or a
timeout before that transaction leaves the kind's previous inventory intact, and on SQLite
other writers (alerts, API calls) wait at most for the swap, not for the driver.
"""

from __future__ import annotations

import operator
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from storfleet.jobs.leases import Lease
from storfleet.resources import Kind, KindValidator, RecordRejected
from storfleet.store.bulk import db_value, fetch_tuples, insert_rows
from storfleet.store.engine import immediate
from storfleet.store.schema import change as change_table
from storfleet.store.schema import table_for
from storfleet.store.types import utcnow
from storfleet.sync.fingerprint import fingerprinter
from storfleet.sync.ids import RunIds
from storfleet.sync.state import upsert_kind_state

STAGE_BATCH = 5000
READBACK_BATCH = 500
MAX_SAMPLES = 20
# Serialises the tail of every transaction that writes change rows on PostgreSQL, so ids
# become visible in id order and a reader's cursor never skips a late commit.
CHANGE_FEED_LOCK = 0x5F0C_4A7E
CHANGE_COLUMNS = ("storage_id", "kind", "native_id", "op", "fields", "at")


class KindFailed(Exception):
    """The kind could not be applied; its previous inventory is kept."""


@dataclass
class KindOutcome:
    kind: str
    status: str = "synced"  # synced / failed / not_supported
    added: int = 0
    changed: int = 0
    removed: int = 0
    total: int = 0
    rejected: int = 0
    warnings: int = 0
    sample_warnings: list[str] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    # For the cross-kind reference check: the native ids this kind holds, and the values
    # its reference fields point at, per (field, target kind).
    native_ids: set[Any] = field(default_factory=set)
    referenced: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        self.warnings += 1
        if len(self.sample_warnings) < MAX_SAMPLES:
            self.sample_warnings.append(message)


class Staging:
    """A kind's TEMPORARY staging tables.

    Temporary tables belong to one connection, so every kind has fixed names and one set
    of Table objects for the life of the process: SQLAlchemy then compiles each staging
    and swap statement once, not once per sync (at 18 kinds per sync and hundreds of
    arrays, compilation was most of a small sync's time). The tables are created if
    missing on the connection and emptied after use, never dropped.
    """

    def __init__(self, kind: Kind) -> None:
        target = table_for(kind)
        meta = sa.MetaData()
        self.rows = sa.Table(
            f"stage_{kind.name}",
            meta,
            *(sa.Column(c.name, c.type) for c in target.columns),
            sa.Column("op", sa.String(1)),
            prefixes=["TEMPORARY"],
        )
        self.changes = sa.Table(
            f"stage_change_{kind.name}",
            meta,
            sa.Column("seq", sa.Integer, primary_key=True),
            *(sa.Column(c.name, c.type) for c in change_table.columns if c.name != "id"),
            prefixes=["TEMPORARY"],
        )
        self.removed = sa.Table(
            f"stage_removed_{kind.name}",
            meta,
            sa.Column("id", sa.String(36), primary_key=True),
            prefixes=["TEMPORARY"],
        )
        self.tables = (self.rows, self.changes, self.removed)
        # The statements of a sync, built once (see the class docstring).
        # (id, fingerprint, *key): the row itself is the map's value, no tuple per row.
        self.existing = sa.select(
            target.c.id, target.c.fingerprint, *(target.c[name] for name in kind.key)
        ).where(target.c.storage_id == sa.bindparam("storage_id"))
        columns = [c.name for c in target.columns]
        self.insert_new = sa.insert(target).from_select(
            columns, sa.select(*(self.rows.c[c] for c in columns)).where(self.rows.c.op == "i")
        )
        updated = ("updated_at", "fingerprint", *kind.field_names)
        self.update_changed = (
            sa.update(target)
            .where(target.c.id == self.rows.c.id, self.rows.c.op == "u")
            .values({c: self.rows.c[c] for c in updated})
        )
        self.update_by_id = (
            sa.update(target)
            .where(target.c.id == sa.bindparam("row_id"))
            .values({c: sa.bindparam(f"v_{c}") for c in updated})
        )
        self.delete_removed = sa.delete(target).where(
            target.c.id.in_(sa.select(self.removed.c.id))
        )
        self.publish = sa.insert(change_table).from_select(
            list(CHANGE_COLUMNS),
            sa.select(*(self.changes.c[c] for c in CHANGE_COLUMNS)).order_by(self.changes.c.seq),
        )
        self.empty = [sa.delete(table) for table in self.tables]

    def prepare(self, conn: sa.Connection) -> None:
        """Make the tables ready on this DBAPI connection: created once (they outlive
        checkouts), emptied when the last run on this connection left rows in them. The
        emptying joins the caller's next transaction instead of costing a commit."""
        info = conn.connection.info
        prepared = info.setdefault("storfleet_staging", set())
        dirty = info.setdefault("storfleet_staging_dirty", set())
        if self.rows.name not in prepared:
            for table in self.tables:
                conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
            conn.commit()
            prepared.add(self.rows.name)
            dirty.add(self.rows.name)  # a previous process may have left rows (PostgreSQL)
        if self.rows.name in dirty:
            for statement in self.empty:
                conn.execute(statement)
            dirty.discard(self.rows.name)

    def mark_dirty(self, conn: sa.Connection) -> None:
        conn.connection.info.setdefault("storfleet_staging_dirty", set()).add(self.rows.name)


_STAGING: dict[str, Staging] = {}


def staging_tables(kind: Kind) -> Staging:
    staging = _STAGING.get(kind.name)
    if staging is None:
        staging = _STAGING[kind.name] = Staging(kind)
    return staging


def _key_of(kind: Kind) -> Any:
    names = kind.key
    if len(names) == 1:
        name = names[0]
        return lambda record: record[name]
    return lambda record: tuple(record[n] for n in names)


def _key_text(key: Any) -> str:
    return "/".join(key) if isinstance(key, tuple) else str(key)


class KindApplier:
    def __init__(
        self,
        engine: sa.Engine,
        kind: Kind,
        storage_id: str,
        *,
        driver: str,
        lease: Lease,
        initial_load: bool,
    ) -> None:
        self.engine = engine
        self.kind = kind
        self.storage_id = storage_id
        self.lease = lease
        self.initial_load = initial_load
        self.table = table_for(kind)
        self.validator = KindValidator(kind, driver)
        self.fields = kind.field_names
        self.volatile = kind.volatile
        self.key_of = _key_of(kind)
        self.fingerprint = fingerprinter(kind)
        self.ids = RunIds()
        self.outcome = KindOutcome(kind.name)
        self.staging = staging_tables(kind)
        self.staged_changes = 0
        self.spilled = False  # a batch went to the staging tables
        self.pending: list[tuple] = []
        self.pending_changes: list[tuple] = []
        self.started = time.monotonic()
        # Staged rows are tuples in this column order (see _stream).
        self.stage_columns = (
            "id",
            "storage_id",
            "created_at",
            "updated_at",
            "fingerprint",
            *self.fields,
            "op",
        )

    # -- staging tables -----------------------------------------------------------------
    # -- reading the stored kind --------------------------------------------------------
    def _existing(self, conn: sa.Connection) -> dict[Any, tuple]:
        """The stored kind: native key -> (row id, fingerprint, *key). One pass, plain
        tuples (the fetched rows themselves)."""
        rows = fetch_tuples(conn, self.staging.existing, {"storage_id": self.storage_id})
        if len(self.kind.key) == 1:
            return {row[2]: row for row in rows}
        return {row[2:]: row for row in rows}

    def _old_rows(self, conn: sa.Connection, ids: list[str]) -> dict[str, sa.Row]:
        table = self.table
        found: dict[str, sa.Row] = {}
        for start in range(0, len(ids), READBACK_BATCH):
            chunk = ids[start : start + READBACK_BATCH]
            for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
                found[row.id] = row
        return found

    # -- the main loop ------------------------------------------------------------------
    def apply(self, chunks: Iterable[list[Any]]) -> KindOutcome:
        self.started = time.monotonic()
        outcome = self.outcome
        staging = self.staging
        with self.engine.connect() as conn:
            try:
                staging.prepare(conn)
                existing = self._existing(conn)
                self._stream(conn, chunks, existing, staging.rows, staging.changes)
                self._swap(conn, existing)
            finally:
                if conn.in_transaction():
                    conn.rollback()
        outcome.duration_s = time.monotonic() - self.started
        return outcome

    def _stream(
        self,
        conn: sa.Connection,
        chunks: Iterable[list[Any]],
        existing: dict[Any, tuple],
        stage: sa.Table,
        changes: sa.Table,
    ) -> None:
        """Read the driver's records once, in order, staging what is new or changed.

        A record whose raw fingerprint equals the stored one is unchanged and takes the
        fast path: no validation, nothing written (that is what keeps a re-sync with no
        change cheap). Everything else goes through :meth:`_examine`.
        """
        outcome = self.outcome
        seen, seen_add = outcome.native_ids, outcome.native_ids.add
        duplicates: Counter[Any] = Counter()
        fields = self.fields
        fingerprint = self.fingerprint
        getter = operator.itemgetter(*fields) if len(fields) > 1 else None
        key_names = self.kind.key
        single = key_names[0] if len(key_names) == 1 else None
        existing_get = existing.get
        ref_sets = []
        for f in self.kind.references:
            ref_sets.append((outcome.referenced.setdefault((f.name, f.ref), set()), f.name))
        storage_id = self.storage_id
        next_id = self.ids.next
        batch: list[tuple] = []
        updated: list[tuple[str, Any, dict[str, Any]]] = []
        added_keys: list[Any] = []
        now = utcnow()
        stamp = db_value(conn, stage.c.created_at, now)  # converted once, not per row
        position = 0
        for chunk in chunks:
            for raw in chunk:
                position += 1
                print_ = None
                if type(raw) is dict:
                    key = raw.get(single) if single else tuple(map(raw.get, key_names))
                    if type(key) is str or (type(key) is tuple and all(key)):
                        try:
                            values = getter(raw) if getter else (raw[fields[0]],)
                        except KeyError:
                            values = tuple(map(raw.get, fields))
                        print_ = fingerprint(values)
                        old = existing_get(key)
                        if old is not None and old[1] == print_ and key not in seen:
                            seen_add(key)
                            for refs, name in ref_sets:
                                refs.add(raw.get(name))
                            continue
                examined = self._examine(raw, position, print_)
                if examined is None:
                    continue
                key, record, print_ = examined
                if key in seen:
                    duplicates[key] += 1
                    continue
                seen_add(key)
                old = existing_get(key)
                values = tuple([record[name] for name in fields])
                if old is None:
                    batch.append((next_id(), storage_id, stamp, None, print_, *values, "i"))
                    added_keys.append(key)
                elif old[1] != print_:
                    batch.append((old[0], storage_id, stamp, stamp, print_, *values, "u"))
                    updated.append((old[0], key, record))
                else:
                    continue
                if len(batch) >= STAGE_BATCH:
                    self._flush(conn, stage, changes, batch, updated, added_keys, now)
                    batch, updated, added_keys = [], [], []
        if self.spilled:
            self._flush(conn, stage, changes, batch, updated, added_keys, now)
        else:
            # A kind that fits in one batch skips the staging tables: its rows wait in
            # memory and go straight to the table in the swap.
            self.pending = batch
            self.pending_changes = self._change_rows(conn, updated, added_keys, now)
        for refs, _ in ref_sets:
            refs.discard(None)
            refs.discard("")
        if duplicates:
            shown = ", ".join(
                f"{_key_text(key)!r} ({count + 1}x)" for key, count in duplicates.most_common(10)
            )
            more = len(duplicates) - 10
            raise KindFailed(
                f"duplicate native ids from the driver for {self.kind.name}: {shown}"
                + (f" and {more} more" if more > 0 else "")
            )

    def _examine(
        self, raw: Any, position: int, raw_print: int | None
    ) -> tuple[Any, dict[str, Any], int] | None:
        """Validate a new, changed or unusual record: (key, clean record, fingerprint),
        or None when it is rejected (counted and reported; its stored row is kept)."""
        outcome = self.outcome
        try:
            validated = self.validator.validate(raw, position)
        except RecordRejected as rejected:
            outcome.rejected += 1
            if len(outcome.sample_warnings) < MAX_SAMPLES:
                outcome.sample_warnings.append(f"rejected: {rejected}")
            if rejected.native_id is not None and len(self.kind.key) == 1:
                outcome.native_ids.add(rejected.native_id)  # keep its stored row
            return None
        for message in validated.warnings:
            outcome.warn(message)
        record = validated.record
        for f in self.kind.references:
            value = record[f.name]
            if value is not None:
                outcome.referenced[(f.name, f.ref)].add(value)
        if raw_print is None:
            raw_print = self.fingerprint(tuple([record[name] for name in self.fields]))
        return self.key_of(record), record, raw_print

    def _change_rows(
        self,
        conn: sa.Connection,
        updated: list[tuple[str, Any, dict[str, Any]]],
        added_keys: list[Any],
        now: Any,
    ) -> list[tuple]:
        """Change-feed rows of a batch: the changed fields' old and new values (read back
        from the store only for rows whose fingerprint moved) and the added records."""
        outcome = self.outcome
        change_rows: list[tuple] = []
        if updated:
            old_rows = self._old_rows(conn, [row_id for row_id, _, _ in updated])
            for row_id, key, record in updated:
                old = old_rows[row_id]._mapping
                diff = {
                    name: [old[name], record[name]]
                    for name in self.fields
                    if old[name] != record[name]
                }
                outcome.changed += 1
                if diff.keys() - self.volatile:
                    change_rows.append(self._change(key, "changed", diff, now))
        outcome.added += len(added_keys)
        if not self.initial_load:
            change_rows.extend(self._change(key, "added", None, now) for key in added_keys)
        return change_rows

    def _flush(
        self,
        conn: sa.Connection,
        stage: sa.Table,
        changes: sa.Table,
        batch: list[tuple],
        updated: list[tuple[str, Any, dict[str, Any]]],
        added_keys: list[Any],
        now: Any,
    ) -> None:
        """Write a full batch to the staging tables (a large kind) and commit."""
        self.spilled = True
        if not batch:
            return
        if not conn.in_transaction():
            conn.begin()
        change_rows = self._change_rows(conn, updated, added_keys, now)
        self.staging.mark_dirty(conn)
        insert_rows(conn, stage, self.stage_columns, batch, converted=True)
        insert_rows(conn, changes, CHANGE_COLUMNS, change_rows)
        self.staged_changes += len(change_rows)
        conn.commit()
        if self.lease.lost.is_set():
            raise KindFailed("the sync lost its lease (another worker took over)")

    def _change(self, key: Any, op: str, diff: dict | None, now: Any) -> tuple:
        return (self.storage_id, self.kind.name, _key_text(key), op, diff, now)

    # -- the swap -----------------------------------------------------------------------
    def _swap(self, conn: sa.Connection, existing: dict[Any, tuple]) -> None:
        """Apply the kind in one short write transaction, fenced by the sync's lease."""
        outcome = self.outcome
        seen = outcome.native_ids
        gone = [(key, old[0]) for key, old in existing.items() if key not in seen]
        outcome.removed = len(gone)
        outcome.total = len(existing) + outcome.added - outcome.removed
        now = utcnow()
        if conn.in_transaction():
            conn.commit()  # the streaming's last reads and staged batches
        with immediate(conn):
            self.lease.fence(conn)
            if self.spilled:
                self._swap_staged(conn, gone, now)
            else:
                self._swap_direct(conn, gone, now)
            upsert_kind_state(conn, self.state_values(now))

    def _initial_load_row(self, now: Any) -> tuple:
        count = {"count": self.outcome.added}
        return (self.storage_id, self.kind.name, None, "initial_load", count, now)

    def _swap_staged(self, conn: sa.Connection, gone: list[tuple[Any, str]], now: Any) -> None:
        """The swap of a large kind, from its staging tables (inside the write txn)."""
        outcome, staging = self.outcome, self.staging
        for start in range(0, len(gone), STAGE_BATCH):
            part = gone[start : start + STAGE_BATCH]
            staging.mark_dirty(conn)
            self.staged_changes += len(part)
            insert_rows(conn, staging.removed, ("id",), [(ident,) for _, ident in part])
            insert_rows(
                conn,
                staging.changes,
                CHANGE_COLUMNS,
                [self._change(key, "removed", None, now) for key, _ in part],
            )
        if self.initial_load and outcome.added:
            staging.mark_dirty(conn)
            self.staged_changes += 1
            insert_rows(conn, staging.changes, CHANGE_COLUMNS, [self._initial_load_row(now)])
        if outcome.added:
            conn.execute(staging.insert_new)
        if outcome.changed:
            conn.execute(staging.update_changed)
        if gone:
            conn.execute(staging.delete_removed)
        if self.staged_changes:
            self._lock_change_feed(conn)
            conn.execute(staging.publish)

    def _swap_direct(self, conn: sa.Connection, gone: list[tuple[Any, str]], now: Any) -> None:
        """The swap of a kind that fit in one batch: straight from memory."""
        outcome, staging, table = self.outcome, self.staging, self.table
        columns = self.stage_columns[:-1]
        inserts = [row[:-1] for row in self.pending if row[-1] == "i"]
        insert_rows(conn, table, columns, inserts, converted=True)
        updates = [
            {"row_id": row[0], **{f"v_{c}": v for c, v in zip(columns[4:], row[4:-1], strict=True)}}
            for row in self.pending
            if row[-1] == "u"
        ]
        if updates:
            for update in updates:
                update["v_updated_at"] = now
            conn.execute(staging.update_by_id, updates)
        for start in range(0, len(gone), READBACK_BATCH):
            ids = [ident for _, ident in gone[start : start + READBACK_BATCH]]
            conn.execute(sa.delete(table).where(table.c.id.in_(ids)))
        change_rows = list(self.pending_changes)
        change_rows.extend(self._change(key, "removed", None, now) for key, _ in gone)
        if self.initial_load and outcome.added:
            change_rows.append(self._initial_load_row(now))
        if change_rows:
            self._lock_change_feed(conn)
            insert_rows(conn, change_table, CHANGE_COLUMNS, change_rows)

    @staticmethod
    def _lock_change_feed(conn: sa.Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CHANGE_FEED_LOCK)))

    def state_values(self, now: Any) -> dict[str, Any]:
        outcome = self.outcome
        outcome.duration_s = time.monotonic() - self.started
        error = None
        if outcome.rejected:
            error = f"{outcome.rejected} records rejected (see sample_warnings)"
        return {
            "storage_id": self.storage_id,
            "kind": self.kind.name,
            "status": "synced",
            "last_attempt_at": now,
            "last_success_at": now,
            "duration_s": outcome.duration_s,
            "added": outcome.added,
            "changed": outcome.changed,
            "removed": outcome.removed,
            "total": outcome.total,
            "warnings": outcome.warnings,
            "rejected": outcome.rejected,
            "last_error": error,
            "sample_warnings": outcome.sample_warnings or None,
        }
