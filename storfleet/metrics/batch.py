"""A collected window as storfleet keeps it: labelled series with stable ids.

Every sink (history, the latest values, Kafka) receives the same ``MetricBatch``, so a
series carries one identity everywhere. The series id is a 64-bit hash of (storage,
resource type, resource id, metric): any node computes it without asking the database,
and history rows stay three numbers wide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import xxhash

from storfleet.metrics.naming import resource_type as storfleet_type
from storfleet.metrics.vocabulary import metric_vocabulary

_SIGN = 1 << 63


def series_id(storage_id: str, resource_type: str, resource_id: str, metric: str) -> int:
    """A signed 64-bit id (fits BIGINT / SQLite INTEGER); collisions are ~1e-8 at a
    million series."""
    key = f"{storage_id}\x1f{resource_type}\x1f{resource_id}\x1f{metric}"
    return xxhash.xxh64_intdigest(key.encode()) - _SIGN


def storage_key(storage_id: str) -> int:
    """The signed 64-bit key that clusters a storage's history rows."""
    return xxhash.xxh64_intdigest(storage_id.encode()) - _SIGN


@dataclass(slots=True)
class Series:
    series_id: int
    resource_type: str  # storfleet's spelling (storage_pool)
    resource_id: str
    resource_name: str
    metric: str  # Delfin's metric name
    unit: str  # Delfin's unit
    values: dict[int, float]  # epoch ms -> value, in Delfin's unit


@dataclass
class MetricBatch:
    storage_id: str
    storage_name: str
    serial_number: str
    start_ms: int
    end_ms: int
    collected_at: float  # epoch seconds
    series: list[Series] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(len(s.values) for s in self.series)

    @property
    def storage_key(self) -> int:
        return storage_key(self.storage_id)

    @property
    def batch_id(self) -> str:
        return f"{self.storage_id}:{self.start_ms}-{self.end_ms}"

    @property
    def last_sample_ms(self) -> int | None:
        stamps = [max(s.values) for s in self.series if s.values]
        return max(stamps) if stamps else None


def label(
    storage: Mapping[str, Any],
    usable: Iterable[tuple[str, Mapping[str, Any], Mapping[int, float]]],
    start_ms: int,
    end_ms: int,
    collected_at: float,
) -> MetricBatch:
    """Validated driver series -> a batch labelled with the storage's id, name and serial.
    Two series of one (resource, metric) are merged, so a driver's duplicate never
    becomes a duplicate row."""
    storage_id = str(storage["id"])
    vocabulary = metric_vocabulary()
    by_id: dict[int, Series] = {}
    for name, labels, values in usable:
        if not values:
            continue
        delfin_type = labels["resource_type"]
        rtype = storfleet_type(delfin_type)
        rid = str(labels["resource_id"])
        sid = series_id(storage_id, rtype, rid, name)
        found = by_id.get(sid)
        if found is not None:
            found.values.update(values)
            continue
        by_id[sid] = Series(
            sid,
            rtype,
            rid,
            str(labels.get("resource_name") or rid),
            name,
            vocabulary[delfin_type][name],
            values if type(values) is dict else dict(values),
        )
    return MetricBatch(
        storage_id,
        str(storage.get("name") or ""),
        str(storage.get("serial_number") or ""),
        start_ms,
        end_ms,
        collected_at,
        list(by_id.values()),
    )
