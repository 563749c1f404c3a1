"""A storage's collection status for people (API and CLI): what is collected, how often,
how far behind, what failed, what was lost, and what is wrong with the capabilities."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.jobs import schedule
from storfleet.metrics import history, state
from storfleet.metrics.batch import storage_key
from storfleet.metrics.capabilities import plan_for
from storfleet.metrics.naming import RESOURCE_TYPES, resource_type
from storfleet.metrics.vocabulary import metric_vocabulary
from storfleet.store.schema import job, metric_series


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def collection_status(conn: sa.Connection, storage_id: str, settings: Settings) -> dict[str, Any]:
    row = state.load(conn, storage_id) or {"storage_id": storage_id}
    caps = row.get("capabilities")
    plan = plan_for(row, caps, settings)
    series = conn.execute(
        sa.select(sa.func.count()).select_from(metric_series).where(
            metric_series.c.storage_key == storage_key(storage_id)
        )
    ).scalar_one()
    job_row = conn.execute(
        sa.select(job.c.due_at, job.c.last_status, job.c.last_error, job.c.runs).where(
            job.c.storage_id == storage_id, job.c.kind == schedule.COLLECT
        )
    ).first()
    until = row.get("collected_until_ms")
    problems = row.get("capability_problems") or []
    return {
        "storage_id": storage_id,
        "interval_s": plan.interval_s,
        "interval_source": plan.interval_source,
        "retention_s": plan.retention_s,
        "detail": row.get("detail") or [],
        "metrics": row.get("metrics"),
        "collected": {rtype: sorted(names) for rtype, names in plan.resource_metrics.items()},
        "capabilities": {
            "valid": caps is not None and not problems,
            "problems": problems,
            "checked_at": row.get("capabilities_at"),
        },
        "collected_until": _iso_ms(until),
        "lag_s": None if until is None else round(max(0.0, time.time() - until / 1000), 3),
        "last_sample_at": _iso_ms(row.get("last_sample_ms")),
        "last_success_at": row.get("last_success_at"),
        "last_attempt_at": row.get("last_attempt_at"),
        "retry_at": row.get("retry_at"),
        "failures": row.get("failures") or 0,
        "failures_total": row.get("failures_total") or 0,
        "last_error": row.get("last_error"),
        "lost_windows": row.get("lost_windows") or 0,
        "lost_s": (row.get("lost_ms") or 0) / 1000,
        "lost_ranges": [[_iso_ms(a), _iso_ms(b)] for a, b in row.get("lost_ranges") or []],
        "windows_total": row.get("windows_total") or 0,
        "samples_total": row.get("samples_total") or 0,
        "rejected_series_total": row.get("rejected_series_total") or 0,
        "sample_problems": row.get("sample_problems") or [],
        "history": {
            "series": series,
            "raw_retention_s": settings.metrics_raw_retention_s,
            "rollups": [{"step_s": step, "retention_s": keep}
                        for step, keep in history.tiers(settings)],
            "row_budget_per_series": history.row_budget_per_series(settings, plan.interval_s),
        },
        "job": None if job_row is None else dict(job_row._mapping),
    }


def check_choices(
    interval_s: Any, detail: Iterable[str] | None, metrics: Iterable[str] | None
) -> tuple[int | None, list[str] | None, list[str] | None]:
    """Validate an operator's collection settings; raises ValueError saying what is wrong."""
    if interval_s is not None and (type(interval_s) is not int or interval_s < 1):
        raise ValueError(f"interval_s must be a whole number of seconds >= 1, got {interval_s!r}")
    types = None
    if detail is not None:
        types = []
        for name in detail:
            spelled = resource_type(str(name))
            if spelled not in RESOURCE_TYPES.values():
                raise ValueError(
                    f"detail: unknown resource type {name!r} "
                    f"(known: {', '.join(RESOURCE_TYPES.values())})"
                )
            types.append(spelled)
        types = sorted(set(types))
    names = None
    if metrics is not None:
        known = {m for metrics_of in metric_vocabulary().values() for m in metrics_of}
        names = sorted(set(map(str, metrics)))
        unknown = [m for m in names if m not in known]
        if unknown:
            raise ValueError(f"metrics: unknown metric(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        names = names or None
    return interval_s, types, names
