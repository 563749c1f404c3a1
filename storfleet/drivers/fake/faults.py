"""Injected faults: which call fails, how, how often and when.

Pure bookkeeping: deciding that a call fails is here, failing it (sleeping, raising the
SDK's errors, breaking records) is the driver's job. ``rate`` is applied by a per-instance
counter, not a random draw, so a test knows exactly which calls fail: of the first ``n``
calls a fault matches, ``floor(n * rate)`` fail.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storfleet.drivers.fake.kinds import SPECS, canonical_kind

FAULT_TYPES = frozenset(
    {"timeout", "invalid_credentials", "unreachable", "error", "malformed_records"}
)

# Every driver method a fault may target; parse_alert is a staticmethod of no instance.
METHODS = frozenset(
    {
        "get_storage",
        "reset_connection",
        "add_trap_config",
        "remove_trap_config",
        "list_alerts",
        "clear_alert",
        "get_capabilities",
        "collect_perf_metrics",
        "get_alert_sources",
        "get_latest_perf_timestamp",
    }
    | {spec.method for spec in SPECS.values()}
)

_TARGET_ALIASES = {
    "storage": "get_storage",
    "storages": "get_storage",
    "capabilities": "get_capabilities",
    "perf": "collect_perf_metrics",
    "metrics": "collect_perf_metrics",
}


def _target(value: Any) -> str:
    text = str(value).strip()
    if text == "*" or text in METHODS:
        return text
    if text in _TARGET_ALIASES:
        return _TARGET_ALIASES[text]
    try:
        return SPECS[canonical_kind(text)].method
    except KeyError:
        raise ValueError(
            f"unknown fault target {value!r}: use '*', a driver method or a kind"
        ) from None


def parse_instant(value: Any) -> float | None:
    """Epoch seconds from a number, a numeric string or an ISO-8601 string (UTC if naive)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an epoch time or ISO-8601 time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class FaultSpec:
    target: str  # "*" or a driver method name
    type: str
    rate: float = 1.0
    start: float | None = None  # epoch seconds ("from")
    until: float | None = None  # epoch seconds, exclusive
    hang_s: float = 30.0  # timeout: how long the call hangs before it raises
    share: float = 0.1  # malformed_records: share of an affected call's records broken

    def matches(self, method: str) -> bool:
        return self.target == "*" or self.target == method

    def active(self, now: float) -> bool:
        if self.start is not None and now < self.start:
            return False
        return self.until is None or now < self.until


def _fraction(entry: Mapping[str, Any], key: str, default: float) -> float:
    value = entry.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{key} must be in [0, 1], got {value!r}")
    return number


def parse_fault(entry: Any) -> FaultSpec:
    if not isinstance(entry, Mapping):
        raise ValueError(f"a fault must be a mapping, got {entry!r}")
    kind = str(entry.get("type", "")).strip()
    if kind not in FAULT_TYPES:
        raise ValueError(f"unknown fault type {kind!r} (known: {', '.join(sorted(FAULT_TYPES))})")
    hang = entry.get("hang_s", 30.0)
    try:
        hang_s = float(hang)
    except (TypeError, ValueError):
        raise ValueError(f"hang_s must be a number, got {hang!r}") from None
    if not math.isfinite(hang_s) or hang_s < 0:
        raise ValueError(f"hang_s must be >= 0, got {hang!r}")
    return FaultSpec(
        target=_target(entry.get("target", "*")),
        type=kind,
        rate=_fraction(entry, "rate", 1.0),
        start=parse_instant(entry.get("from")),
        until=parse_instant(entry.get("until")),
        hang_s=hang_s,
        share=_fraction(entry, "share", 0.1),
    )


def parse_faults(raw: Any) -> tuple[FaultSpec, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, Iterable) or isinstance(raw, str | bytes):
        raise ValueError(f"must be a list of faults, got {raw!r}")
    return tuple(parse_fault(entry) for entry in raw)


class FaultInjector:
    """Decides, per call, which fault (if any) fires; one per driver instance."""

    def __init__(self, faults: Iterable[FaultSpec], clock: Callable[[], float] = time.time) -> None:
        self.faults = tuple(faults)
        self._clock = clock
        self._calls = [0] * len(self.faults)
        self._lock = threading.Lock()

    def check(self, method: str) -> FaultSpec | None:
        """The first fault that fires for this call of ``method``, or None.

        Every matching, active fault counts the call, so a fault's schedule does not
        depend on whether an earlier one fired.
        """
        if not self.faults:
            return None
        now = self._clock()
        fired: FaultSpec | None = None
        with self._lock:
            for position, fault in enumerate(self.faults):
                if not (fault.matches(method) and fault.active(now)):
                    continue
                calls = self._calls[position] = self._calls[position] + 1
                if fired is None and math.floor(calls * fault.rate + 1e-9) > math.floor(
                    (calls - 1) * fault.rate + 1e-9
                ):
                    fired = fault
        return fired


# Fields a malformed record breaks, per kind: (capacity field, integer field).
_BREAKABLE: dict[str, tuple[str | None, str | None]] = {
    "storage": ("total_capacity", "raw_capacity"),
    "storage_pool": ("total_capacity", "subscribed_capacity"),
    "volume": ("total_capacity", "used_capacity"),
    "controller": ("memory_size", "cpu_count"),
    "port": (None, "speed"),
    "disk": ("capacity", "health_score"),
    "filesystem": ("total_capacity", "used_capacity"),
    "quota": ("capacity_hard_limit", "file_count"),
    "alert": (None, "occur_time"),
}
UNCOERCIBLE = "12GB"


def break_record(record: dict[str, Any], kind: str, id_field: str, flavour: int) -> None:
    """Break one record in place so that validation must reject it: 0 drops its native
    id, 1 makes a capacity negative, 2 puts an uncoercible string in an integer field.
    A kind without such fields gets a non-string name, or (no name either) no id."""
    capacity, integer = _BREAKABLE.get(kind, (None, None))
    if flavour == 1 and capacity is not None:
        record[capacity] = -1 - abs(int(record.get(capacity) or 0))
    elif flavour in (1, 2) and (integer or capacity) is not None:
        record[integer or capacity] = UNCOERCIBLE
    elif flavour in (1, 2) and "name" in record:
        record["name"] = {"malformed": UNCOERCIBLE}
    else:
        record.pop(id_field, None)


def break_records(
    records: Iterable[dict[str, Any]], kind: str, id_field: str, share: float
) -> Iterator[dict[str, Any]]:
    """Pass records through, breaking every ``1/share``-th one (the first included)."""
    every = max(1, round(1 / share)) if share > 0 else 0
    for position, record in enumerate(records):
        if every and position % every == 0:
            break_record(record, kind, id_field, (position // every) % 3)
        yield record
