"""What to collect from a storage, and how often: its driver's capabilities, checked.

``get_capabilities`` is asked again when the access info changed (a new driver instance,
maybe a new firmware) or after ``capabilities_refresh_s``; its answer and the problems the
vocabulary finds in it are kept on the storage's collection record, so an invalid answer
is visible (status endpoint, /metrics) instead of silently ignored. A partly invalid answer
still gets the valid part collected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storfleet.config import Settings
from storfleet.metrics.vocabulary import declared_metrics, metric_vocabulary, validate_capabilities


@dataclass(frozen=True)
class CollectionPlan:
    """What one collection asks a driver for."""

    resource_metrics: dict[str, dict[str, Any]]  # Delfin type -> metric -> {unit, ...}
    retention_s: int  # how far back the driver keeps data
    interval_s: int
    interval_source: str  # storage / driver / default

    @property
    def empty(self) -> bool:
        return not any(self.resource_metrics.values())


def needs_refresh(row: Mapping[str, Any], access_version: int, now: datetime,
                  settings: Settings) -> bool:
    if row.get("capabilities") is None or row.get("capabilities_at") is None:
        return True
    if row.get("capabilities_version") != access_version:
        return True
    return now - row["capabilities_at"] >= timedelta(seconds=settings.capabilities_refresh_s)


def problems_of(caps: Any) -> list[str]:
    return validate_capabilities(caps)


def interval_of(row: Mapping[str, Any], caps: Any, settings: Settings) -> tuple[int, str]:
    """The collection interval: the operator's per-storage choice, else the driver's
    declared ``collect_interval``, else the default (5 minutes)."""
    if row.get("interval_s"):
        return int(row["interval_s"]), "storage"
    declared = caps.get("collect_interval") if isinstance(caps, Mapping) else None
    if type(declared) is int and declared >= 1:
        return declared, "driver"
    return max(1, int(settings.collect_interval_s)), "default"


def plan_for(row: Mapping[str, Any], caps: Any, settings: Settings) -> CollectionPlan:
    """The valid part of the capabilities, narrowed to the storage's metric selection."""
    interval, source = interval_of(row, caps, settings)
    vocabulary = metric_vocabulary()
    declared = declared_metrics(caps)
    selection = row.get("metrics")
    wanted = set(selection) if selection else None
    specs = caps.get("resource_metrics") if isinstance(caps, Mapping) else None
    resource_metrics: dict[str, dict[str, Any]] = {}
    for rtype, names in declared.items():
        known = vocabulary.get(rtype)
        if known is None:
            continue
        chosen = {}
        for name in sorted(names):
            if name not in known or (wanted is not None and name not in wanted):
                continue
            spec = specs[rtype].get(name) if isinstance(specs, Mapping) else None
            if spec is not None and not isinstance(spec, Mapping):
                continue
            chosen[name] = {"unit": known[name]}
        if chosen:
            resource_metrics[rtype] = chosen
    retention = 0
    if isinstance(caps, Mapping):
        window = caps.get("performance_metric_retention_window")
        if type(window) is int and window > 0 and caps.get("is_historic") is not False:
            retention = window
    return CollectionPlan(resource_metrics, max(retention, interval), interval, source)
