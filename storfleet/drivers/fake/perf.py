"""Performance series that look like a real array's and never change once asked for.

Every sample is a pure function of (seed, resource, timestamp): a daily cycle peaking at
a per-resource hour, multiplicative noise, and rare spikes that also slow responses. The
metrics of one sample are derived from each other (iops = read + write, throughput = iops
x io size, response time grows with load), so dashboards show coherent pictures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from storfleet.drivers import constants
from storfleet.drivers.fake.generator import Snapshot
from storfleet.drivers.fake.mixing import digest64, mix64, unit

# Delfin's resource type in metrics -> the fake array's kind (storage is the array itself).
KIND_OF_TYPE: dict[str, str | None] = {
    "storage": None,
    "storagePool": "storage_pool",
    "volume": "volume",
    "controller": "controller",
    "port": "port",
    "disk": "disk",
    "filesystem": "filesystem",
}
# (base iops, base response time in ms) per resource type
PROFILES: dict[str, tuple[float, float]] = {
    "storage": (40000.0, 0.8),
    "storagePool": (10000.0, 0.9),
    "volume": (400.0, 1.0),
    "controller": (20000.0, 0.6),
    "port": (5000.0, 0.4),
    "disk": (180.0, 4.0),
    "filesystem": (1500.0, 1.5),
}
IO_SIZES_KB = (4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
DAY_MS = 86_400_000


def capabilities(retention_window_s: int, collect_interval: int | None) -> dict[str, Any]:
    """Delfin's capabilities form, exactly the metric vocabulary (all 7 resource types)."""
    resource_metrics = {
        resource_type: {
            name: {
                "unit": unit_name,
                "description": getattr(
                    constants.Metrics, constants.attribute_name(name)
                ).description,
            }
            for name, unit_name in metrics.items()
        }
        for resource_type, metrics in constants.METRIC_VOCABULARY.items()
    }
    result: dict[str, Any] = {
        "is_historic": True,
        "performance_metric_retention_window": retention_window_s,
        "resource_metrics": resource_metrics,
    }
    if collect_interval is not None:
        result["collect_interval"] = collect_interval
    return result


def latest_timestamp(interval_s: int, now: float | None = None) -> int:
    """The newest sample the array holds: the last interval boundary <= now, in ms."""
    step = interval_s * 1000
    now_ms = int((time.time() if now is None else now) * 1000)
    return now_ms // step * step


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class Profile:
    """The fixed character of one resource: its size, read mix, IO sizes and peak hour."""

    __slots__ = ("base_iops", "base_rt", "cache", "peak", "read_kb", "read_share", "rh", "write_kb")

    def __init__(self, seed: int, resource_type: str, resource_id: str) -> None:
        rh = self.rh = digest64("perf", seed, resource_type, resource_id)
        base_iops, base_rt = PROFILES[resource_type]
        self.base_iops = base_iops * (0.3 + 1.4 * unit(mix64(rh + 1)))
        self.base_rt = base_rt * (0.6 + 0.8 * unit(mix64(rh + 2)))
        self.read_share = 0.45 + 0.35 * unit(mix64(rh + 3))
        self.read_kb = IO_SIZES_KB[mix64(rh + 4) % 5]
        self.write_kb = IO_SIZES_KB[mix64(rh + 5) % 6]
        self.peak = 0.30 + 0.35 * unit(mix64(rh + 6))  # fraction of the UTC day
        self.cache = 65.0 + 30.0 * unit(mix64(rh + 7))

    def sample(self, ts_ms: int) -> dict[str, float]:
        """Every metric of the vocabulary at one timestamp."""
        hs = mix64(self.rh ^ ts_ms)
        u1 = (hs & 0xFFFF) / 65536.0
        u2 = ((hs >> 16) & 0xFFFF) / 65536.0
        u3 = ((hs >> 32) & 0xFFFF) / 65536.0
        u4 = ((hs >> 48) & 0xFF) / 256.0
        day = (ts_ms % DAY_MS) / DAY_MS
        cycle = 1.0 + 0.55 * math.cos(2.0 * math.pi * (day - self.peak))
        spike = 3.0 + 3.0 * u3 if (hs >> 56) < 2 else 1.0  # ~0.8% of samples
        load = cycle * (0.85 + 0.3 * u1) * spike
        iops = self.base_iops * load
        read_share = _clamp(self.read_share + 0.1 * (u2 - 0.5), 0.05, 0.95)
        read_iops = iops * read_share
        write_iops = iops - read_iops
        read_kb = self.read_kb * (0.9 + 0.2 * u3)
        write_kb = self.write_kb * (0.9 + 0.2 * u4)
        read_mbs = read_iops * read_kb / 1024.0
        write_mbs = write_iops * write_kb / 1024.0
        read_rt = self.base_rt * (0.6 + 0.4 * load * load) * (0.9 + 0.2 * u4)
        write_rt = read_rt * 0.6
        read_hit = _clamp(self.cache - 8.0 * (load - 1.0) + 6.0 * (u1 - 0.5), 0.0, 100.0)
        write_hit = _clamp(read_hit + 15.0, 0.0, 100.0)
        return {
            "iops": iops,
            "readIops": read_iops,
            "writeIops": write_iops,
            "throughput": read_mbs + write_mbs,
            "readThroughput": read_mbs,
            "writeThroughput": write_mbs,
            "ioSize": (read_mbs + write_mbs) * 1024.0 / iops,
            "readIoSize": read_kb,
            "writeIoSize": write_kb,
            "responseTime": read_rt * read_share + write_rt * (1.0 - read_share),
            "readResponseTime": read_rt,
            "writeResponseTime": write_rt,
            "cacheHitRatio": read_hit * read_share + write_hit * (1.0 - read_share),
            "readCacheHitRatio": read_hit,
            "writeCacheHitRatio": write_hit,
            "cpuUsage": _clamp(8.0 + 30.0 * load + 5.0 * u2, 0.0, 100.0),
        }


def resources(
    snap: Snapshot, resource_type: str, limit: int, storage: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(resource id, resource name) of the resources of a type that report metrics."""
    kind = KIND_OF_TYPE[resource_type]
    if kind is None:
        return [(storage["serial_number"], storage["name"])]
    id_field = f"native_{kind}_id"
    return [(r[id_field], r["name"]) for r in islice(snap.records(kind), limit)]


def _metric_names(wanted: Any) -> Iterable[str]:
    if isinstance(wanted, str):
        return (wanted,)
    return wanted or ()  # a mapping iterates its keys, a list its names


def collect(
    snap: Snapshot,
    storage: Mapping[str, Any],
    storage_id: Any,
    resource_metrics: Mapping[str, Any],
    start_time: int,
    end_time: int,
    *,
    interval_s: int,
    resources_max: int,
    now: float | None = None,
) -> list[Any]:
    """One ``metric_struct`` per (resource, metric) with a value at each aligned step of
    [start_time, end_time] (epoch ms) up to now; only metrics of the vocabulary."""
    step = interval_s * 1000
    first = -(-int(start_time) // step) * step
    last = min(int(end_time), latest_timestamp(interval_s, now))
    stamps = range(first, last + 1, step)
    if not stamps:
        return []
    seed = snap.array.seed
    out: list[Any] = []
    for resource_type, wanted in (resource_metrics or {}).items():
        vocabulary = constants.METRIC_VOCABULARY.get(resource_type)
        if vocabulary is None:
            continue
        names = [name for name in _metric_names(wanted) if name in vocabulary]
        if not names:
            continue
        for resource_id, resource_name in resources(snap, resource_type, resources_max, storage):
            profile = Profile(seed, resource_type, resource_id)
            samples = [(ts, profile.sample(ts)) for ts in stamps]
            for name in names:
                labels = {
                    "storage_id": storage_id,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "resource_name": resource_name,
                    "type": "RAW",
                    "unit": vocabulary[name],
                }
                values = {ts: round(sample[name], 3) for ts, sample in samples}
                out.append(constants.metric_struct(name=name, labels=labels, values=values))
    return out


def break_series(series: list[Any], share: float) -> list[Any]:
    """Malformed metrics: every ``1/share``-th series loses its resource id, gets a
    negative value, or an uncoercible one, in turn."""
    every = max(1, round(1 / share)) if share > 0 else 0
    out = []
    for position, metric in enumerate(series):
        if every and position % every == 0 and metric.values:
            flavour = (position // every) % 3
            labels, values = dict(metric.labels), dict(metric.values)
            first = next(iter(values))
            if flavour == 0:
                labels.pop("resource_id", None)
            elif flavour == 1:
                values[first] = -abs(values[first]) - 1.0
            else:
                values[first] = "12GB"
            metric = constants.metric_struct(name=metric.name, labels=labels, values=values)
        out.append(metric)
    return out
