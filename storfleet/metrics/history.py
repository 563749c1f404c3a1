"""Metric history in the store: raw samples, rollups under a row budget, queries.

Tiers (per series): raw samples for ``metrics_raw_retention_s`` (6 h), 5-minute rollups for
a day, 1-hour rollups for ``metrics_history_s`` (7 days). A series sampled every minute
so costs at most 360 + 288 + 168 = 816 rows whatever its age: that is the row budget
(``row_budget_per_series``), and a small installation gets a week of graphs without
Prometheus.

Rollups are computed by the database (INSERT ... SELECT ... GROUP BY), once per bucket:
a storage's windows arrive in time order (its high-water mark only advances), so a bucket
is complete once the mark passes its end and is never touched again. Each tier is built
from the one below it (5 min from raw, 1 h from 5 min) while the source still holds it.
"""

from __future__ import annotations

import threading
from itertools import repeat
from typing import Any

import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.metrics.batch import MetricBatch, Series, storage_key
from storfleet.store import write
from storfleet.store.bulk import db_value, insert_rows
from storfleet.store.database import PerEngine
from storfleet.store.schema import (
    metric_collection,
    metric_rollup,
    metric_sample,
    metric_series,
    storage,
)
from storfleet.store.types import utcnow

ROLLUP_STEPS = (300, 3600)
FIVE_MINUTE_TIER_S = 86400.0


def tiers(settings: Settings) -> list[tuple[int, float]]:
    """(step seconds, retention seconds) of each rollup tier, finest first."""
    history = settings.metrics_history_s
    return [(300, min(FIVE_MINUTE_TIER_S, history)), (3600, history)]


def row_budget_per_series(settings: Settings, sample_interval_s: float) -> int:
    """Rows one series may hold at most: raw, then each rollup tier."""
    raw = int(settings.metrics_raw_retention_s // max(1.0, sample_interval_s))
    return raw + sum(int(keep // step) for step, keep in tiers(settings))


# -- which series the store knows ----------------------------------------------------------


class KnownSeries:
    """Series ids (and resource names) already in ``metric_series``, per storage.

    Loaded once per storage and process, then kept by the collection that writes the
    storage (it holds the storage's lease), so a window inserts only its new series.
    """

    def __init__(self) -> None:
        self._names: dict[str, dict[int, str]] = {}
        self._lock = threading.Lock()

    def _of(self, conn: sa.Connection, storage_id: str) -> dict[int, str]:
        names = self._names.get(storage_id)
        if names is None:
            rows = conn.execute(
                sa.select(metric_series.c.id, metric_series.c.resource_name).where(
                    metric_series.c.storage_key == storage_key(storage_id)
                )
            )
            names = {row.id: row.resource_name for row in rows}
            with self._lock:
                self._names[storage_id] = names
        return names

    def changes(self, conn: sa.Connection, batch: MetricBatch) -> tuple[list[Series], list[Series]]:
        """(new series, series whose resource was renamed) of a batch."""
        names = self._of(conn, batch.storage_id)
        new, renamed = [], []
        for series in batch.series:
            known = names.get(series.series_id)
            if known is None:
                new.append(series)
            elif known != series.resource_name:
                renamed.append(series)
        return new, renamed

    def remember(self, storage_id: str, series: list[Series]) -> None:
        """After the transaction that wrote them committed."""
        names = self._names.get(storage_id)
        if names is not None:
            for s in series:
                names[s.series_id] = s.resource_name

    def forget(self, storage_id: str) -> None:
        with self._lock:
            self._names.pop(storage_id, None)


known_series = PerEngine(KnownSeries)  # the process's known series of a database


# -- writing -----------------------------------------------------------------------------


def write_batch(conn: sa.Connection, batch: MetricBatch, known: KnownSeries) -> list[Series]:
    """Insert a batch's samples (and its new series); returns the series to ``remember``
    once the transaction commits."""
    new, renamed = known.changes(conn, batch)
    key = batch.storage_key
    if new:
        now = db_value(conn, metric_series.c.created_at, utcnow())  # converted once
        insert_rows(
            conn,
            metric_series,
            ("storage_key", "id", "storage_id", "resource_type", "resource_id",
             "resource_name", "metric", "unit", "created_at"),
            sorted(
                (key, s.series_id, batch.storage_id, s.resource_type, s.resource_id,
                 s.resource_name, s.metric, s.unit, now)
                for s in new
            ),
            converted=True,  # plain ints and strings, and created_at converted above
        )
    for s in renamed:
        conn.execute(
            sa.update(metric_series)
            .where(metric_series.c.storage_key == key, metric_series.c.id == s.series_id)
            .values(resource_name=s.resource_name)
        )
    rows: list[tuple[int, int, int, float]] = []
    for s in batch.series:
        values = s.values
        count = len(values)
        rows.extend(zip(repeat(key, count), values, repeat(s.series_id, count), values.values(),
                        strict=True))
    rows.sort()  # in key order: appended where the storage's rows end
    insert_rows(conn, metric_sample, ("storage_key", "ts", "series_id", "value"), rows,
                converted=True)
    return new + renamed


_ROLL_RAW = sa.text(
    "INSERT INTO metric_rollup (storage_key, step_s, ts, series_id, avg, min, max, count) "
    "SELECT :key, :step, (ts / :step_ms) * :step_ms, series_id, AVG(value), MIN(value), "
    "MAX(value), COUNT(*) FROM metric_sample WHERE storage_key = :key AND ts >= :a AND ts < :b "
    "GROUP BY ts / :step_ms, series_id"
)
_ROLL_ROLLUP = sa.text(
    "INSERT INTO metric_rollup (storage_key, step_s, ts, series_id, avg, min, max, count) "
    "SELECT :key, :step, (ts / :step_ms) * :step_ms, series_id, SUM(avg * count) / SUM(count), "
    "MIN(min), MAX(max), SUM(count) FROM metric_rollup "
    "WHERE storage_key = :key AND step_s = :source AND ts >= :a AND ts < :b "
    "GROUP BY ts / :step_ms, series_id"
)
_CLEAR_ROLLUP = sa.text(
    "DELETE FROM metric_rollup WHERE storage_key = :key AND step_s = :step AND ts >= :a "
    "AND ts < :b"
)


def roll_up(
    conn: sa.Connection,
    storage_id: str,
    collected_until_ms: int,
    rolled: dict[str, int] | None,
    first_ms: int,
) -> dict[str, int]:
    """Roll every bucket that closed since the last call; returns the new marks
    ({step: end of the last rolled bucket}). Idempotent: a bucket is cleared first."""
    marks = dict(rolled or {})
    source: int | None = None
    for step in ROLLUP_STEPS:
        step_ms = step * 1000
        key = str(step)
        start = marks.get(key, first_ms // step_ms * step_ms)
        end = (collected_until_ms + 1) // step_ms * step_ms
        if end > start:
            params = {"key": storage_key(storage_id), "step": step, "step_ms": step_ms,
                      "a": start, "b": end}
            conn.execute(_CLEAR_ROLLUP, params)
            if source is None:
                conn.execute(_ROLL_RAW, params)
            else:
                conn.execute(_ROLL_ROLLUP, {**params, "source": source})
            marks[key] = end
        source = step
    return marks


def prune(conn: sa.Connection, storage_id: str, now_ms: int, settings: Settings) -> None:
    """Drop what each tier no longer keeps (range deletes at the head of the storage's
    rows)."""
    key = storage_key(storage_id)
    cut = now_ms - int(settings.metrics_raw_retention_s * 1000)
    conn.execute(
        sa.delete(metric_sample).where(metric_sample.c.storage_key == key,
                                       metric_sample.c.ts < cut)
    )
    for step, keep in tiers(settings):
        cut = now_ms - int(keep * 1000)
        conn.execute(
            sa.delete(metric_rollup).where(
                metric_rollup.c.storage_key == key,
                metric_rollup.c.step_s == step,
                metric_rollup.c.ts < cut,
            )
        )


def delete_storage(engine: sa.Engine, storage_id: str, rows_per_batch: int = 50_000) -> None:
    """Remove a storage's whole metric history (for storage removal), in short
    transactions so SQLite's write lock is never held for long."""
    key = storage_key(storage_id)
    for table in (metric_sample, metric_rollup):
        t = table.c
        while True:
            with write(engine) as conn:
                bound = conn.execute(
                    sa.select(t.ts).where(t.storage_key == key).order_by(t.ts)
                    .offset(rows_per_batch).limit(1)
                ).scalar()
                condition = [t.storage_key == key]
                if bound is not None:
                    condition.append(t.ts < bound)
                conn.execute(sa.delete(table).where(*condition))
            if bound is None:
                break
    with write(engine) as conn:
        conn.execute(sa.delete(metric_series).where(metric_series.c.storage_key == key))
        conn.execute(
            sa.delete(metric_collection).where(metric_collection.c.storage_id == storage_id)
        )
    known_series(engine).forget(storage_id)


# -- reading -----------------------------------------------------------------------------


def choose_step(start_ms: int, now_ms: int, settings: Settings) -> int:
    """The finest tier that still holds ``start_ms``: 0 (raw), 300 or 3600."""
    if start_ms >= now_ms - int(settings.metrics_raw_retention_s * 1000):
        return 0
    for step, keep in tiers(settings):
        if start_ms >= now_ms - int(keep * 1000):
            return step
    return ROLLUP_STEPS[-1]


def query(
    conn: sa.Connection,
    storage_id: str,
    *,
    resource_types: list[str] | None,
    resource_id: str | None,
    metric: str | None,
    start_ms: int,
    end_ms: int,
    step: int,
    max_series: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Series (with their points) of a storage; True when more than ``max_series``
    matched and the answer is cut."""
    m = metric_series.c
    select = sa.select(m.id, m.resource_type, m.resource_id, m.resource_name, m.metric, m.unit)
    select = select.where(m.storage_key == storage_key(storage_id))
    if resource_types:
        select = select.where(m.resource_type.in_(resource_types))
    if resource_id is not None:
        select = select.where(m.resource_id == resource_id)
    if metric is not None:
        select = select.where(m.metric == metric)
    rows = list(
        conn.execute(select.order_by(m.resource_type, m.resource_id, m.metric).limit(
            max_series + 1))
    )
    truncated = len(rows) > max_series
    rows = rows[:max_series]
    out: dict[int, dict[str, Any]] = {
        r.id: {
            "resource_type": r.resource_type,
            "resource_id": r.resource_id,
            "resource_name": r.resource_name,
            "metric": r.metric,
            "unit": r.unit,
            "points": [],
        }
        for r in rows
    }
    if not out:
        return [], truncated
    ids = list(out)
    key = storage_key(storage_id)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        if step == 0:
            t = metric_sample.c
            points = conn.execute(
                sa.select(t.series_id, t.ts, t.value)
                .where(t.storage_key == key, t.ts >= start_ms, t.ts <= end_ms,
                       t.series_id.in_(chunk))
                .order_by(t.series_id, t.ts)
            )
            for p in points:
                out[p.series_id]["points"].append([p.ts, p.value])
        else:
            r = metric_rollup.c
            points = conn.execute(
                sa.select(r.series_id, r.ts, r.avg, r.min, r.max)
                .where(r.storage_key == key, r.step_s == step,
                       r.ts >= start_ms // (step * 1000) * step * 1000, r.ts <= end_ms,
                       r.series_id.in_(chunk))
                .order_by(r.series_id, r.ts)
            )
            for p in points:
                out[p.series_id]["points"].append([p.ts, p.avg, p.min, p.max])
    return list(out.values()), truncated


def collected_storages(conn: sa.Connection) -> list[Any]:
    """Live storages with collected samples: id, name, serial_number, last_sample_ms and
    what ``interval_of`` needs. Cheap (a row per storage): a reader compares
    ``(last_sample_ms, name, serial_number)`` to see whose latest values moved."""
    st, c = storage.c, metric_collection.c
    return conn.execute(
        sa.select(st.id, st.name, st.serial_number, c.last_sample_ms, c.interval_s,
                  c.capabilities)
        .join(metric_collection, c.storage_id == st.id)
        .where(st.deleting.is_(False), c.last_sample_ms.is_not(None))
    ).all()


def latest_rows(
    conn: sa.Connection,
    settings: Settings,
    skip: frozenset[str] | set[str] = frozenset(),
    only: set[str] | None = None,
    storages: list[Any] | None = None,
) -> list[tuple]:
    """Each series' newest raw sample with its labels, for live storages (but ``skip``;
    only those in ``only`` when given): what /metrics renders on a node that does not
    collect. Per storage, one range scan of its last collection interval's samples."""
    from storfleet.metrics.capabilities import interval_of

    out: list[tuple] = []
    t, m = metric_sample.c, metric_series.c
    for row in storages if storages is not None else collected_storages(conn):
        if row.id in skip or (only is not None and row.id not in only):
            continue
        every_ms = interval_of(row._mapping, row.capabilities, settings)[0] * 1000
        newest: dict[int, tuple[int, float]] = {}
        for series, ts, value in conn.execute(
            sa.select(t.series_id, t.ts, t.value).where(
                t.storage_key == storage_key(row.id), t.ts >= row.last_sample_ms - every_ms
            )
        ):
            newest[series] = (ts, value)  # rows come in time order: the last one wins
        if not newest:
            continue
        for series in conn.execute(
            sa.select(m.id, m.resource_type, m.resource_id, m.resource_name, m.metric).where(
                m.storage_key == storage_key(row.id)
            )
        ):
            found = newest.get(series.id)
            if found is not None:
                out.append((row.id, row.name, row.serial_number, series.resource_type,
                            series.resource_id, series.resource_name, series.metric, *found))
    return out
