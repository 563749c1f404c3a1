"""A real Prometheus scrapes storfleet every second while the embedded scheduler collects
fake arrays every second: every expected series is there in every scrape (no gap), and
the values move with the collections."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from storfleet.config import Settings
from storfleet.metrics import state
from storfleet.metrics.naming import naming_table
from storfleet.metrics.status import collection_status
from storfleet.secrets import generate_key
from storfleet.store import write
from tests.metrics.apps import metrics_app
from tests.metrics.conftest import open_fast, register, wait_for
from tests.metrics.servers import prometheus, serve

# Per fake array (conftest.fake_body): 1 storage, 2 pools, 2 controllers, 4 ports.
RESOURCES = {"storage": 1, "storage_pool": 2, "controller": 2, "port": 4}
TOP_N = 3


def _query_range(api: str, query: str, start: float, end: float) -> list[dict]:
    answer = httpx.get(f"{api}/api/v1/query_range",
                       params={"query": query, "start": start, "end": end, "step": 1},
                       timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _query(api: str, query: str) -> list[dict]:
    answer = httpx.get(f"{api}/api/v1/query", params={"query": query}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_sees_every_series_without_gaps(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key=generate_key(),
                        database_url=f"sqlite:///{tmp_path / 'prom.db'}")
    db = open_fast(settings, metrics_detail_top_n=TOP_N)
    app = metrics_app(db, run_jobs=True)
    with serve(app) as base:
        manager = app.state.manager
        detailed = register(manager, 21)
        plain = register(manager, 22)
        with write(db.engine) as conn:  # all of this one's volumes, top-N of the other's
            state.configure(conn, detailed, detail=["volume"])
        app.state.runner.nudge()

        def collected_twice() -> bool:
            with db.engine.connect() as conn:
                return all(collection_status(conn, sid, db.settings)["windows_total"] >= 2
                           for sid in (detailed, plain))

        wait_for(collected_twice, timeout=30, what="first collections")
        target = base.removeprefix("http://")
        with prometheus(target, tmp_path) as api:
            wait_for(lambda: _query(api, "up") and _query(api, "up")[0]["value"][1] == "1",
                     timeout=30, what="a first successful scrape")
            start = time.time() + 1
            time.sleep(12)  # a dozen scrapes and collection cycles
            end = time.time() - 1

            ups = _query_range(api, "up", start, end)
            assert len(ups) == 1 and {v for _t, v in ups[0]["values"]} == {"1"}
            steps = len(ups[0]["values"])
            assert steps >= 9

            table = naming_table()
            for (rtype, _metric), pm in table.items():
                if rtype not in RESOURCES:
                    # Top-N members may change places between cycles: count one instant.
                    if rtype == "volume":
                        expected = 20 + TOP_N  # perf_resources_max 20 for the detailed one
                    else:
                        expected = 2 * min(TOP_N, {"disk": 6, "filesystem": 3}[rtype])
                    now = _query(api, f"count({pm.name})")
                    assert int(now[0]["value"][1]) == expected, (pm.name, now, expected)
                    continue
                result = _query_range(api, pm.name, start, end)
                assert len(result) == 2 * RESOURCES[rtype], (pm.name, len(result))
                for series in result:
                    stamps = [t for t, _v in series["values"]]
                    assert len(stamps) == steps, (pm.name, series["metric"])
                    assert all(b - a == 1 for a, b in zip(stamps, stamps[1:], strict=False))
                # Every scrape had every series (a missing one leaves a staleness marker,
                # i.e. a gap above, and fewer samples here).
                counts = _query(api, f"min(count_over_time({pm.name}[8s]))")
                assert float(counts[0]["value"][1]) >= 7, (pm.name, counts)

            # The values follow the collections (the fake array's load moves each second).
            moving = _query(api, "min(changes(storfleet_storage_iops[10s]))")
            assert float(moving[0]["value"][1]) >= 4
            health = _query(api, "max(storfleet_collection_lag_seconds)")
            assert float(health[0]["value"][1]) < 5
            labels = _query(api, "storfleet_storage_pool_read_iops")[0]["metric"]
            assert {"storage_id", "storage_name", "serial_number", "resource_id",
                    "resource_name"} <= set(labels)
    db.dispose()
