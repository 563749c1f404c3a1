"""A sync killed mid-apply (kill -9 of its process) leaves every kind either fully old or
fully new, and the storage is not shown as syncing once the lease expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from storfleet.drivers.fake import FakeArray
from storfleet.fleet.registration import register_storage, update_access_info
from storfleet.jobs import schedule
from storfleet.store import schema, write
from storfleet.store.types import utcnow
from storfleet.sync import sync_storage

REPO = Path(__file__).resolve().parents[2]
COUNTS = {"volumes": 60000, "disks": 3000, "storage_hosts": 2000}
LEASE_S = 2.0


def _extra(generation: int) -> dict:
    return {"seed": 9, "counts": COUNTS, "churn": 0.3, "generation": generation}


def _ids(db, storage_id: str, kind: str) -> set[str]:
    table = schema.inventory[kind]
    with db.engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(table.c[f"native_{kind}_id"]).where(table.c.storage_id == storage_id)
            ).scalars()
        )


@pytest.mark.parametrize("kill_after_s", [0.4, 1.5])
def test_killed_sync_leaves_each_kind_old_or_new(db, manager, kill_after_s) -> None:
    body = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": _extra(0),
    }
    storage_id = register_storage(manager, body)["id"]
    assert sync_storage(db, manager, storage_id).state == "synced"
    # The victim's calls to the array take 300 ms each: its ~20 calls (2 at a time) keep
    # it busy for seconds, so the kill surely lands while kinds are being fetched and
    # applied, however fast this machine syncs.
    update_access_info(manager, storage_id,
                       {"extra_attributes": {"generation": 1, "latency_ms": 300}})
    old = {k: set(FakeArray(_extra(0)).ids(k, 0)) for k in ("volume", "disk", "storage_host")}
    new = {k: set(FakeArray(_extra(1)).ids(k, 1)) for k in ("volume", "disk", "storage_host")}
    assert all(old[k] != new[k] for k in old)

    victim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.sync_once",
            db.settings.resolved_database_url,
            storage_id,
            db.settings.secret_key,
            str(LEASE_S),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert victim.stdout.readline().strip() == "syncing"
    time.sleep(kill_after_s)
    assert victim.poll() is None, "the sync finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    for kind in old:  # atomic per kind: entirely the old inventory or entirely the new
        stored = _ids(db, storage_id, kind)
        assert stored in (old[kind], new[kind]), kind

    with db.engine.connect() as conn:
        state = conn.execute(
            sa.select(schema.storage.c.sync_state).where(schema.storage.c.id == storage_id)
        ).scalar_one()
    assert state == "syncing"  # its lease is still live: it may be running
    time.sleep(LEASE_S + 0.2)
    with db.engine.connect() as conn:
        stuck = schedule.interrupted(conn, utcnow())
    assert stuck == [storage_id]
    with write(db.engine) as conn:
        schedule.mark_interrupted(conn, stuck, utcnow())
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(schema.storage).where(schema.storage.c.id == storage_id)
        ).one()
    assert row.sync_state == "failed"
    assert row.sync_status == "SYNCING"  # registration queued a sync that is still due
    assert "interrupted" in row.sync_error

    # The next sync completes the work.
    assert sync_storage(db, manager, storage_id).state == "synced"
    for kind in old:
        assert _ids(db, storage_id, kind) == new[kind]
