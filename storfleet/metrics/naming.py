"""Prometheus names and units of Delfin's metrics: ONE table, derived from the vocabulary.

Delfin measures in display units (MB/s, ms, %, KB); Prometheus wants base units in the
name (``_bytes_per_second``, ``_seconds``, ratios 0-1). Every exported name comes from
``UNITS`` below applied to the vocabulary, so adding a metric to the vocabulary cannot
produce a name nobody reviewed, and the Grafana dashboard and the docs read the same
table (``naming_table()``).

=========  ====================  ========  ============================================
Delfin     name suffix            factor    example
=========  ====================  ========  ============================================
IOPS       (none)                 1         storfleet_volume_read_iops
MB/s       _bytes_per_second      10^6      storfleet_volume_throughput_bytes_per_second
ms         _seconds               10^-3     storfleet_volume_response_time_seconds
%          _ratio                 0.01      storfleet_volume_cache_hit_ratio,
                                            storfleet_controller_cpu_usage_ratio
KB         _bytes                 10^3      storfleet_volume_io_size_bytes
=========  ====================  ========  ============================================

MB and KB are decimal (10^6 and 10^3 bytes), as Delfin's drivers report what arrays show.
Names are ``storfleet_<resource type>_<metric>``, the resource type in storfleet's one
spelling (``storage_pool``, not Delfin's ``storagePool``) and the metric in snake case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from storfleet.metrics.vocabulary import metric_vocabulary

PREFIX = "storfleet"

# Delfin unit -> (name suffix, multiplier, divisor to the Prometheus base unit, its name).
# Scaling down divides (0.557 ms / 1000 = 0.000557 s; * 0.001 would give 0.0005570000000000001).
UNITS: dict[str, tuple[str, float, float, str]] = {
    "IOPS": ("", 1.0, 1.0, "operations per second"),
    "MB/s": ("_bytes_per_second", 1e6, 1.0, "bytes per second"),
    "ms": ("_seconds", 1.0, 1000.0, "seconds"),
    "%": ("_ratio", 1.0, 100.0, "ratio 0-1"),
    "KB": ("_bytes", 1e3, 1.0, "bytes"),
}

# Delfin's resource-type spelling in metrics -> storfleet's kind spelling.
RESOURCE_TYPES: dict[str, str] = {
    "storage": "storage",
    "storagePool": "storage_pool",
    "volume": "volume",
    "controller": "controller",
    "port": "port",
    "disk": "disk",
    "filesystem": "filesystem",
}
DELFIN_TYPES = {ours: theirs for theirs, ours in RESOURCE_TYPES.items()}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """``readCacheHitRatio`` -> ``read_cache_hit_ratio``."""
    return _CAMEL.sub("_", name).lower()


def resource_type(name: str) -> str:
    """storfleet's spelling of a resource type given in either spelling; unknown kept."""
    return RESOURCE_TYPES.get(name, name)


@dataclass(frozen=True, slots=True)
class PromMetric:
    """How one (resource type, Delfin metric) is exported."""

    resource_type: str  # storfleet spelling
    metric: str  # Delfin's name
    unit: str  # Delfin's unit
    name: str  # the Prometheus name
    multiplier: float
    divisor: float
    help: str

    @property
    def factor(self) -> float:
        """Prometheus value = Delfin value * factor."""
        return self.multiplier / self.divisor

    def convert(self, value: float) -> float:
        if self.divisor != 1.0:
            return value / self.divisor
        return value * self.multiplier


def _prom_name(resource_type: str, metric: str, unit: str) -> str:
    suffix = UNITS[unit][0]
    base = snake(metric)
    if suffix == "_ratio" and base.endswith("_ratio"):
        suffix = ""
    return f"{PREFIX}_{resource_type}_{base}{suffix}"


@cache
def naming_table() -> dict[tuple[str, str], PromMetric]:
    """(storfleet resource type, Delfin metric) -> its Prometheus export, for the whole
    vocabulary. Raises on a unit the table does not know: a new unit needs a decision."""
    table: dict[tuple[str, str], PromMetric] = {}
    for delfin_type, metrics in metric_vocabulary().items():
        rtype = resource_type(delfin_type)
        for metric, unit in metrics.items():
            if unit not in UNITS:
                raise ValueError(f"no Prometheus unit for {delfin_type}.{metric} in {unit!r}")
            _suffix, multiplier, divisor, base = UNITS[unit]
            name = _prom_name(rtype, metric, unit)
            help_text = f"{metric} of a {rtype.replace('_', ' ')} (Delfin {unit}), in {base}"
            table[(rtype, metric)] = PromMetric(
                rtype, metric, unit, name, multiplier, divisor, help_text
            )
    return table


def lookup(resource_type_name: str, metric: str) -> PromMetric | None:
    return naming_table().get((resource_type(resource_type_name), metric))
