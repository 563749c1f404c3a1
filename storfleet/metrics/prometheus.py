"""The /metrics view: a prometheus_client custom collector over current state.

Nothing is queued or copied for Prometheus: each scrape renders, from each series' latest
value (``storfleet.metrics.latest``) and the health tables, gauges *without timestamps*,
so every scrape between two collections shows every healthy series and a 15 s scrape
never shows a gap. Names and units come from the one table in ``storfleet.metrics.naming``.

Storage, pool, controller and port series are always shown. Volumes, disks and
filesystems can be millions: per storage, only the top ``metrics_detail_top_n`` of each
(by IOPS, then throughput) are shown, unless the storage opts in to all of a type
(``detail`` on its collection settings). A series whose resource stopped reporting is
dropped after ``metrics_stale_s`` (or three collection intervals, if longer).

In the process that collects (embedded mode) the latest values are in memory; any other
node reads them from the history table at scrape time (``source="database"``).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric

from storfleet.metrics import capabilities, health, history
from storfleet.metrics.exposition import SeriesFamily, escape_label_value, render
from storfleet.metrics.latest import StorageLatest, history_mirror, latest_store
from storfleet.metrics.naming import naming_table
from storfleet.store.database import Database

log = logging.getLogger(__name__)

DEFAULT_TYPES = frozenset({"storage", "storage_pool", "controller", "port"})
DETAIL_TYPES = frozenset({"volume", "disk", "filesystem"})
RESOURCE_LABELS = ("storage_id", "storage_name", "serial_number", "resource_id",
                   "resource_name")
RANK_METRICS = ("iops", "throughput")
SOURCES = ("memory", "database")


def _rank(item: tuple[str, Any]) -> tuple[float, float]:
    values = item[1].values
    return (values.get("iops", 0.0), values.get("throughput", 0.0))


def _resource_block(view: StorageLatest, rid: str, name: str) -> str:
    return (
        f'storage_id="{view.storage_id}",storage_name="{escape_label_value(view.name)}",'
        f'serial_number="{escape_label_value(view.serial_number)}",'
        f'resource_id="{escape_label_value(rid)}",resource_name="{escape_label_value(name)}"'
    )


def array_families(
    views: list[StorageLatest],
    live: set[str],
    *,
    detail: dict[str, set[str]],
    stale_ms: dict[str, int],
    default_stale_ms: int,
    top_n: int,
    now_ms: int | None = None,
) -> list[SeriesFamily]:
    """One gauge family per (resource type, metric) of the vocabulary."""
    table = naming_table()
    families = {key: SeriesFamily(pm.name, pm.help, RESOURCE_LABELS) for key, pm in table.items()}
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    for view in views:
        if view.storage_id not in live:
            continue
        fresh_after = now_ms - stale_ms.get(view.storage_id, default_stale_ms)
        opted = detail.get(view.storage_id, ())
        for rtype, by_id in view.resources.items():
            chosen = [(rid, r) for rid, r in by_id.items() if r.ts_ms >= fresh_after]
            if rtype not in DEFAULT_TYPES and rtype not in opted:
                if top_n <= 0:
                    continue
                if len(chosen) > top_n:
                    chosen = heapq.nlargest(top_n, chosen, key=_rank)
            ident = (view.storage_id, view.name, view.serial_number)
            for rid, resource in chosen:
                block = resource.labels
                if block is None:
                    block = resource.labels = _resource_block(view, rid, resource.name)
                label_values = (*ident, rid, resource.name)
                for metric, value in resource.values.items():
                    pm = table.get((rtype, metric))
                    if pm is not None:
                        families[(rtype, metric)].rows.append(
                            (block, label_values, pm.convert(value))
                        )
    return list(families.values())


class FleetCollector:
    """prometheus_client custom collector (``collect()``) with a fast ``render()``."""

    def __init__(self, db: Database, source: str = "memory") -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        self.db = db
        self.source = source

    def _views(self, conn: Any) -> list[StorageLatest]:
        if self.source == "database":
            settings = self.db.settings
            storages = history.collected_storages(conn)
            marks = {row.id: (row.last_sample_ms, row.name, row.serial_number)
                     for row in storages}
            return history_mirror(self.db.engine).refresh(
                marks,
                lambda ids: history.latest_rows(conn, settings, only=ids, storages=storages),
            )
        store = latest_store(self.db.engine)
        if not store.primed:  # after a restart: what was collected before it
            have = {view.storage_id for view in store.snapshot()}
            store.prime(history.latest_rows(conn, self.db.settings, skip=have))
        return store.snapshot()

    def families(self) -> list[SeriesFamily | Metric]:
        settings = self.db.settings
        with self.db.engine.connect() as conn:
            storages = health.live_storages(conn)
            rows = health.collection_rows(conn)
            views = self._views(conn)
            state = health.storage_families(conn, storages) + health.sync_families(
                conn, storages
            )
        intervals: dict[str, int] = {}
        detail: dict[str, set[str]] = {}
        for row in rows:
            intervals[row.storage_id] = capabilities.interval_of(
                row._mapping, row.capabilities, settings
            )[0]
            if row.detail:
                detail[row.storage_id] = set(row.detail)
        default_stale = int(settings.metrics_stale_s * 1000)
        stale = {sid: max(default_stale, 3000 * every) for sid, every in intervals.items()}
        arrays = array_families(
            views,
            set(storages),
            detail=detail,
            stale_ms=stale,
            default_stale_ms=default_stale,
            top_n=settings.metrics_detail_top_n,
        )
        from storfleet.metrics.kafka import running_stats

        return [
            *arrays,
            *state,
            *health.collection_families(rows, storages, intervals),
            *health.kafka_families(running_stats(settings)),
            *health.extra_families(),
        ]

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            yield family.to_metric() if isinstance(family, SeriesFamily) else family

    def render(self) -> bytes:
        return render(self.families())


def warm_mirror(db: Database) -> threading.Thread:
    """Load a non-collecting process's mirror of the latest values in the background, so
    the first scrape after a start does not pay for reading every storage's samples
    (tens of seconds at a million series) and time out."""

    def load() -> None:
        try:
            started = time.monotonic()
            FleetCollector(db, "database").families()
            log.info("latest metric values loaded in %.1f s", time.monotonic() - started)
        except Exception:  # the first scrape will load them, and say what is wrong
            log.warning("loading the latest metric values failed", exc_info=True)

    thread = threading.Thread(target=load, name="storfleet-metrics-mirror", daemon=True)
    thread.start()
    return thread
