"""The per-storage collection record (``metric_collection``): settings and progress.

It is the one place that says how far a storage's metrics are collected, so every node,
the API's status endpoint and /metrics' health series read the same facts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storfleet.store.schema import metric_collection

# How many lost ranges and sample problems a record keeps for the operator to read.
KEEP_LOST_RANGES = 20
KEEP_PROBLEMS = 20


def _insert(conn: sa.Connection):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        metric_collection
    )


def ensure(conn: sa.Connection, storage_id: str) -> None:
    conn.execute(_insert(conn).values(storage_id=storage_id).on_conflict_do_nothing())


def load(conn: sa.Connection, storage_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(metric_collection).where(metric_collection.c.storage_id == storage_id)
    ).first()
    return None if row is None else dict(row._mapping)


def update(conn: sa.Connection, storage_id: str, **values: Any) -> None:
    conn.execute(
        sa.update(metric_collection)
        .where(metric_collection.c.storage_id == storage_id)
        .values(**values)
    )


def configure(conn: sa.Connection, storage_id: str, **choices: Any) -> dict[str, Any]:
    """Set the operator's choices (interval_s, detail, metrics); None clears one."""
    ensure(conn, storage_id)
    allowed = {"interval_s", "detail", "metrics"}
    unknown = set(choices) - allowed
    if unknown:
        raise ValueError(f"unknown collection settings: {', '.join(sorted(unknown))}")
    if choices:
        update(conn, storage_id, **choices)
        # A changed metric selection or interval takes effect at the next collection.
    return load(conn, storage_id) or {}


def record_failure(
    conn: sa.Connection, storage_id: str, *, at: datetime, retry_at: datetime, error: str
) -> None:
    c = metric_collection.c
    update(
        conn,
        storage_id,
        last_attempt_at=at,
        retry_at=retry_at,
        failures=c.failures + 1,
        failures_total=c.failures_total + 1,
        last_error=error[:2000],
    )


def record_lost(
    conn: sa.Connection, storage_id: str, row: dict[str, Any], lost: tuple[int, int],
    interval_ms: int,
) -> int:
    """Count a range given up and move the high-water mark past it; returns the windows
    newly lost. During an outage every retry gives up the bit that just left retention:
    adjacent bits are merged into one range, and windows are counted on the total lost
    time (in collection intervals), so an outage of 5 intervals is 5 lost windows however
    many retries it took."""
    ranges = [list(r) for r in row.get("lost_ranges") or []]
    if ranges and ranges[-1][1] + 1 == lost[0]:
        ranges[-1][1] = lost[1]
    else:
        ranges.append([lost[0], lost[1]])
    before = int(row.get("lost_ms") or 0)
    after = before + (lost[1] - lost[0] + 1)
    step = max(1, interval_ms)
    windows = -(-after // step) - (-(-before // step))
    c = metric_collection.c
    update(
        conn,
        storage_id,
        lost_windows=c.lost_windows + windows,
        lost_ms=after,
        lost_ranges=ranges[-KEEP_LOST_RANGES:],
        collected_until_ms=lost[1],
    )
    row.update(lost_ms=after, lost_ranges=ranges[-KEEP_LOST_RANGES:])
    return windows


def record_window(
    conn: sa.Connection,
    storage_id: str,
    *,
    end_ms: int,
    last_sample_ms: int | None,
    samples: int,
    rejected: int,
    problems: list[str],
) -> None:
    """A window is stored: advance the high-water mark (same transaction as the rows)."""
    c = metric_collection.c
    values: dict[str, Any] = {
        "collected_until_ms": end_ms,
        "windows_total": c.windows_total + 1,
        "samples_total": c.samples_total + samples,
        "rejected_series_total": c.rejected_series_total + rejected,
    }
    if last_sample_ms is not None:
        values["last_sample_ms"] = sa.func.coalesce(
            sa.func.max(c.last_sample_ms, last_sample_ms)
            if conn.dialect.name == "sqlite"
            else sa.func.greatest(c.last_sample_ms, last_sample_ms),
            last_sample_ms,
        )
    values["sample_problems"] = problems[:KEEP_PROBLEMS] or None
    update(conn, storage_id, **values)


def record_success(conn: sa.Connection, storage_id: str, *, at: datetime) -> None:
    update(
        conn, storage_id, last_attempt_at=at, last_success_at=at, failures=0, retry_at=None,
        last_error=None,
    )
