"""Collection against the fake array on SQLite and PostgreSQL: backfill, contiguous
windows, labels, rollups, pruning, intervals, and capabilities or samples gone wrong."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.drivers.fake import FakeStorageDriver
from storfleet.jobs import schedule
from storfleet.jobs.functions import run_collect
from storfleet.metrics import history, state
from storfleet.metrics.batch import series_id
from storfleet.metrics.collect import collect_storage
from storfleet.metrics.status import collection_status
from storfleet.store import write
from storfleet.store.schema import job, metric_rollup, metric_sample, metric_series, storage
from tests.metrics.conftest import register


def _now_s() -> int:
    return int(time.time())


def _stamps(db, sid: str, rtype: str, rid: str, metric: str) -> list[int]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(metric_sample.c.ts)
                .where(metric_sample.c.series_id == series_id(sid, rtype, rid, metric))
                .order_by(metric_sample.c.ts)
            ).scalars()
        )


def _serial(db, sid: str) -> str:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(storage.c.serial_number).where(storage.c.id == sid)).scalar()


def _status(db, sid: str) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return collection_status(conn, sid, db.settings)


def test_backfill_then_contiguous_windows(fast_db, fast_manager) -> None:
    db = fast_db
    sid = register(fast_manager, 1, retention_window_s=60)
    serial = _serial(db, sid)
    first = (_now_s() - 20) * 1000
    outcome = collect_storage(db, fast_manager, sid, now_ms=first)
    assert outcome.status == "ok" and outcome.lost_windows == 0
    # The first collection backfills the whole retention window: 61 one-second samples.
    assert _stamps(db, sid, "storage", serial, "iops") == list(
        range(first - 60_000, first + 1, 1000)
    )
    second = first + 10_000
    assert collect_storage(db, fast_manager, sid, now_ms=second).status == "ok"
    assert collect_storage(db, fast_manager, sid, now_ms=second).status == "ok"  # no-op
    stamps = _stamps(db, sid, "storage", serial, "iops")
    assert stamps == list(range(first - 60_000, second + 1, 1000))  # no gap, no duplicate
    status = _status(db, sid)
    assert status["lost_windows"] == 0 and status["failures_total"] == 0
    assert status["capabilities"] == {"valid": True, "problems": [],
                                      "checked_at": status["capabilities"]["checked_at"]}
    assert status["samples_total"] > 0 and status["retention_s"] == 60
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(metric_series.c.resource_type, sa.func.count())
            .where(metric_series.c.storage_id == sid)
            .group_by(metric_series.c.resource_type)
        ).all()
    # 20 resources max per type; metrics per type as in the vocabulary.
    assert dict(rows) == {"storage": 9, "storage_pool": 2 * 7, "volume": 20 * 15,
                          "controller": 2 * 8, "port": 4 * 7, "disk": 6 * 7,
                          "filesystem": 3 * 11}


def test_series_are_labelled_with_storage_and_resource(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 2)
    collect_storage(fast_db, fast_manager, sid)
    with fast_db.engine.connect() as conn:
        row = conn.execute(
            sa.select(metric_series).where(
                metric_series.c.storage_id == sid, metric_series.c.resource_type == "storage_pool",
                metric_series.c.metric == "readIops",
            ).order_by(metric_series.c.resource_id)
        ).first()
    assert row.resource_id and row.resource_name and row.resource_name != ""
    assert row.unit == "IOPS"
    assert row.id == series_id(sid, "storage_pool", row.resource_id, "readIops")


def test_rollups_equal_the_raw_samples_they_summarise(fast_db, fast_manager) -> None:
    db = fast_db
    sid = register(fast_manager, 3, perf_interval_s=10, retention_window_s=1800)
    now_ms = _now_s() * 1000
    collect_storage(db, fast_manager, sid, now_ms=now_ms)
    serial = _serial(db, sid)
    ident = series_id(sid, "storage", serial, "iops")
    with db.engine.connect() as conn:
        raw = conn.execute(
            sa.select(metric_sample.c.ts, metric_sample.c.value).where(
                metric_sample.c.series_id == ident)
        ).all()
        rollups = conn.execute(
            sa.select(metric_rollup).where(
                metric_rollup.c.series_id == ident, metric_rollup.c.step_s == 300)
        ).all()
        marks = state.load(conn, sid)["rolled_until_ms"]
    closed_until = (now_ms + 1) // 300_000 * 300_000
    assert marks["300"] == closed_until
    expected = {}
    for ts, value in raw:
        if ts < closed_until:
            expected.setdefault(ts // 300_000 * 300_000, []).append(value)
    assert len(expected) >= 5  # half an hour of 10 s samples
    got = {r.ts: r for r in rollups}
    assert set(got) == set(expected)
    for bucket, values in expected.items():
        row = got[bucket]
        assert row.count == len(values)
        assert abs(row.avg - sum(values) / len(values)) < 1e-6
        assert (row.min, row.max) == (min(values), max(values))


def test_prune_keeps_each_tier_for_its_retention(fast_db, fast_manager) -> None:
    db = fast_db
    sid = register(fast_manager, 4, perf_interval_s=10, retention_window_s=1800)
    now_ms = _now_s() * 1000
    collect_storage(db, fast_manager, sid, now_ms=now_ms)
    short = db.settings.model_copy(update={"metrics_raw_retention_s": 600.0,
                                           "metrics_history_s": 900.0})
    with write(db.engine) as conn:
        history.prune(conn, sid, now_ms, short)
    with db.engine.connect() as conn:
        oldest_raw = conn.execute(
            sa.select(sa.func.min(metric_sample.c.ts)).join(
                metric_series, metric_series.c.id == metric_sample.c.series_id
            ).where(metric_series.c.storage_id == sid)
        ).scalar()
        oldest_rollup = conn.execute(
            sa.select(sa.func.min(metric_rollup.c.ts)).where(metric_rollup.c.step_s == 300)
        ).scalar()
    assert oldest_raw >= now_ms - 600_000
    assert oldest_rollup >= now_ms - 900_000


def test_interval_is_storage_choice_then_driver_then_default(fast_db, fast_manager) -> None:
    db = fast_db
    plain = register(fast_manager, 5)
    declared = register(fast_manager, 6, collect_interval=7)
    for sid in (plain, declared):
        assert run_collect(db, fast_manager, sid) == "ok"
    assert (_status(db, plain)["interval_s"], _status(db, plain)["interval_source"]) == (
        1, "default")
    assert (_status(db, declared)["interval_s"], _status(db, declared)["interval_source"]) == (
        7, "driver")
    with write(db.engine) as conn:
        state.configure(conn, declared, interval_s=42)
    assert (_status(db, declared)["interval_s"], _status(db, declared)["interval_source"]) == (
        42, "storage")
    # The job's next due time follows the interval in force (keeping the cadence).
    def due():
        with db.engine.connect() as conn:
            return conn.execute(
                sa.select(job.c.due_at).where(job.c.storage_id == declared,
                                              job.c.kind == schedule.COLLECT)
            ).scalar()

    served = due()
    assert run_collect(db, fast_manager, declared) == "ok"
    assert (due() - served).total_seconds() == 42


class BadCapabilities(FakeStorageDriver):
    """Declares a wrong unit, a metric of another type and an unknown resource type."""

    def get_capabilities(self, context, filters=None):
        caps = super().get_capabilities(context, filters)
        caps["resource_metrics"]["storage"]["throughput"]["unit"] = "GB/s"
        caps["resource_metrics"]["volume"]["cpuUsage"] = {"unit": "%"}
        caps["resource_metrics"]["lun"] = {"iops": {"unit": "IOPS"}}
        return caps


def _swap_driver(manager, sid: str, cls) -> None:
    cached = manager.get(sid)
    driver = cls(**{**cached.driver.access_info, "storage_id": sid})
    manager.put(sid, cached.version, driver, cached.name)


def test_invalid_capabilities_are_reported_and_the_valid_part_collected(
    fast_db, fast_manager
) -> None:
    sid = register(fast_manager, 7)
    _swap_driver(fast_manager, sid, BadCapabilities)
    assert collect_storage(fast_db, fast_manager, sid).status == "ok"
    status = _status(fast_db, sid)
    problems = "\n".join(status["capabilities"]["problems"])
    assert status["capabilities"]["valid"] is False
    assert "wrong unit 'GB/s', expected 'MB/s'" in problems
    assert "unknown metric 'cpuUsage' for resource type 'volume'" in problems
    assert "unknown resource type 'lun'" in problems
    assert "cpuUsage" not in status["collected"]["volume"]
    assert "iops" in status["collected"]["volume"]
    assert status["samples_total"] > 0


class NoPerformance(FakeStorageDriver):
    def get_capabilities(self, context, filters=None):
        raise exception.NotSupported("get_capabilities")


def test_a_driver_without_metrics_is_not_a_failure(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 8)
    _swap_driver(fast_manager, sid, NoPerformance)
    assert run_collect(fast_db, fast_manager, sid) == "not_supported"
    status = _status(fast_db, sid)
    assert status["failures_total"] == 0 and "not_supported" in status["last_error"]


def test_malformed_samples_are_rejected_and_the_rest_kept(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 9, faults=[
        {"target": "collect_perf_metrics", "type": "malformed_records", "share": 0.1}
    ])
    assert collect_storage(fast_db, fast_manager, sid).status == "ok"
    status = _status(fast_db, sid)
    # Every 10th series is broken in turn: no resource id (rejected whole), a negative
    # value or a non-number (that sample dropped, the series kept).
    assert status["rejected_series_total"] > 0
    problems = "\n".join(status["sample_problems"])
    assert "labels lack 'resource_id'" in problems
    assert "negative" in problems and "not finite numbers" in problems
    assert status["history"]["series"] > 400
