"""/metrics rendering: the fast encoder says exactly what prometheus_client would, the
database gives the same view as memory, and detail series are top-N or opted in."""

from __future__ import annotations

import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from storfleet.metrics import state
from storfleet.metrics.batch import MetricBatch, Series
from storfleet.metrics.collect import collect_storage
from storfleet.metrics.exposition import SeriesFamily, render
from storfleet.metrics.latest import LatestStore
from storfleet.metrics.prometheus import FleetCollector, array_families
from storfleet.store import write
from tests.metrics.conftest import register


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_fast_render_equals_prometheus_client_and_database_equals_memory(
    fast_db, fast_manager
) -> None:
    for seed in (51, 52):
        collect_storage(fast_db, fast_manager, register(fast_manager, seed))
    memory = FleetCollector(fast_db, "memory")
    families = memory.families()  # one scrape's state, encoded both ways
    fast = render(families).decode()

    class Once:
        def collect(self):
            return [f.to_metric() if isinstance(f, SeriesFamily) else f for f in families]

    reference = generate_latest(Once()).decode()  # prometheus_client's own encoder
    assert "storfleet_storage_iops" in generate_latest(memory).decode()  # a real Collector
    assert _samples(fast) == _samples(reference)
    assert len(_samples(fast)) > 200
    from_db = FleetCollector(fast_db, "database").render().decode()
    arrays = {k: v for k, v in _samples(fast).items() if "resource_id" in dict(k[1])}
    assert arrays == {k: v for k, v in _samples(from_db).items() if "resource_id" in dict(k[1])}


def test_units_follow_the_naming_table(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 53)
    collect_storage(fast_db, fast_manager, sid)
    view = FleetCollector(fast_db).render().decode()
    samples = _samples(view)
    by_name: dict[str, list[float]] = {}
    for (name, _labels), value in samples.items():
        by_name.setdefault(name, []).append(value)
    assert all(0 <= v <= 1 for v in by_name["storfleet_controller_cpu_usage_ratio"])
    assert all(0 <= v <= 1 for v in by_name["storfleet_volume_cache_hit_ratio"])
    assert all(v < 1 for v in by_name["storfleet_storage_response_time_seconds"])
    # MB/s -> bytes/s is x 10^6: storage throughput of thousands of MB/s is > 10^8 B/s.
    assert min(by_name["storfleet_storage_throughput_bytes_per_second"]) > 1e8
    assert "storfleet_storage_pool_capacity_total_bytes" not in by_name  # before a sync


def _resource_batch(sid: str, count: int, ts: int) -> MetricBatch:
    series = [Series(i, "volume", f"v{i:02d}", f'vol "{i}"\n', "iops", "IOPS", {ts: float(i)})
              for i in range(count)]
    return MetricBatch(sid, 'ar"ray\\1', "SN-1", ts, ts, 0.0, series)


def test_detail_types_are_top_n_unless_opted_in_and_stale_series_leave() -> None:
    now = int(time.time() * 1000)
    store = LatestStore()
    store.update(_resource_batch("s-1", 30, now))
    store.update(_resource_batch("s-2", 30, now - 3_600_000))  # an hour old: stale

    def volumes(detail: dict) -> list[tuple]:
        families = array_families(store.snapshot(), {"s-1", "s-2"}, detail=detail,
                                  stale_ms={}, default_stale_ms=900_000, top_n=5, now_ms=now)
        family = next(f for f in families if f.name == "storfleet_volume_iops")
        return [(labels[0], labels[3], value) for _block, labels, value in family.rows]

    top = volumes({})
    assert sorted(v for _s, _r, v in top) == [25.0, 26.0, 27.0, 28.0, 29.0]  # by IOPS
    assert {s for s, _r, _v in top} == {"s-1"}
    assert len(volumes({"s-1": {"volume"}})) == 30
    # Escaping survives a round trip through the parser.
    text = render(array_families(store.snapshot(), {"s-1"}, detail={}, stale_ms={},
                                 default_stale_ms=900_000, top_n=1, now_ms=now)).decode()
    (labels,) = [dict(k[1]) for k in _samples(text)]
    assert labels["storage_name"] == 'ar"ray\\1' and labels["resource_name"] == 'vol "29"\n'


def test_removed_or_paused_storage_and_opt_in_from_the_table(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 54, counts={"volumes": 30})
    collect_storage(fast_db, fast_manager, sid)

    def volume_series() -> int:
        text = FleetCollector(fast_db).render().decode()
        return sum(1 for (name, _l) in _samples(text) if name == "storfleet_volume_iops")

    assert volume_series() == fast_db.settings.metrics_detail_top_n
    with write(fast_db.engine) as conn:
        state.configure(conn, sid, detail=["volume"])
    assert volume_series() == 20  # perf_resources_max
    from storfleet.fleet import removal

    removal.begin(fast_db, sid)
    assert volume_series() == 0


def test_the_grafana_dashboard_uses_only_exported_names(fast_db) -> None:
    import json
    import re
    from pathlib import Path

    from storfleet.metrics import health
    from storfleet.metrics.naming import naming_table

    with fast_db.engine.connect() as conn:
        families = (health.storage_families(conn, {}) + health.sync_families(conn, {})
                    + health.collection_families([], {}, {}))
    exported = {pm.name for pm in naming_table().values()} | {f.name for f in families}
    exported |= {f"storfleet_kafka_{k}" for k in ("buffered_samples", "lost_samples_total",
                                                  "delivered_samples_total")}
    path = Path(__file__).resolve().parents[2] / "deploy/grafana/storfleet-dashboard.json"
    dashboard = json.loads(path.read_text())
    used = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
            for name in re.findall(r"storfleet_[a-z_]+", target["expr"])}
    assert used and used <= exported, used - exported


def test_a_non_collecting_process_reloads_only_what_moved(
    fast_db, fast_manager, monkeypatch
) -> None:
    """The database view (an API process whose jobs run elsewhere) follows collections,
    renames and removals, but reads a storage's samples again only when it changed."""
    from storfleet.fleet import removal
    from storfleet.metrics import history

    first, second = register(fast_manager, 55), register(fast_manager, 56)
    for sid in (first, second):
        collect_storage(fast_db, fast_manager, sid)
    loaded: list[set[str]] = []
    original = history.latest_rows

    def spy(conn, settings, skip=frozenset(), only=None, storages=None):  # noqa: ANN001, ANN202
        if only is not None:  # the mirror's loads (the memory store primes with skip=)
            loaded.append(set(only))
        return original(conn, settings, skip, only, storages)

    monkeypatch.setattr(history, "latest_rows", spy)
    database = FleetCollector(fast_db, "database")
    memory = FleetCollector(fast_db, "memory")

    def arrays(collector: FleetCollector) -> dict:
        return {k: v for k, v in _samples(collector.render().decode()).items()
                if "resource_id" in dict(k[1])}

    assert arrays(database) == arrays(memory)
    assert loaded == [{first, second}]
    assert arrays(database) == arrays(memory)  # nothing moved: nothing read
    assert loaded == [{first, second}]

    time.sleep(1.1)  # the fake's next samples (perf_interval_s is 1 s in these tests)
    collect_storage(fast_db, fast_manager, first)
    assert arrays(database) == arrays(memory)
    assert loaded[-1] == {first}

    removal.begin(fast_db, second)
    assert not any(dict(k[1]).get("storage_id") == second for k in arrays(database))
