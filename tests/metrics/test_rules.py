"""The pure rules: Prometheus names from the vocabulary, windows, back-off."""

from __future__ import annotations

import re

from storfleet.metrics.naming import RESOURCE_TYPES, UNITS, lookup, naming_table
from storfleet.metrics.vocabulary import metric_vocabulary
from storfleet.metrics.windows import plan, retry_delay_s

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def test_every_vocabulary_metric_has_one_valid_unique_name() -> None:
    table = naming_table()
    assert len(table) == sum(len(m) for m in metric_vocabulary().values()) == 64
    names = [pm.name for pm in table.values()]
    assert len(set(names)) == len(names)
    assert all(NAME.match(n) and n.startswith("storfleet_") for n in names)
    assert {pm.unit for pm in table.values()} <= set(UNITS)


def test_the_issue_examples_and_conversions() -> None:
    assert lookup("volume", "readIops").name == "storfleet_volume_read_iops"
    throughput = lookup("volume", "throughput")
    assert throughput.name == "storfleet_volume_throughput_bytes_per_second"
    assert throughput.convert(1.5) == 1_500_000.0  # MB/s = 10^6 B/s
    response = lookup("storagePool", "responseTime")
    assert response.name == "storfleet_storage_pool_response_time_seconds"
    assert response.convert(250.0) == 0.25
    assert lookup("volume", "cacheHitRatio").name == "storfleet_volume_cache_hit_ratio"
    assert lookup("volume", "cacheHitRatio").convert(87.5) == 0.875
    assert lookup("controller", "cpuUsage").name == "storfleet_controller_cpu_usage_ratio"
    assert lookup("volume", "ioSize").name == "storfleet_volume_io_size_bytes"
    assert lookup("volume", "ioSize").convert(8.0) == 8000.0
    assert lookup("volume", "cpuUsage") is None
    assert set(RESOURCE_TYPES) == set(metric_vocabulary())


def test_first_window_backfills_the_retention_window() -> None:
    p = plan(None, 100_000, retention_ms=30_000, interval_ms=10_000, max_window_ms=20_000)
    assert p.chunks == ((70_000, 89_999), (90_000, 100_000)) and p.lost is None


def test_next_window_starts_after_the_mark() -> None:
    p = plan(95_000, 100_000, retention_ms=30_000, interval_ms=10_000, max_window_ms=60_000)
    assert p.chunks == ((95_001, 100_000),) and p.lost is None
    assert plan(100_000, 100_000, retention_ms=30_000, interval_ms=10_000,
                max_window_ms=60_000).chunks == ()


def test_what_left_retention_is_lost_and_counted_in_intervals() -> None:
    p = plan(10_000, 100_000, retention_ms=30_000, interval_ms=10_000, max_window_ms=60_000)
    assert p.lost == (10_001, 69_999) and p.lost_windows == 6
    assert p.chunks == ((70_000, 100_000),)


def test_a_driver_without_history_still_answers_for_one_interval() -> None:
    p = plan(None, 100_000, retention_ms=0, interval_ms=10_000, max_window_ms=60_000)
    assert p.chunks == ((90_000, 100_000),)


def test_back_off_doubles_and_is_capped_by_retention() -> None:
    delays = [retry_delay_s(n, base_s=30, max_s=600, retention_s=14_400) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    # A short retention keeps retries frequent enough to catch the data before it goes.
    assert retry_delay_s(10, base_s=30, max_s=600, retention_s=600) == 150
