"""The fake array's knobs, read from access_info's extra_attributes.

Delfin types extra_attributes as strings, so every value may arrive as JSON or as a JSON
string (``"counts": "{\\"volumes\\": 1000}"``, ``"seed": "7"``); both mean the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from storfleet.drivers.fake.faults import FaultSpec, parse_faults
from storfleet.drivers.fake.kinds import KIND_SPECS, canonical_kind


class FakeConfigError(ValueError):
    """extra_attributes that do not describe a fake array; the message says which key."""


def decode(value: Any) -> Any:
    """A value given as JSON text becomes the JSON value; anything else is kept."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _number(key: str, value: Any, *, integer: bool, low: float, high: float = math.inf) -> Any:
    value = decode(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FakeConfigError(f"extra_attributes.{key} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise FakeConfigError(f"extra_attributes.{key} must be in [{low}, {high}], got {value!r}")
    if integer:
        if value != int(value):
            raise FakeConfigError(f"extra_attributes.{key} must be an integer, got {value!r}")
        return int(value)
    return float(value)


def parse_counts(raw: Any) -> dict[str, int]:
    """Counts per kind: defaults for kinds not named; plural or singular names accepted."""
    counts = {spec.name: spec.default for spec in KIND_SPECS}
    raw = decode(raw)
    if raw is None:
        return counts
    if not isinstance(raw, Mapping):
        raise FakeConfigError(f"extra_attributes.counts must be a mapping, got {raw!r}")
    for name, value in raw.items():
        try:
            kind = canonical_kind(str(name))
        except KeyError as exc:
            raise FakeConfigError(f"extra_attributes.counts: {exc.args[0]}") from None
        counts[kind] = _number(f"counts.{name}", value, integer=True, low=0)
    return counts


@dataclass(frozen=True)
class FakeConfig:
    """Everything that decides what the fake array is and how it misbehaves."""

    seed: int = 0
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType(parse_counts(None)))
    churn: float = 0.0
    churn_period_s: float = 60.0
    generation: int | None = None
    latency_ms: float = 0.0
    faults: tuple[FaultSpec, ...] = ()
    max_concurrency: int = 4
    retention_window_s: int = 4 * 3600
    perf_interval_s: int = 60
    perf_resources_max: int = 100
    collect_interval: int | None = None
    password_file: str | None = None

    @classmethod
    def from_extra_attributes(cls, extra: Mapping[str, Any] | str | None) -> FakeConfig:
        extra = decode(extra) or {}
        if not isinstance(extra, Mapping):
            raise FakeConfigError(f"extra_attributes must be a mapping, got {extra!r}")

        def get(key: str) -> Any:
            return decode(extra.get(key))

        kw: dict[str, Any] = {"counts": MappingProxyType(parse_counts(extra.get("counts")))}
        if get("seed") is not None:
            kw["seed"] = _number("seed", get("seed"), integer=True, low=-(2**63), high=2**63)
        if get("churn") is not None:
            kw["churn"] = _number("churn", get("churn"), integer=False, low=0, high=1)
        if get("churn_period_s") is not None:
            period = _number("churn_period_s", get("churn_period_s"), integer=False, low=1e-3)
            kw["churn_period_s"] = period
        if get("generation") is not None:
            kw["generation"] = _number("generation", get("generation"), integer=True, low=0)
        if get("latency_ms") is not None:
            kw["latency_ms"] = _number("latency_ms", get("latency_ms"), integer=False, low=0)
        int_keys = {
            "max_concurrency": 1,
            "retention_window_s": 1,
            "perf_interval_s": 1,
            "perf_resources_max": 0,
            "collect_interval": 1,
        }
        for key, low in int_keys.items():
            if get(key) is not None:
                kw[key] = _number(key, get(key), integer=True, low=low)
        if get("password_file") is not None:
            if not isinstance(get("password_file"), str):
                raise FakeConfigError("extra_attributes.password_file must be a path")
            kw["password_file"] = get("password_file")
        try:
            kw["faults"] = parse_faults(get("faults"))
        except ValueError as exc:
            raise FakeConfigError(f"extra_attributes.faults: {exc}") from None
        return cls(**kw)
