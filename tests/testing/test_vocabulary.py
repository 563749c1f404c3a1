"""The metric vocabulary and the checks of get_capabilities / collect_perf_metrics output."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from storfleet.drivers.driver import metric_struct
from storfleet.metrics.vocabulary import (
    declared_metrics,
    metric_vocabulary,
    unit_of,
    validate_capabilities,
    validate_samples,
)

REFERENCE = Path("/work/shared/reference/delfin-metric-vocabulary.json")


# The seed guide's sample, as printed there: a function of (context, filters) without self.
def guide_get_capabilities(context, filters=None):
    return {
        "is_historic": False,
        "performance_metric_retention_window": 4500,
        "resource_metrics": {
            "storage": {
                "throughput": {"unit": "MB/s", "description": "Represents how much data is "
                               "successfully transferred in MB/s"},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation in ms"},
                "iops": {"unit": "IOPS", "description": "Input/output operations per second"},
            },
            "storagePool": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation"},
            },
            "volume": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation"},
                "iops": {"unit": "IOPS", "description": "Read and write  operations per"
                         " second"},
                "cacheHitRatio": {"unit": "%", "description": "Percentage of io that are cache "
                                  "hits"},
                "ioSize": {"unit": "KB", "description": "The average size of IO requests in KB"},
            },
            "controller": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation"},
                "iops": {"unit": "IOPS", "description": "Read and write  operations per "
                         "second"},
            },
            "port": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation"},
                "iops": {"unit": "IOPS", "description": "Read and write  operations per "
                         "second"},
            },
            "disk": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "responseTime": {"unit": "ms", "description": "Average time taken for an IO "
                                 "operation"},
                "iops": {"unit": "IOPS", "description": "Read and write  operations per"
                         " second"},
            },
            "filesystem": {
                "throughput": {"unit": "MB/s", "description": "Total data transferred per "
                               "second "},
                "readResponseTime": {"unit": "ms", "description": "Average time taken for a "
                                     "readoperation"},
                "writeResponseTime": {"unit": "ms", "description": "Average time taken for a "
                                      "write operation"},
                "iops": {"unit": "IOPS", "description": "Read and write  operations per"
                         " second"},
                "ioSize": {"unit": "KB", "description": "The average size of IO requests "
                           "in KB."},
            },
        },
    }


def guide_samples() -> list:
    """The seed guide's sample collect_perf_metrics answer (Delfin's VMAX values)."""
    def labels(resource_type: str, resource_id: str, name: str) -> dict:
        return {"storage_id": "12345", "resource_type": resource_type,
                "resource_id": resource_id, "resource_name": name, "type": "RAW",
                "unit": "IOPS"}

    return [
        metric_struct("iops", labels("storage", "00112233", "VMAX00112233"),
                      {1566550500000: 417.42667}),
        metric_struct("iops", labels("storagePool", "SRP_1", "SRP_1"), {1566550800000: 304.8}),
        metric_struct("iops", labels("controller", "DF-1C", "BEDirector_DF-1C"),
                      {1566987000000: 248.40666}),
        metric_struct("iops", labels("port", "12", "BEPort_DF-1C_12"),
                      {1566987000000: 6.693333}),
    ]


GUIDE_START, GUIDE_END = 1566550000000, 1566990000000


def full_capabilities() -> dict:
    """Every metric of the vocabulary, declared with its unit."""
    return {
        "is_historic": True,
        "resource_metrics": {
            rtype: {name: {"unit": unit, "description": f"{name} of {rtype}"}
                    for name, unit in metrics.items()}
            for rtype, metrics in metric_vocabulary().items()
        },
    }


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# --- the vocabulary --------------------------------------------------------------------


def test_vocabulary_is_the_reference_copy():
    shipped = metric_vocabulary()
    assert sum(len(m) for m in shipped.values()) == 64
    assert len(shipped) == 7
    if REFERENCE.exists():
        assert shipped == json.loads(REFERENCE.read_text())["resource_metrics"]


def test_unit_of():
    assert unit_of("volume", "cacheHitRatio") == "%"
    assert unit_of("controller", "cpuUsage") == "%"
    assert unit_of("volume", "cpuUsage") is None
    assert unit_of("storage_pool", "iops") is None


# --- validate_capabilities -------------------------------------------------------------


def test_guide_sample_capabilities_are_valid():
    assert validate_capabilities(guide_get_capabilities(None)) == []


def test_whole_vocabulary_is_valid_with_optional_keys():
    caps = full_capabilities()
    caps["performance_metric_retention_window"] = 0
    caps["collect_interval"] = 300
    assert validate_capabilities(caps) == []


def test_minimal_capabilities_are_valid():
    assert validate_capabilities({"is_historic": False}) == []
    assert validate_capabilities({"is_historic": True, "resource_metrics": {}}) == []
    # Delfin's schema does not require a unit or a description.
    assert validate_capabilities(
        {"is_historic": True, "resource_metrics": {"volume": {"iops": {}}}}
    ) == []


def test_missing_is_historic():
    caps = guide_get_capabilities(None)
    del caps["is_historic"]
    assert "'is_historic' is missing" in only(validate_capabilities(caps))


def test_is_historic_must_be_boolean():
    caps = guide_get_capabilities(None)
    caps["is_historic"] = "false"
    assert "is_historic must be a boolean" in only(validate_capabilities(caps))


def test_unknown_resource_type_hints_delfin_spelling():
    caps = {"is_historic": True, "resource_metrics": {"storage_pool": {"iops": {"unit": "IOPS"}}}}
    problem = only(validate_capabilities(caps))
    assert "unknown resource type 'storage_pool'" in problem
    assert "did you mean 'storagePool'" in problem


def test_unknown_metric_for_that_resource_type():
    caps = guide_get_capabilities(None)
    # cpuUsage exists, but for controllers only.
    caps["resource_metrics"]["volume"]["cpuUsage"] = {"unit": "%", "description": "cpu"}
    problem = only(validate_capabilities(caps))
    assert "unknown metric 'cpuUsage' for resource type 'volume'" in problem


def test_misspelt_metric_gets_a_hint():
    caps = {"is_historic": True, "resource_metrics": {"volume": {"IOPS": {"unit": "IOPS"}}}}
    assert "did you mean 'iops'" in only(validate_capabilities(caps))


def test_wrong_unit_names_the_expected_one():
    caps = guide_get_capabilities(None)
    caps["resource_metrics"]["storage"]["throughput"]["unit"] = "GB/s"
    problem = only(validate_capabilities(caps))
    assert "storage.throughput" in problem
    assert "wrong unit 'GB/s', expected 'MB/s'" in problem


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("4500", "must be an integer"),
        (4500.0, "must be an integer"),
        (True, "must be an integer"),
        (None, "must be an integer"),
        (-1, "must be >= 0"),
    ],
)
def test_bad_retention_window(window, expected):
    caps = guide_get_capabilities(None)
    caps["performance_metric_retention_window"] = window
    problem = only(validate_capabilities(caps))
    assert "performance_metric_retention_window" in problem
    assert expected in problem


def test_collect_interval_must_be_positive():
    problem = only(validate_capabilities({"is_historic": True, "collect_interval": 0}))
    assert "collect_interval must be >= 1" in problem


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        ([], "capabilities must be a mapping"),
        ({"is_historic": True, "resource_metrics": ["volume"]},
         "resource_metrics must be a mapping"),
        ({"is_historic": True, "resource_metrics": {"volume": ["iops"]}},
         "volume: metrics must be a mapping"),
        ({"is_historic": True, "resource_metrics": {"volume": {"iops": "IOPS"}}},
         "volume.iops: must be a mapping"),
        ({"is_historic": True, "resource_metrics": {"volume": {"iops": {"description": ""}}}},
         "description must be a string of 1 to 255"),
        ({"is_historic": True,
          "resource_metrics": {"volume": {"iops": {"description": "x" * 256}}}},
         "description must be a string of 1 to 255"),
        ({"is_historic": True, "resource_metrics": {"volume": {"iops": {"units": "IOPS"}}}},
         "volume.iops: unknown key 'units'"),
        ({"is_historic": True, "resource_metric": {}}, "unknown key 'resource_metric'"),
    ],
)
def test_malformed_entries(caps, expected):
    assert expected in only(validate_capabilities(caps))


def test_every_problem_is_reported_not_just_the_first():
    caps = {
        "performance_metric_retention_window": -5,
        "resource_metrics": {
            "volume": {"iops": {"unit": "ops"}, "bogus": {}},
            "lun": {},
        },
    }
    problems = validate_capabilities(caps)
    assert len(problems) == 5
    text = "\n".join(problems)
    for expected in ("is_historic", "retention_window", "expected 'IOPS'", "'bogus'", "'lun'"):
        assert expected in text


# --- validate_samples ------------------------------------------------------------------


def storage_iops(values: dict, **labels) -> metric_struct:
    base = {"storage_id": "s1", "resource_type": "storage", "resource_id": "arr-1",
            "type": "RAW", "unit": "IOPS"}
    base.update(labels)
    return metric_struct("iops", base, values)


def test_valid_samples_in_each_accepted_shape():
    caps = guide_get_capabilities(None)
    labels = {"resource_type": "volume", "resource_id": "v1"}
    metrics = [
        storage_iops({1000: 1.5, 2000: 2}),
        ("throughput", labels, {1500: 0.0}),
        {"name": "responseTime", "labels": labels, "values": {2000: 3.25}},
    ]
    assert validate_samples(metrics, caps, 1000, 2000) == []
    assert validate_samples(iter(metrics), caps, 1000, 2000) == []
    assert validate_samples([], caps, 1000, 2000) == []


def test_guide_sample_metrics_against_guide_capabilities():
    # The guide's own capabilities do not declare iops for storagePool, yet its sample
    # collect_perf_metrics returns one: exactly that series is reported.
    problem = only(validate_samples(guide_samples(), guide_get_capabilities(None),
                                    GUIDE_START, GUIDE_END))
    assert "metric 'iops' is not declared in the capabilities for 'storagePool'" in problem
    assert "'SRP_1'" in problem


def test_guide_sample_metrics_against_the_whole_vocabulary():
    assert validate_samples(guide_samples(), full_capabilities(), GUIDE_START, GUIDE_END) == []


def test_undeclared_resource_type_hints_spelling():
    caps = guide_get_capabilities(None)
    metric = ("iops", {"resource_type": "storage_pool", "resource_id": "p1"}, {1000: 1.0})
    problem = only(validate_samples([metric], caps, 0, 2000))
    assert "resource type 'storage_pool' is not declared" in problem
    assert "did you mean 'storagePool'" in problem


@pytest.mark.parametrize("missing", ["resource_type", "resource_id"])
def test_labels_need_resource_type_and_id(missing):
    labels = {"resource_type": "storage", "resource_id": "arr-1"}
    labels[missing] = ""
    problems = validate_samples([("iops", labels, {1000: 1.0})],
                                guide_get_capabilities(None), 0, 2000)
    assert any(f"labels lack '{missing}'" in p for p in problems), problems


def test_labels_unit_must_match_vocabulary():
    metric = storage_iops({1000: 1.0}, unit="ops/s")
    problem = only(validate_samples([metric], guide_get_capabilities(None), 0, 2000))
    assert "labels unit 'ops/s', expected 'IOPS'" in problem


def test_window_bounds_are_inclusive_and_outside_is_counted():
    caps = guide_get_capabilities(None)
    assert validate_samples([storage_iops({1000: 1.0, 2000: 1.0})], caps, 1000, 2000) == []
    values = {stamp: 1.0 for stamp in range(0, 3000)}
    problem = only(validate_samples([storage_iops(values)], caps, 1000, 2000))
    assert "1999 timestamp(s) outside the asked window [1000, 2000], e.g. 0" in problem
    assert "'arr-1'" in problem


def test_seconds_instead_of_milliseconds_are_spotted():
    end_ms = 1_700_000_000_000
    metric = storage_iops({1_699_999_990: 1.0})
    problem = only(validate_samples([metric], guide_get_capabilities(None),
                                    end_ms - 900_000, end_ms))
    assert "seconds instead of milliseconds" in problem


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "1.0", None, True])
def test_values_must_be_finite_numbers(value):
    problem = only(validate_samples([storage_iops({1000: 1.0, 1500: value})],
                                    guide_get_capabilities(None), 0, 2000))
    assert "1 value(s) are not finite numbers" in problem


@pytest.mark.parametrize("stamp", ["1500", 1500.0, None])
def test_timestamps_must_be_integer_milliseconds(stamp):
    problem = only(validate_samples([storage_iops({stamp: 1.0})],
                                    guide_get_capabilities(None), 0, 2000))
    assert "not integer epoch milliseconds" in problem


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"iops": {}}, "metrics must be a list"),
        (None, "metrics must be a list"),
        ([("iops", {"resource_type": "storage"})], "must be a metric_struct"),
        ([42], "must be a metric_struct"),
        ([("", {"resource_type": "storage", "resource_id": "a"}, {})], "name must be"),
        ([("iops", "storage", {})], "labels must be a mapping"),
        ([storage_iops([(1000, 1.0)])], "values must be a mapping"),
    ],
)
def test_malformed_metric_items(metrics, expected):
    problems = validate_samples(metrics, guide_get_capabilities(None), 0, 2000)
    assert any(expected in p for p in problems), problems


def test_malformed_capabilities_do_not_crash_sample_checks():
    problems = validate_samples([storage_iops({1000: 1.0})], "nonsense", 0, 2000)
    assert "resource type 'storage' is not declared" in only(problems)
    assert declared_metrics({"resource_metrics": {"volume": ["iops"]}}) == {}


def test_capabilities_are_not_modified():
    caps = guide_get_capabilities(None)
    before = copy.deepcopy(caps)
    validate_capabilities(caps)
    validate_samples(guide_samples(), caps, GUIDE_START, GUIDE_END)
    assert caps == before
