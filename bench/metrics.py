"""Metrics benchmark: `python bench/metrics.py` (runnable alone; prints a table).

500 fake arrays x 200 resources x 10 metrics: each cycle collects one sample per series
(1,000,000 samples) through the real collection path (lease, driver call in a worker
thread, validation, labelling, history rows and rollups, latest values, Kafka export to a
real Tansu broker), then renders /metrics (about 100,000 series with the default top-N).
Targets: a 1,000,000-sample cycle in <= 60 s; /metrics with 100,000 series in <= 1 s.

Windows are explicit and in the past (the fake array answers for any past time), so every
cycle holds exactly one sample per series whatever the cycle's duration.
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Databases, machine  # noqa: E402

# 1 storage + 4 pools + 2 controllers + 8 ports + 185 volumes = 200 resources.
COUNTS = {"storage_pools": 4, "controllers": 2, "ports": 8, "volumes": 185, "disks": 0,
          "filesystems": 0}
METRICS = ["iops", "readIops", "writeIops", "throughput", "readThroughput", "writeThroughput",
           "responseTime", "readResponseTime", "writeResponseTime", "cacheHitRatio"]
STEP_MS = 60_000
ROLLUP_MS = 300_000  # the finest rollup tier
TARGET_CYCLE_S = 60.0
TARGET_RENDER_S = 1.0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=5,
                        help="the fifth cycle includes the 5-minute rollups")
    parser.add_argument("--workers", type=int, default=2, help="collections at once")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-kafka", action="store_true")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last cycle")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    from storfleet.config import Settings
    from storfleet.fleet.manager import DriverManager
    from storfleet.fleet.registration import register_storage
    from storfleet.metrics import kafka, state
    from storfleet.metrics.collect import collect_storage
    from storfleet.metrics.prometheus import FleetCollector
    from storfleet.secrets import generate_key
    from storfleet.store import migrate, write
    from storfleet.store.database import open_database
    from storfleet.store.schema import metric_rollup, metric_sample, metric_series

    workdir = Path(tempfile.mkdtemp(prefix="storfleet-bench-metrics-"))
    databases = Databases(workdir)
    broker = None
    if not args.no_kafka:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.metrics.servers import Broker

        broker = Broker(workdir)
        broker.start()
    url = databases.new(args.database)
    settings = Settings(
        data_dir=workdir / "data", database_url=url, secret_key=generate_key(),
        kafka_bootstrap_servers=broker.bootstrap if broker else None,
        kafka_buffer_samples=5_000_000, lease_s=600.0,
    )
    migrate.upgrade(settings.resolved_database_url)
    db = open_database(settings, auto_migrate=False)
    manager = DriverManager(db, call_timeout_s=600, connect_timeout_s=60)
    rows: list[tuple[str, str, str]] = []
    try:
        started = time.perf_counter()
        # On a 5-minute boundary, so the fifth cycle closes a full 5-minute bucket and pays
        # for its rollup as every fifth cycle does in production; recent enough that the
        # last cycle's samples are fresh on /metrics.
        base = (int(time.time() * 1000) - (args.cycles + 1) * STEP_MS) // ROLLUP_MS * ROLLUP_MS
        sids = []
        for number in range(args.arrays):
            sids.append(register_storage(manager, {
                "vendor": "fake_storage", "model": "fake_driver",
                "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
                "extra_attributes": {"seed": number, "counts": COUNTS, "perf_interval_s": 60,
                                     "perf_resources_max": 200, "retention_window_s": 7200},
            })["id"])
        with write(db.engine) as conn:
            for sid in sids:
                state.configure(conn, sid, metrics=METRICS)
                state.update(conn, sid, collected_until_ms=base)
        rows.append(("setup: arrays registered", f"{args.arrays}",
                     f"{time.perf_counter() - started:.1f} s"))

        pool = ThreadPoolExecutor(args.workers)
        for cycle in range(1, args.cycles + 1):
            end = base + cycle * STEP_MS
            profiler = None
            if args.profile and cycle == args.cycles:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            began = time.perf_counter()
            if args.workers == 1:
                outcomes = [collect_storage(db, manager, sid, now_ms=end) for sid in sids]
            else:
                outcomes = list(pool.map(
                    lambda sid, end=end: collect_storage(db, manager, sid, now_ms=end), sids))
            seconds = time.perf_counter() - began
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            failed = [o for o in outcomes if o.status != "ok"]
            if failed:
                raise SystemExit(f"cycle {cycle}: {len(failed)} failed, e.g. {failed[0]}")
            samples = sum(o.samples for o in outcomes)
            verdict = "ok" if seconds <= TARGET_CYCLE_S else "OVER TARGET"
            rows.append((f"cycle {cycle}: samples collected+stored+exported",
                         f"{samples:,}",
                         f"{seconds:.1f} s, {samples / seconds:,.0f} samples/s ({verdict})"))
        pool.shutdown()
        exporter = kafka.exporter_for(settings)
        if exporter is not None:
            began = time.perf_counter()
            flushed = exporter.flush(300)
            stats = exporter.snapshot()
            rows.append(("kafka: messages / samples acknowledged",
                         f"{int(stats['delivered_batches']):,} / "
                         f"{int(stats['delivered_samples']):,}",
                         f"drained in {time.perf_counter() - began:.1f} s after the last cycle"
                         + ("" if flushed else " (NOT all delivered)")
                         + f", lost {int(stats['lost_samples'])}"))
        with db.engine.connect() as conn:
            import sqlalchemy as sa

            count = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                     for t in (metric_series, metric_sample, metric_rollup)}
        rows.append(("history rows: series / raw samples / rollups",
                     f"{count['metric_series']:,} / {count['metric_sample']:,} / "
                     f"{count['metric_rollup']:,}", ""))

        for source in ("memory", "database"):
            collector = FleetCollector(db, source)
            times, body = [], b""
            # database: the first render loads every storage's latest values (a process
            # that does not collect, after its start); the next ones reload only the
            # storages whose collection moved (none here: the steady state between two
            # collections; each one that moved costs about first / arrays).
            for _ in range(5):
                began = time.perf_counter()
                body = collector.render()
                times.append(time.perf_counter() - began)
            series = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
            verdict = "ok" if min(times) <= TARGET_RENDER_S else "OVER TARGET"
            rows.append((f"/metrics render ({source})", f"{series:,} series",
                         f"first {times[0]:.2f} s, median {statistics.median(times):.2f} s, "
                         f"{len(body) / 2**20:.1f} MiB ({verdict})"))
        rows.append(("peak RSS", f"{_peak_rss_mib():,.0f} MiB", ""))
    finally:
        kafka.close_all(10)
        manager.clear()
        db.dispose()
        if broker is not None:
            broker.stop()
        databases.drop_all()

    print(f"\nstorfleet metrics benchmark — {machine()}, {args.database}, "
          f"{args.arrays} arrays x 200 resources x {len(METRICS)} metrics, "
          f"{args.workers} workers")
    width = max(len(r[0]) for r in rows)
    for what, count, detail in rows:
        print(f"  {what:<{width}}  {count:>22}  {detail}")


if __name__ == "__main__":
    main()
