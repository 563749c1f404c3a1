"""Injected collection outages on fake arrays, run by the real embedded scheduler: retries
with back-off, recovery that fills the missed windows, and windows counted as lost when
the outage outlasts the array's retention window."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.jobs.embedded import EmbeddedRunner
from storfleet.metrics.batch import series_id
from storfleet.metrics.status import collection_status
from storfleet.secrets import generate_key
from storfleet.store.schema import metric_sample, storage
from tests.metrics.conftest import open_fast, register, wait_for


def _status(db, sid):
    with db.engine.connect() as conn:
        return collection_status(conn, sid, db.settings)


def _stamps(db, sid):
    with db.engine.connect() as conn:
        serial = conn.execute(
            sa.select(storage.c.serial_number).where(storage.c.id == sid)
        ).scalar()
        return list(
            conn.execute(
                sa.select(metric_sample.c.ts)
                .where(metric_sample.c.series_id == series_id(sid, "storage", serial, "iops"))
                .order_by(metric_sample.c.ts)
            ).scalars()
        )


def test_outages_are_retried_then_filled_or_counted_lost(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key=generate_key(),
                        database_url=f"sqlite:///{tmp_path / 'faults.db'}")
    db = open_fast(settings)
    manager = DriverManager(db, call_timeout_s=20, connect_timeout_s=20)
    t0 = time.time()
    outage = {"target": "collect_perf_metrics", "type": "error"}
    # Short outage within a 30 s retention: every window must come back.
    short = register(manager, 11, retention_window_s=30,
                     faults=[{**outage, "from": t0 + 3, "until": t0 + 7}])
    # An 8 s outage against a 3 s retention: about 5 s are gone for good.
    long = register(manager, 12, retention_window_s=3,
                    faults=[{**outage, "from": t0 + 3, "until": t0 + 11}])
    runner = EmbeddedRunner(db, manager, workers=4)
    runner.start()
    try:
        during = wait_for(lambda: (s := _status(db, short))["failures"] >= 2 and s,
                          timeout=12, what="a second failure in a row")
        assert during["retry_at"] is not None and during["retry_at"] > during["last_attempt_at"]
        assert "collect_perf_metrics" in during["last_error"]
        assert "injected fault" in during["last_error"]
        wait_for(lambda: time.time() > t0 + 15 and _status(db, long)["failures"] == 0
                 and _status(db, short)["failures"] == 0, timeout=30, what="recovery")
    finally:
        runner.stop()
        manager.clear()
    recovered, lossy = _status(db, short), _status(db, long)

    assert recovered["failures_total"] >= 2
    assert recovered["lost_windows"] == 0 and recovered["lost_ranges"] == []
    stamps = _stamps(db, short)
    assert stamps == list(range(stamps[0], stamps[-1] + 1, 1000))  # missed windows filled
    assert stamps[0] <= (t0 - 25) * 1000 and stamps[-1] >= (t0 + 13) * 1000

    assert lossy["failures_total"] >= 2
    assert 3 <= lossy["lost_s"] <= 8
    assert lossy["lost_windows"] == -(-int(lossy["lost_s"] * 1000) // 1000)
    raw_ranges = lossy_ranges = _lost(db, long)
    assert len(lossy_ranges) == 1  # one outage, one range
    stamps = _stamps(db, long)
    lost = {ts for a, b in raw_ranges for ts in range(-(-a // 1000) * 1000, b + 1, 1000)}
    expected = [ts for ts in range(stamps[0], stamps[-1] + 1, 1000) if ts not in lost]
    assert stamps == expected  # exactly the lost range is missing
    assert lost and stamps[-1] >= (t0 + 13) * 1000
    db.dispose()


def _lost(db, sid):
    from storfleet.metrics import state

    with db.engine.connect() as conn:
        return state.load(conn, sid)["lost_ranges"]
