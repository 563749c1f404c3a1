"""One step of the sync benchmark, in its own process so its peak RSS is its own.

Prints one JSON object: {"seconds": ..., "peak_rss_mb": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.registration import register_storage, update_access_info
from storfleet.store import migrate
from storfleet.store.database import open_database
from storfleet.sync import sync_storage


def _settings(url: str, workdir: str, **extra) -> Settings:
    from base64 import urlsafe_b64encode

    key = urlsafe_b64encode(b"storfleet-benchmark-key-32-bytes").decode()
    return Settings(database_url=url, data_dir=workdir, secret_key=key, **extra)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["first", "churn", "nochange", "fleet"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--counts", default="{}")
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--arrays", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    counts = json.loads(args.counts)
    settings = _settings(args.url, args.workdir)
    if args.step == "first":
        migrate.upgrade(args.url)
    db = open_database(settings, auto_migrate=False)
    manager = DriverManager(db)
    out: dict = {}
    if args.step == "first":
        body = {
            "vendor": "fake_storage",
            "model": "fake_driver",
            "rest": {"host": "127.0.0.1", "port": 8443, "username": "bench", "password": "x"},
            "extra_attributes": {
                "seed": 1, "counts": counts, "churn": args.churn, "generation": 0
            },
        }
        storage_id = register_storage(manager, body)["id"]
        started = time.perf_counter()
        result = sync_storage(db, manager, storage_id)
        out["seconds"] = time.perf_counter() - started
    elif args.step in ("churn", "nochange"):
        import sqlalchemy as sa

        from storfleet.store.schema import storage

        with db.engine.connect() as conn:
            storage_id = conn.execute(sa.select(storage.c.id)).scalar_one()
        if args.step == "churn":
            update_access_info(manager, storage_id, {"extra_attributes": {"generation": 1}})
        started = time.perf_counter()
        result = sync_storage(db, manager, storage_id)
        out["seconds"] = time.perf_counter() - started
    else:
        out.update(_fleet(db, manager, args.arrays, counts, args.workers))
        result = None
    if result is not None:
        if result.state != "synced":
            raise SystemExit(f"sync failed: {result.error}")
        out["rows"] = sum(o.total for o in result.kinds.values())
        out["added"] = sum(o.added for o in result.kinds.values())
        out["changed"] = sum(o.changed for o in result.kinds.values())
        out["removed"] = sum(o.removed for o in result.kinds.values())
    out["peak_rss_mb"] = _peak_mb()
    print(json.dumps(out))


def _fleet(db, manager, arrays: int, counts: dict, workers: int) -> dict:
    import sqlalchemy as sa

    from storfleet.jobs.embedded import EmbeddedRunner
    from storfleet.store.schema import storage

    for seed in range(arrays):
        body = {
            "vendor": "fake_storage",
            "model": "fake_driver",
            "rest": {"host": "127.0.0.1", "port": 8443, "username": "bench", "password": "x"},
            "extra_attributes": {"seed": 1000 + seed, "counts": counts},
        }
        register_storage(manager, body)
    runner = EmbeddedRunner(db, manager, workers=workers, kinds=("sync",))  # syncs only
    started = time.perf_counter()
    runner.start()
    try:
        while True:
            with db.engine.connect() as conn:
                pending = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(storage)
                    .where(storage.c.sync_state.not_in(["synced", "failed"]))
                ).scalar_one()
                failed = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(storage)
                    .where(storage.c.sync_state == "failed")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        runner.stop()
    if failed:
        raise SystemExit(f"{failed} arrays failed to sync")
    return {"seconds": seconds, "arrays": arrays, "jobs_per_s": arrays / seconds}


if __name__ == "__main__":
    main()
