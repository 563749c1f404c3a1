"""Scale-out benchmark: `python bench/scale.py`.

1,000 fake arrays of 2,000 volumes each, with ``latency_ms`` on every driver call so a
sync waits on the "array" as it would on a real one, on PostgreSQL, synced by Celery
workers (Redis broker). After a warm-up (every array's first sync, with 4 workers), it
times one full sync cycle of the fleet (every array asked to sync at once; the cycle ends
when the last one finished) with 1, 2 and 4 worker processes (``storfleet worker
--queues sync --concurrency 1`` each), and prints the time, jobs/s and jobs/s per worker.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Databases, machine  # noqa: E402
from storfleet.store.types import utcnow  # noqa: E402
from tests.scale.cluster import REDIS_URL, Cluster, cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=int, default=1000)
    parser.add_argument("--volumes", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to time")
    parser.add_argument("--broker", default=REDIS_URL)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(f"machine: {machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="storfleet-scale-") as workdir:
        dbs = Databases(Path(workdir))
        try:
            url = dbs.new("postgresql")
            with cluster(
                Path(workdir), url, args.broker,
                sync_interval_s=86400,  # cycles are asked for, not scheduled
                collect_interval_s=86400,
                alert_poll_interval_s=86400,
                scheduler_tick_s=0.2,
            ) as fleet:
                fleet.start("api")
                fleet.start("api")
                fleet.start("scheduler")
                fleet.wait_ready()
                _register(fleet, args)
                warm = _workers(fleet, 4)
                seconds = _cycle(fleet, args.arrays, asked=False)
                print(f"warm-up (first syncs, 4 workers): {seconds:.1f} s", flush=True)
                _stop(warm)
                for count in counts:
                    workers = _workers(fleet, count)
                    seconds = _cycle(fleet, args.arrays, asked=True)
                    _stop(workers)
                    rate = args.arrays / seconds
                    rows.append({"workers": count, "cycle_s": round(seconds, 1),
                                 "jobs_per_s": round(rate, 2),
                                 "jobs_per_s_per_worker": round(rate / count, 2)})
                    print(f"{count} worker(s): cycle {seconds:.1f} s, {rate:.2f} jobs/s, "
                          f"{rate / count:.2f} jobs/s per worker", flush=True)
        finally:
            dbs.drop_all()
    base = rows[0]["jobs_per_s"] if rows else 0
    print("\n| workers | one sync cycle | jobs/s | jobs/s per worker | vs 1 worker |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['workers']} | {row['cycle_s']} s | {row['jobs_per_s']} | "
              f"{row['jobs_per_s_per_worker']} | {row['jobs_per_s'] / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": vars(args) | {
            "json": str(args.json)}, "rows": rows}, indent=2))


def _register(fleet: Cluster, args: argparse.Namespace) -> None:
    urls = fleet.api_urls()
    started = time.monotonic()

    def one(index: int) -> None:
        body = {
            "vendor": "fake_storage", "model": "fake_driver",
            "rest": {"host": f"10.{index // 62500}.{index // 250 % 250}.{index % 250}",
                     "port": 8443, "username": "admin", "password": "pw"},
            "extra_attributes": {"seed": index, "counts": {"volumes": args.volumes},
                                 "latency_ms": args.latency_ms},
        }
        response = httpx.post(f"{urls[index % len(urls)]}/v1/storages", json=body,
                              headers=fleet.headers, timeout=120)
        if response.status_code != 201:
            raise RuntimeError(f"registration {index}: {response.status_code} {response.text}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(args.arrays)))
    print(f"registered {args.arrays} arrays in {time.monotonic() - started:.1f} s", flush=True)


def _workers(fleet: Cluster, count: int) -> list:
    nodes = [fleet.start("worker", "--queues", "sync", "--concurrency", "1")
             for _ in range(count)]
    deadline = time.monotonic() + 60
    while not all(" ready." in n.log.read_text(errors="replace") for n in nodes):
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.2)
    return nodes


def _stop(nodes: list) -> None:
    for node in nodes:
        node.kill(15)


def _cycle(fleet: Cluster, arrays: int, *, asked: bool) -> float:
    """Seconds until every storage finished a sync started after now."""
    started_at = utcnow()
    started = time.monotonic()
    if asked:
        response = httpx.post(f"{fleet.api_urls()[0]}/v1/storages/sync", headers=fleet.headers,
                              timeout=120)
        if response.status_code != 202:
            raise RuntimeError(f"sync all: {response.status_code} {response.text}")
    query = sa.text(
        "select count(*) from job where kind = 'sync' and last_status = 'ok' and "
        "last_finished_at >= :since"
    )
    done = 0
    while done < arrays:
        time.sleep(0.5)
        with fleet.engine.connect() as conn:
            done = conn.execute(query, {"since": started_at}).scalar()
    return time.monotonic() - started


if __name__ == "__main__":
    main()
