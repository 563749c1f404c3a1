"""Polling the fake array's alerts: stored, seen again without double counting, and
cleared when the array stops reporting them; run as the scheduler's "poll" job."""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.alerts import poll
from storfleet.jobs import schedule
from storfleet.jobs.functions import JOB_FUNCTIONS, run_poll
from storfleet.jobs.leases import lease_name, try_acquire
from storfleet.store.schema import job
from tests.alerts.conftest import stored_alerts


def _register(manager, seed: int, alerts: int):
    from storfleet.fleet.registration import register_storage

    return register_storage(manager, {
        "vendor": "fake_storage", "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "u", "password": "p"},
        "extra_attributes": {"seed": seed, "counts": {"alerts": alerts}},
    })


def test_poll_stores_reconciles_and_clears(db, manager):
    sid = _register(manager, 80, 5)["id"]
    outcome = poll.poll_storage(db, manager, sid)
    assert (outcome.status, outcome.reported, outcome.raised) == ("ok", 5, 5)
    rows = stored_alerts(db, storage_id=sid)
    assert len(rows) == 5 and {r["source"] for r in rows} == {"poll"}
    again = poll.poll_storage(db, manager, sid)
    assert (again.raised, again.cleared) == (0, 0)
    assert [r["count"] for r in stored_alerts(db, storage_id=sid)] == [1] * 5
    gone = rows[0]["sequence_numbers"][0]
    manager.call(sid, "clear_alert", gone)
    third = poll.poll_storage(db, manager, sid)
    assert third.cleared == 1
    cleared = stored_alerts(db, storage_id=sid, state="cleared")
    assert [r["sequence_numbers"] for r in cleared] == [[gone]]
    assert cleared[0]["cleared_by"] == poll.GONE


def test_poll_job_is_scheduled_and_runs(db, manager):
    sid = _register(manager, 81, 3)["id"]
    assert schedule.POLL in schedule.JOB_KINDS and JOB_FUNCTIONS[schedule.POLL] is run_poll
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(job).where(job.c.storage_id == sid,
                                                job.c.kind == schedule.POLL)).one()
    assert row.requested_at is not None  # a new storage is polled right away
    assert run_poll(db, manager, sid) == "ok"
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(job).where(job.c.storage_id == sid,
                                                job.c.kind == schedule.POLL)).one()
    assert (row.last_status, row.runs) == ("ok", 1)
    step = (row.due_at - row.last_finished_at).total_seconds()
    assert abs(step - db.settings.alert_poll_interval_s) < 5
    assert len(stored_alerts(db, storage_id=sid)) == 3


def test_a_held_lease_skips_the_poll(db, manager):
    sid = _register(manager, 82, 2)["id"]
    assert try_acquire(db.engine, lease_name("poll", sid), "someone-else", 60)
    assert poll.poll_storage(db, manager, sid).status == "skipped"
    assert stored_alerts(db, storage_id=sid) == []
