"""storfleet's own health on /metrics: collection, sync, inventory and capacity per storage.

Read from the tables that already record them (storage, sync_state, storage_pool,
metric_collection) at scrape time, on any node. Other parts add their counters (the trap
receiver's, say) through ``register_source``: a callable returning prometheus_client
metric families, called at every scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, Metric

from storfleet.metrics.exposition import SeriesFamily, escape_label_value
from storfleet.store.schema import inventory, metric_collection, storage, sync_state

log = logging.getLogger(__name__)

STORAGE_LABELS = ("storage_id", "storage_name", "serial_number")

_sources: list[Callable[[], Iterable[Metric]]] = []
_sources_lock = threading.Lock()


def register_source(source: Callable[[], Iterable[Metric]]) -> None:
    """Add families to every scrape (e.g. the trap receiver's counters)."""
    with _sources_lock:
        if source not in _sources:
            _sources.append(source)


def unregister_source(source: Callable[[], Iterable[Metric]]) -> None:
    with _sources_lock:
        if source in _sources:
            _sources.remove(source)


def extra_families() -> list[Metric]:
    with _sources_lock:
        sources = list(_sources)
    families: list[Metric] = []
    for source in sources:
        try:
            families.extend(source())
        except Exception:  # one broken source must not take /metrics down
            log.exception("metrics source %r failed", source)
    return families


@dataclass(frozen=True)
class LiveStorage:
    storage_id: str
    name: str
    serial_number: str
    block: str  # the escaped storage label block
    row: Any


def live_storages(conn: sa.Connection) -> dict[str, LiveStorage]:
    st = storage.c
    rows = conn.execute(
        sa.select(
            st.id, st.name, st.serial_number, st.vendor, st.model, st.status, st.total_capacity,
            st.used_capacity, st.free_capacity, st.sync_state, st.paused,
        ).where(st.deleting.is_(False))
    )
    out = {}
    for row in rows:
        name, serial = row.name or "", row.serial_number or ""
        block = (
            f'storage_id="{row.id}",storage_name="{escape_label_value(name)}",'
            f'serial_number="{escape_label_value(serial)}"'
        )
        out[row.id] = LiveStorage(row.id, name, serial, block, row)
    return out


def _gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> SeriesFamily:
    return SeriesFamily(name, doc, STORAGE_LABELS + extra)


def _add(family: SeriesFamily, live: LiveStorage, value: Any, *extra: str) -> None:
    if value is None:
        return
    if extra:
        more = ",".join(
            f'{name}="{escape_label_value(str(v))}"'
            for name, v in zip(family.label_names[3:], extra, strict=True)
        )
        block = f"{live.block},{more}"
    else:
        block = live.block
    family.add(block, (live.storage_id, live.name, live.serial_number, *extra), float(value))


def _ts(moment: Any) -> float | None:
    return None if moment is None else moment.timestamp()


def storage_families(conn: sa.Connection, storages: dict[str, LiveStorage]) -> list[SeriesFamily]:
    up = _gauge("storfleet_storage_info", "A registered storage (value 1)",
                ("vendor", "model", "status"))
    total = _gauge("storfleet_storage_capacity_total_bytes", "Usable capacity of a storage")
    used = _gauge("storfleet_storage_capacity_used_bytes", "Used capacity of a storage")
    free = _gauge("storfleet_storage_capacity_free_bytes", "Free capacity of a storage")
    paused = _gauge("storfleet_storage_paused", "1 when the storage's jobs are paused")
    for live in storages.values():
        row = live.row
        _add(up, live, 1, row.vendor or "", row.model or "", row.status or "")
        _add(total, live, row.total_capacity)
        _add(used, live, row.used_capacity)
        _add(free, live, row.free_capacity)
        _add(paused, live, 1 if row.paused else 0)
    pool = inventory["storage_pool"].c
    pool_labels = ("resource_id", "resource_name")
    pool_total = _gauge("storfleet_storage_pool_capacity_total_bytes",
                        "Usable capacity of a storage pool", pool_labels)
    pool_used = _gauge("storfleet_storage_pool_capacity_used_bytes",
                       "Used capacity of a storage pool", pool_labels)
    pool_free = _gauge("storfleet_storage_pool_capacity_free_bytes",
                       "Free capacity of a storage pool", pool_labels)
    rows = conn.execute(
        sa.select(pool.storage_id, pool.native_storage_pool_id, pool.name, pool.total_capacity,
                  pool.used_capacity, pool.free_capacity)
    )
    for row in rows:
        live = storages.get(row.storage_id)
        if live is None:
            continue
        ident = (row.native_storage_pool_id or "", row.name or "")
        _add(pool_total, live, row.total_capacity, *ident)
        _add(pool_used, live, row.used_capacity, *ident)
        _add(pool_free, live, row.free_capacity, *ident)
    return [up, paused, total, used, free, pool_total, pool_used, pool_free]


def sync_families(conn: sa.Connection, storages: dict[str, LiveStorage]) -> list[SeriesFamily]:
    kind = ("kind",)
    count = _gauge("storfleet_inventory_resources",
                   "Resources of a kind in the inventory (as of the last sync)", kind)
    duration = _gauge("storfleet_sync_duration_seconds", "Duration of the last sync of a kind",
                      kind)
    failed = _gauge("storfleet_sync_failed", "1 when the last sync of a kind failed", kind)
    last_ok = _gauge("storfleet_sync_last_success_timestamp_seconds",
                     "When a kind last synced successfully (epoch seconds)", kind)
    rejected = _gauge("storfleet_sync_rejected_records",
                      "Records the last sync of a kind rejected as invalid", kind)
    for row in conn.execute(sa.select(sync_state)):
        live = storages.get(row.storage_id)
        if live is None:
            continue
        _add(count, live, row.total, row.kind)
        _add(duration, live, row.duration_s, row.kind)
        _add(failed, live, 1 if row.status == "failed" else 0, row.kind)
        _add(last_ok, live, _ts(row.last_success_at), row.kind)
        _add(rejected, live, row.rejected, row.kind)
    return [count, duration, failed, last_ok, rejected]


def collection_families(
    rows: Iterable[Any], storages: dict[str, LiveStorage], intervals: dict[str, int]
) -> list[SeriesFamily]:
    now = time.time()
    interval = _gauge("storfleet_collection_interval_seconds",
                      "How often a storage's performance metrics are collected")
    lag = _gauge("storfleet_collection_lag_seconds",
                 "Now minus the end of the last collected (or given up) window")
    last_ok = _gauge("storfleet_collection_last_success_timestamp_seconds",
                     "When a storage's collection last succeeded (epoch seconds)")
    failing = _gauge("storfleet_collection_consecutive_failures",
                     "Failed collection attempts in a row (0 when healthy)")
    problems = _gauge("storfleet_capabilities_problems",
                      "Problems found in the driver's get_capabilities answer")
    counters = {
        "failures_total": _gauge("storfleet_collection_failures_total",
                                 "Failed collection attempts"),
        "lost_windows": _gauge("storfleet_collection_lost_windows_total",
                               "Collection windows lost for good (out of the array's retention)"),
        "samples_total": _gauge("storfleet_collection_samples_total", "Samples collected"),
        "rejected_series_total": _gauge("storfleet_collection_rejected_series_total",
                                        "Series rejected by validation"),
    }
    for row in rows:
        live = storages.get(row.storage_id)
        if live is None:
            continue
        _add(interval, live, intervals.get(row.storage_id))
        if row.collected_until_ms is not None:
            _add(lag, live, max(0.0, now - row.collected_until_ms / 1000.0))
        _add(last_ok, live, _ts(row.last_success_at))
        _add(failing, live, row.failures)
        _add(problems, live, len(row.capability_problems or ()))
        for column, family in counters.items():
            _add(family, live, getattr(row, column))
    for family in counters.values():
        family.type = "counter"
    return [interval, lag, last_ok, failing, problems, *counters.values()]


def collection_rows(conn: sa.Connection) -> list[Any]:
    c = metric_collection.c
    return list(
        conn.execute(
            sa.select(
                c.storage_id, c.interval_s, c.detail, c.capabilities, c.capability_problems,
                c.collected_until_ms, c.last_success_at, c.failures, c.failures_total,
                c.lost_windows, c.samples_total, c.rejected_series_total,
            )
        )
    )


def kafka_families(stats: dict[str, float] | None) -> list[Metric]:
    if stats is None:
        return []
    families: list[Metric] = []
    buffered = SeriesFamily("storfleet_kafka_buffered_samples",
                            "Samples waiting for Kafka's acknowledgement", ())
    buffered.add("", (), stats["buffered_samples"])
    families.append(buffered)
    for key, doc in (
        ("delivered_batches", "Messages Kafka acknowledged"),
        ("delivered_samples", "Samples Kafka acknowledged"),
        ("delivery_failures", "Failed deliveries (retried while the buffer holds them)"),
        ("lost_samples", "Samples dropped because the buffer was full"),
    ):
        counter = CounterMetricFamily(f"storfleet_kafka_{key}", doc)
        counter.add_metric([], stats[key])
        families.append(counter)
    return families
