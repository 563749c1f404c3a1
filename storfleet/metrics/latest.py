"""Each series' latest value: kept in memory by the process that collects, derivable from
the history table by any other.

This is not a second store of metric values: it is the newest sample of each series, the
only thing a Prometheus scrape shows, held where collection already has it in hand. A
process that does not collect (``storfleet serve``'s API process, whose jobs run in a
child process; an API node in scale-out) mirrors it from the history table
(``HistoryMirror``): loaded once, then per storage only when its collection moved on, so a
scrape reads what changed since the last one rather than every series.

Writers (collection threads) replace a storage's view as a whole (copy-on-write), so a
scrape iterating a snapshot never sees a storage half updated and never takes a lock
longer than a dictionary copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from storfleet.metrics.batch import MetricBatch
from storfleet.store.database import PerEngine


class ResourceLatest:
    """The newest values of one resource (Delfin units) and its rendered label block."""

    __slots__ = ("labels", "name", "ts_ms", "values")

    def __init__(self, name: str, ts_ms: int, values: dict[str, float]) -> None:
        self.name = name
        self.ts_ms = ts_ms
        self.values = values
        self.labels: str | None = None  # filled by the exposition, once


class StorageLatest:
    __slots__ = ("name", "resources", "serial_number", "storage_id", "updated_at")

    def __init__(
        self,
        storage_id: str,
        name: str,
        serial_number: str,
        resources: dict[str, dict[str, ResourceLatest]],
    ) -> None:
        self.storage_id = storage_id
        self.name = name
        self.serial_number = serial_number
        self.resources = resources  # resource type -> resource id -> latest
        self.updated_at = time.time()

    def series_count(self) -> int:
        return sum(len(r.values) for by_id in self.resources.values() for r in by_id.values())


class LatestStore:
    """Latest values of every storage this process collected."""

    def __init__(self) -> None:
        self._storages: dict[str, StorageLatest] = {}
        self._lock = threading.Lock()
        self.primed = False  # loaded from the history once (after a restart)

    def update(self, batch: MetricBatch) -> None:
        newest: dict[tuple[str, str], tuple[str, int, dict[str, float]]] = {}
        for s in batch.series:
            if not s.values:
                continue
            ts = max(s.values)
            key = (s.resource_type, s.resource_id)
            entry = newest.get(key)
            if entry is None:
                entry = newest[key] = (s.resource_name, ts, {})
            elif ts > entry[1]:
                entry = newest[key] = (entry[0], ts, entry[2])
            entry[2][s.metric] = s.values[ts]
        with self._lock:
            old = self._storages.get(batch.storage_id)
        same_labels = (
            old is not None
            and old.name == batch.storage_name
            and old.serial_number == batch.serial_number
        )
        resources: dict[str, dict[str, ResourceLatest]] = {}
        if old is not None and same_labels:
            resources = {rtype: dict(by_id) for rtype, by_id in old.resources.items()}
        elif old is not None:  # renamed storage: every label block changes
            resources = {
                rtype: {rid: ResourceLatest(r.name, r.ts_ms, r.values) for rid, r in by_id.items()}
                for rtype, by_id in old.resources.items()
            }
        for (rtype, rid), (name, ts, values) in newest.items():
            by_id = resources.setdefault(rtype, {})
            previous = by_id.get(rid)
            if previous is not None and previous.name == name:
                if previous.ts_ms > ts:
                    continue
                merged = ResourceLatest(name, ts, {**previous.values, **values})
                merged.labels = previous.labels
            else:
                merged = ResourceLatest(name, ts, values)
            by_id[rid] = merged
        fresh = StorageLatest(batch.storage_id, batch.storage_name, batch.serial_number, resources)
        with self._lock:
            self._storages[batch.storage_id] = fresh

    def forget(self, storage_id: str) -> None:
        with self._lock:
            self._storages.pop(storage_id, None)

    def snapshot(self) -> list[StorageLatest]:
        with self._lock:
            return list(self._storages.values())

    def prime(self, rows: Iterable[Any]) -> None:
        """Fill from ``history.latest_rows`` (after a restart), without overwriting what a
        collection already put here."""
        built = from_rows(rows)
        with self._lock:
            for view in built:
                self._storages.setdefault(view.storage_id, view)
            self.primed = True


def from_rows(rows: Iterable[Any]) -> list[StorageLatest]:
    """Views from (storage_id, name, serial_number, resource_type, resource_id,
    resource_name, metric, ts, value) rows (``history.latest_rows``)."""
    storages: dict[str, StorageLatest] = {}
    for row in rows:
        (storage_id, name, serial, rtype, rid, rname, metric, ts, value) = tuple(row)
        if ts is None:
            continue
        view = storages.get(storage_id)
        if view is None:
            view = storages[storage_id] = StorageLatest(storage_id, name or "", serial or "", {})
        by_id = view.resources.setdefault(rtype, {})
        resource = by_id.get(rid)
        if resource is None:
            by_id[rid] = ResourceLatest(rname or rid, ts, {metric: value})
        else:
            resource.values[metric] = value
            resource.ts_ms = max(resource.ts_ms, ts)
    return list(storages.values())


class HistoryMirror:
    """The latest values of every storage, as a process that does not collect sees them.

    ``refresh(marks, load)``: ``marks`` maps each live storage with samples to what
    identifies its current state (last sample time, name, serial number); ``load(ids)``
    returns ``history.latest_rows`` of those storages. Only storages whose mark changed
    are loaded; storages gone are dropped."""

    def __init__(self) -> None:
        self._views: dict[str, StorageLatest] = {}
        self._marks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def refresh(
        self, marks: dict[str, Any], load: Callable[[set[str]], Iterable[Any]]
    ) -> list[StorageLatest]:
        with self._lock:  # concurrent scrapes: one loads, the next finds nothing to do
            for gone in set(self._marks) - set(marks):
                self._marks.pop(gone, None)
                self._views.pop(gone, None)
            changed = {sid for sid, mark in marks.items() if self._marks.get(sid) != mark}
            if changed:
                fresh = {view.storage_id: view for view in from_rows(load(changed))}
                for sid in changed:
                    view = fresh.get(sid)
                    if view is None:
                        self._views.pop(sid, None)
                    else:
                        self._views[sid] = view
                    self._marks[sid] = marks[sid]
            return list(self._views.values())


# The process's latest values of a database: what it collected (``latest_store``), or what
# it mirrors from the history when it does not collect (``history_mirror``).
latest_store = PerEngine(LatestStore)
history_mirror = PerEngine(HistoryMirror)
