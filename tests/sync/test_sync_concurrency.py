"""Other writers keep working while a large sync runs, and the change feed read from a
cursor never skips a committed change, even with several syncs committing at once."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from storfleet.fleet.registration import register_storage, update_access_info
from storfleet.store import schema, write
from storfleet.store.types import utcnow
from storfleet.sync import sync_storage


def _fake(seed: int, counts: dict, generation: int = 0, churn: float = 0.0) -> dict:
    return {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": {
            "seed": seed, "counts": counts, "generation": generation, "churn": churn
        },
    }


def test_alerts_are_written_while_a_100k_volume_sync_runs(sqlite_db) -> None:
    """SQLite admits one writer at a time; PostgreSQL locks rows, so this is SQLite's."""
    from storfleet.fleet.manager import DriverManager

    db = sqlite_db
    manager = DriverManager(db)
    storage_id = register_storage(manager, _fake(3, {"volumes": 100_000}))["id"]
    errors: list[BaseException] = []
    waits: list[float] = []
    done = threading.Event()

    def write_alerts() -> None:
        n = 0
        while not done.is_set():
            started = time.monotonic()
            try:
                with write(db.engine) as conn:
                    now = utcnow()
                    conn.execute(
                        sa.insert(schema.alert).values(
                            storage_id=storage_id, alert_id=f"a{n}", source="trap",
                            state="open", first_seen=now, last_seen=now,
                        )
                    )
            except BaseException as exc:  # "database is locked" would land here
                errors.append(exc)
                return
            waits.append(time.monotonic() - started)
            n += 1
            time.sleep(0.01)

    writer = threading.Thread(target=write_alerts)
    writer.start()
    try:
        result = sync_storage(db, manager, storage_id)
    finally:
        done.set()
        writer.join()
    assert result.state == "synced" and result.kinds["volume"].total == 100_000
    assert errors == []
    assert len(waits) > 20  # the writer really ran during the sync
    assert max(waits) < 10.0, f"an alert write waited {max(waits):.1f} s"


def test_change_feed_cursor_skips_nothing_under_concurrent_syncs(db, manager) -> None:
    counts = {"volumes": 3000, "disks": 200, "ports": 50}
    ids = [register_storage(manager, _fake(100 + i, counts, churn=0.4))["id"] for i in range(4)]
    for storage_id in ids:
        assert sync_storage(db, manager, storage_id).state == "synced"
    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        cursor = 0
        while True:
            finished = stop.is_set()
            with db.engine.connect() as conn:
                rows = list(
                    conn.execute(
                        sa.select(schema.change.c.id)
                        .where(schema.change.c.id > cursor)
                        .order_by(schema.change.c.id)
                        .limit(500)
                    ).scalars()
                )
            if rows:
                seen.extend(rows)
                cursor = rows[-1]
            elif finished:
                return
            else:
                time.sleep(0.005)

    reader = threading.Thread(target=follow)
    reader.start()
    for generation in (1, 2):
        for storage_id in ids:
            update_access_info(
                manager, storage_id, {"extra_attributes": {"generation": generation}}
            )
        threads = [
            threading.Thread(target=sync_storage, args=(db, manager, sid)) for sid in ids
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stop.set()
    reader.join()
    with db.engine.connect() as conn:
        everything = list(
            conn.execute(sa.select(schema.change.c.id).order_by(schema.change.c.id)).scalars()
        )
    assert len(everything) > 1000
    assert seen == everything  # in order, nothing skipped, nothing twice
