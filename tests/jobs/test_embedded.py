"""The embedded scheduler and job pool: a sync right after registration, periodic syncs on
their cadence, pause and resume, and requests refused while one runs or is queued."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.fleet.registration import register_storage
from storfleet.jobs import schedule
from storfleet.jobs.embedded import EmbeddedRunner
from storfleet.store import schema, write
from storfleet.store.database import open_database


def _fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"sync_interval_s": 1.5, "scheduler_tick_s": 0.1, "lease_s": 5.0}
    )


def _wait(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _job(db, storage_id: str):
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(schema.job).where(
                schema.job.c.storage_id == storage_id, schema.job.c.kind == "sync"
            )
        ).one()


def _storage(db, storage_id: str):
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(schema.storage).where(schema.storage.c.id == storage_id)
        ).one()


def _body(seed: int) -> dict:
    return {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": {"seed": seed, "counts": {"volumes": 50}},
    }


@pytest.fixture
def fast_db(settings: Settings):
    from storfleet.store import migrate

    fast = _fast(settings)
    migrate.upgrade(fast.resolved_database_url)
    db = open_database(fast, auto_migrate=False)
    yield db
    db.dispose()


def test_first_sync_then_periodic_then_pause_and_resume(fast_db) -> None:
    from storfleet.fleet.manager import DriverManager

    db = fast_db
    manager = DriverManager(db)
    runner = EmbeddedRunner(db, manager, workers=2)
    runner.start()
    try:
        storage_id = register_storage(manager, _body(1))["id"]
        assert _storage(db, storage_id).sync_status == "SYNCING"  # queued
        runner.nudge()
        _wait(lambda: _storage(db, storage_id).sync_state == "synced", what="first sync")
        assert _storage(db, storage_id).sync_status == "SYNCED"
        first_runs = _job(db, storage_id).runs
        _wait(lambda: _job(db, storage_id).runs >= first_runs + 2, what="periodic syncs")
        job = _job(db, storage_id)
        assert job.last_status == "ok"
        assert job.due_at > job.last_finished_at  # next run scheduled ahead

        with write(db.engine) as conn:
            conn.execute(
                sa.update(schema.storage)
                .where(schema.storage.c.id == storage_id)
                .values(paused=True)
            )
        time.sleep(0.5)  # let a run in flight finish
        paused_runs = _job(db, storage_id).runs
        time.sleep(3.5)  # more than two periods
        assert _job(db, storage_id).runs == paused_runs

        with write(db.engine) as conn:
            conn.execute(
                sa.update(schema.storage)
                .where(schema.storage.c.id == storage_id)
                .values(paused=False)
            )
        _wait(lambda: _job(db, storage_id).runs > paused_runs, what="resumed syncs")
    finally:
        runner.stop()
        manager.clear()


def test_requests_are_refused_while_queued_or_running(fast_db) -> None:
    from storfleet.fleet.manager import DriverManager
    from storfleet.jobs.leases import lease_name, new_owner, release, try_acquire

    db = fast_db
    manager = DriverManager(db)
    storage_id = register_storage(manager, _body(2))["id"]
    with write(db.engine) as conn, pytest.raises(schedule.JobRefused, match="already queued"):
        schedule.request_run(conn, storage_id)  # registration queued the first sync
    with write(db.engine) as conn:
        schedule.mark_started(conn, storage_id, schedule.SYNC)
    owner = new_owner("test")
    assert try_acquire(db.engine, lease_name("sync", storage_id), owner, 30)
    with write(db.engine) as conn, pytest.raises(schedule.JobRefused, match="already running"):
        schedule.request_run(conn, storage_id)
    release(db.engine, lease_name("sync", storage_id), owner)
    with write(db.engine) as conn:
        schedule.request_run(conn, storage_id)
    assert _storage(db, storage_id).sync_status == "SYNCING"
    manager.clear()


def test_lease_is_exclusive_and_expires(db) -> None:
    from storfleet.jobs.leases import renew, try_acquire

    assert try_acquire(db.engine, "sync:x", "a", 0.5)
    assert not try_acquire(db.engine, "sync:x", "b", 0.5)
    assert try_acquire(db.engine, "sync:x", "a", 0.5)  # re-entrant for its holder
    time.sleep(0.7)
    assert try_acquire(db.engine, "sync:x", "b", 30)  # expired: taken over
    assert not renew(db.engine, "sync:x", "a", 30)  # the old holder cannot renew
