"""Delfin's performance-metric vocabulary and the checks of driver metric output.

A driver declares what it can measure in ``get_capabilities`` and returns samples from
``collect_perf_metrics``. Both are checked here against the vocabulary Delfin published
(resource type -> metric name -> unit, ``storfleet/data/delfin_metric_vocabulary.json``),
so that an exporter never has to guess what ``iops`` on a ``storagePool`` means.

The checks return lists of problems (empty = valid) instead of raising: a collection keeps
the good series of a driver and reports the bad ones, and the conformance kit shows them
all. ``validate_samples`` runs on every collection, so it makes one pass over the values
and reports each kind of defect once per series with a count, not once per sample.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

# Delfin's schema caps a metric description at 255 characters.
_MAX_DESCRIPTION = 255
# Delfin's top-level keys, plus ``collect_interval`` (seconds), which the storfleet SDK
# lets a driver declare to suggest how often to collect.
_TOP_LEVEL_KEYS = frozenset({"is_historic", "performance_metric_retention_window",
                             "resource_metrics", "collect_interval"})
# Epoch milliseconds below this are before 1973: almost surely seconds, not milliseconds.
_SECONDS_SUSPECT_MS = 100_000_000_000


@cache
def metric_vocabulary() -> Mapping[str, Mapping[str, str]]:
    """Resource type (Delfin's metric spelling, e.g. ``storagePool``) -> metric -> unit."""
    text = (
        importlib_resources.files("storfleet.data")
        .joinpath("delfin_metric_vocabulary.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)["resource_metrics"]


@cache
def required_capability_keys() -> tuple[str, ...]:
    """Top-level keys every capabilities document must carry (``is_historic``)."""
    text = (
        importlib_resources.files("storfleet.data")
        .joinpath("delfin_metric_vocabulary.json")
        .read_text(encoding="utf-8")
    )
    return tuple(json.loads(text)["required_top_level"])


def unit_of(resource_type: str, metric: str) -> str | None:
    """The unit of a metric of a resource type, or None if the vocabulary lacks it."""
    return metric_vocabulary().get(resource_type, {}).get(metric)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _near(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelling, or ''."""
    folded = name.replace("_", "").lower()
    for choice in choices:
        if choice.replace("_", "").lower() == folded:
            return f" (did you mean {choice!r}?)"
    return ""


# ---------------------------------------------------------------------------------------
# get_capabilities


def validate_capabilities(caps: Any) -> list[str]:
    """Problems of a ``get_capabilities`` answer against Delfin's schema and vocabulary."""
    if not isinstance(caps, Mapping):
        return [f"capabilities must be a mapping, got {type(caps).__name__} {_shown(caps)}"]
    problems: list[str] = []
    for key in required_capability_keys():
        if key not in caps:
            problems.append(f"capabilities: required key {key!r} is missing")
    if "is_historic" in caps and not isinstance(caps["is_historic"], bool):
        problems.append(
            f"capabilities: is_historic must be a boolean, got {_shown(caps['is_historic'])}"
        )
    problems.extend(_retention_problems(caps))
    for key in sorted(map(str, caps.keys() - _TOP_LEVEL_KEYS)):
        problems.append(f"capabilities: unknown key {key!r}{_near(key, _TOP_LEVEL_KEYS)}")
    resource_metrics = caps.get("resource_metrics")
    if resource_metrics is None:
        return problems
    if not isinstance(resource_metrics, Mapping):
        problems.append(
            "capabilities: resource_metrics must be a mapping of resource type to metrics, "
            f"got {type(resource_metrics).__name__}"
        )
        return problems
    for resource_type, metrics in resource_metrics.items():
        problems.extend(_resource_type_problems(resource_type, metrics))
    return problems


def _retention_problems(caps: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, low in (("performance_metric_retention_window", 0), ("collect_interval", 1)):
        if key not in caps:
            continue
        value = caps[key]
        if type(value) is not int:
            problems.append(f"capabilities: {key} must be an integer (seconds), "
                            f"got {type(value).__name__} {_shown(value)}")
        elif value < low:
            problems.append(f"capabilities: {key} must be >= {low}, got {value}")
    return problems


def _resource_type_problems(resource_type: Any, metrics: Any) -> list[str]:
    vocabulary = metric_vocabulary()
    known = vocabulary.get(resource_type)
    if known is None:
        hint = _near(str(resource_type), vocabulary)
        allowed = ", ".join(vocabulary)
        return [
            f"capabilities: unknown resource type {resource_type!r}{hint} "
            f"(known: {allowed})"
        ]
    if not isinstance(metrics, Mapping):
        return [
            f"capabilities: {resource_type}: metrics must be a mapping of metric name to "
            f"{{unit, description}}, got {type(metrics).__name__}"
        ]
    problems: list[str] = []
    for metric, spec in metrics.items():
        problems.extend(_metric_problems(resource_type, known, metric, spec))
    return problems


def _metric_problems(
    resource_type: str, known: Mapping[str, str], metric: Any, spec: Any
) -> list[str]:
    where = f"capabilities: {resource_type}.{metric}"
    expected = known.get(metric)
    if expected is None:
        hint = _near(str(metric), known)
        return [
            f"capabilities: unknown metric {metric!r} for resource type {resource_type!r}"
            f"{hint} (known: {', '.join(known)})"
        ]
    if not isinstance(spec, Mapping):
        return [f"{where}: must be a mapping {{unit, description}}, got {_shown(spec)}"]
    problems: list[str] = []
    unit = spec.get("unit")
    if unit is not None and unit != expected:
        problems.append(f"{where}: wrong unit {unit!r}, expected {expected!r}")
    description = spec.get("description")
    if description is not None and (
        not isinstance(description, str) or not 1 <= len(description) <= _MAX_DESCRIPTION
    ):
        problems.append(
            f"{where}: description must be a string of 1 to {_MAX_DESCRIPTION} characters, "
            f"got {_shown(description)}"
        )
    for key in sorted(map(str, spec.keys() - {"unit", "description"})):
        problems.append(f"{where}: unknown key {key!r}")
    return problems


# ---------------------------------------------------------------------------------------
# collect_perf_metrics


def declared_metrics(capabilities: Any) -> dict[str, frozenset[str]]:
    """Resource type -> metric names a capabilities document declares (malformed parts
    are ignored here; ``validate_capabilities`` reports them)."""
    if not isinstance(capabilities, Mapping):
        return {}
    resource_metrics = capabilities.get("resource_metrics")
    if not isinstance(resource_metrics, Mapping):
        return {}
    return {
        str(resource_type): frozenset(metrics)
        for resource_type, metrics in resource_metrics.items()
        if isinstance(metrics, Mapping)
    }


def _unpack(item: Any) -> tuple[Any, Any, Any] | None:
    """(name, labels, values) of a metric_struct, a 3-tuple or a dict; None if neither."""
    if isinstance(item, tuple | list):  # metric_struct is a namedtuple: fastest first
        return (item[0], item[1], item[2]) if len(item) == 3 else None
    if isinstance(item, Mapping):
        if {"name", "labels", "values"} <= item.keys():
            return item["name"], item["labels"], item["values"]
        return None
    name = getattr(item, "name", None)
    if name is not None and hasattr(item, "labels") and hasattr(item, "values"):
        values = item.values
        if not callable(values):
            return name, item.labels, values
    return None


def validate_samples(
    metrics: Any, capabilities: Any, start_ms: int, end_ms: int
) -> list[str]:
    """Problems of a ``collect_perf_metrics`` answer for the window [start_ms, end_ms].

    Each item is a metric_struct, a ``(name, labels, values)`` tuple or a dict with those
    keys. Its name must be declared in the capabilities for its ``labels['resource_type']``,
    ``labels`` must carry ``resource_type`` and ``resource_id``, and ``values`` must map
    integer epoch milliseconds inside the window to finite numbers.
    """
    if isinstance(metrics, Mapping | str | bytes) or not isinstance(metrics, Iterable):
        return [
            "metrics must be a list of metric_struct(name, labels, values), "
            f"got {type(metrics).__name__}"
        ]
    declared = declared_metrics(capabilities)
    vocabulary = metric_vocabulary()
    problems: list[str] = []
    for position, item in enumerate(metrics):
        unpacked = _unpack(item)
        if unpacked is None:
            problems.append(
                f"metric #{position}: must be a metric_struct(name, labels, values), "
                f"a (name, labels, values) tuple or a dict with those keys, got {_shown(item)}"
            )
            continue
        name, labels, values = unpacked
        if _series_clean(name, labels, values, declared, vocabulary, start_ms, end_ms):
            continue
        problems.extend(_series_problems(position, name, labels, values, declared, vocabulary))
        problems.extend(_values_problems(_series_name(position, name, labels), values,
                                         start_ms, end_ms))
    return problems


def _series_clean(
    name: Any,
    labels: Any,
    values: Any,
    declared: Mapping[str, frozenset[str]],
    vocabulary: Mapping[str, Mapping[str, str]],
    start_ms: int,
    end_ms: int,
) -> bool:
    """The common case, without building any message: a valid series of plain dicts."""
    if type(labels) is not dict or type(values) is not dict or type(name) is not str:
        return False
    resource_type = labels.get("resource_type")
    if not resource_type or not labels.get("resource_id"):
        return False
    if name not in declared.get(resource_type, ()):
        return False
    unit = labels.get("unit")
    if unit is not None and unit != vocabulary.get(resource_type, {}).get(name):
        return False
    return _values_clean(values, start_ms, end_ms)


def _series_name(position: int, name: Any, labels: Any) -> str:
    if isinstance(labels, Mapping):
        return (
            f"metric #{position} {name!r} of {labels.get('resource_type')!r} "
            f"{labels.get('resource_id')!r}"
        )
    return f"metric #{position} {name!r}"


def _series_problems(
    position: int,
    name: Any,
    labels: Any,
    values: Any,
    declared: Mapping[str, frozenset[str]],
    vocabulary: Mapping[str, Mapping[str, str]],
) -> list[str]:
    where = _series_name(position, name, labels)
    if not isinstance(name, str) or not name:
        return [f"metric #{position}: name must be a non-empty string, got {_shown(name)}"]
    if not isinstance(labels, Mapping):
        return [f"{where}: labels must be a mapping, got {type(labels).__name__}"]
    problems: list[str] = []
    for required in ("resource_type", "resource_id"):
        if labels.get(required) in (None, ""):
            problems.append(f"{where}: labels lack {required!r}")
    resource_type = labels.get("resource_type")
    if resource_type in (None, ""):
        return problems
    names = declared.get(resource_type)
    if names is None:
        hint = _near(str(resource_type), declared) or _near(str(resource_type), vocabulary)
        problems.append(
            f"{where}: resource type {resource_type!r} is not declared in the "
            f"capabilities{hint}"
        )
    elif name not in names:
        problems.append(
            f"{where}: metric {name!r} is not declared in the capabilities for "
            f"{resource_type!r} (declared: {', '.join(sorted(names)) or 'none'})"
        )
    unit = labels.get("unit")
    expected = vocabulary.get(resource_type, {}).get(name)
    if unit is not None and expected is not None and unit != expected:
        problems.append(f"{where}: labels unit {unit!r}, expected {expected!r}")
    return problems


def _values_problems(where: str, values: Any, start_ms: int, end_ms: int) -> list[str]:
    """One pass over the samples; each defect reported once with a count and an example."""
    if not isinstance(values, Mapping):
        return [
            f"{where}: values must be a mapping of epoch-ms timestamp to number, "
            f"got {type(values).__name__}"
        ]
    bad_stamp: list[Any] = []
    bad_value: list[tuple[Any, Any]] = []
    outside: list[int] = []
    for stamp, value in values.items():
        if type(stamp) is not int:
            bad_stamp.append(stamp)
        elif not start_ms <= stamp <= end_ms:
            outside.append(stamp)
        kind = type(value)
        if not (kind is float or kind is int) or not math.isfinite(value):
            bad_value.append((stamp, value))
    problems: list[str] = []
    if bad_stamp:
        problems.append(
            f"{where}: {len(bad_stamp)} timestamp(s) are not integer epoch milliseconds, "
            f"e.g. {_shown(bad_stamp[0])}"
        )
    if outside:
        problems.append(_outside_message(where, outside, start_ms, end_ms))
    if bad_value:
        stamp, value = bad_value[0]
        problems.append(
            f"{where}: {len(bad_value)} value(s) are not finite numbers, "
            f"e.g. {_shown(value)} at {_shown(stamp)}"
        )
    return problems


_INT_ONLY = frozenset({int})
_NUMBER_TYPES = frozenset({int, float})


def _values_clean(values: Mapping[Any, Any], start_ms: int, end_ms: int) -> bool:
    """The common case, decided by C-level passes (``map``, ``min``, ``max``) instead of a
    Python loop: every stamp an int inside the window, every value a finite number."""
    if not values:
        return True
    stamps = values.keys()
    if not set(map(type, stamps)) <= _INT_ONLY:
        return False
    if min(stamps) < start_ms or max(stamps) > end_ms:
        return False
    samples = values.values()
    return set(map(type, samples)) <= _NUMBER_TYPES and all(map(math.isfinite, samples))


def _outside_message(where: str, outside: list[int], start_ms: int, end_ms: int) -> str:
    first = min(outside)
    hint = " (seconds instead of milliseconds?)" if abs(first) < _SECONDS_SUSPECT_MS else ""
    return (
        f"{where}: {len(outside)} timestamp(s) outside the asked window "
        f"[{start_ms}, {end_ms}], e.g. {first}{hint}"
    )


# ---------------------------------------------------------------------------------------
# collect_perf_metrics, for a collection: keep what is good, report the rest


def usable_series(
    metrics: Any, capabilities: Any, start_ms: int, end_ms: int
) -> tuple[list[tuple[str, Mapping[str, Any], dict[int, float]]], list[str], int]:
    """The series of a ``collect_perf_metrics`` answer a collection may store, the problems
    of the rest (as ``validate_samples`` words them) and how many series were rejected.

    A series whose name or labels are wrong (undeclared metric, no resource id, wrong unit)
    is rejected whole: nothing could say what it measures. A series with some bad samples
    (outside the window, not finite, negative: no Delfin metric is) keeps its good ones,
    so one odd timestamp does not cost a resource its whole window.
    """
    if isinstance(metrics, Mapping | str | bytes) or not isinstance(metrics, Iterable):
        return [], validate_samples(metrics, capabilities, start_ms, end_ms), 0
    declared = declared_metrics(capabilities)
    vocabulary = metric_vocabulary()
    good: list[tuple[str, Mapping[str, Any], dict[int, float]]] = []
    problems: list[str] = []
    rejected = 0
    for position, item in enumerate(metrics):
        unpacked = _unpack(item)
        if unpacked is None:
            problems.append(f"metric #{position}: must be a metric_struct(name, labels, values)"
                            f", got {_shown(item)}")
            rejected += 1
            continue
        name, labels, values = unpacked
        if _series_clean(name, labels, values, declared, vocabulary, start_ms, end_ms) and (
            not values or min(values.values()) >= 0
        ):
            good.append((name, labels, values))
            continue
        wrong = _series_problems(position, name, labels, values, declared, vocabulary)
        where = _series_name(position, name, labels)
        if wrong or not isinstance(values, Mapping):
            problems.extend(wrong or _values_problems(where, values, start_ms, end_ms))
            rejected += 1
            continue
        problems.extend(_values_problems(where, values, start_ms, end_ms))
        kept = {
            stamp: value
            for stamp, value in values.items()
            if type(stamp) is int
            and start_ms <= stamp <= end_ms
            and type(value) in _NUMBER_TYPES
            and math.isfinite(value)
            and value >= 0
        }
        negative = sum(
            1 for v in values.values() if type(v) in _NUMBER_TYPES and math.isfinite(v) and v < 0
        )
        if negative:
            problems.append(f"{where}: {negative} value(s) are negative")
        good.append((name, labels, kept))
    return good, problems, rejected
