"""The receiver's counters render as Prometheus metrics from the live values."""

from prometheus_client import CollectorRegistry, generate_latest

from storfleet.alerts.counters import TrapCounters
from storfleet.alerts.prometheus import TrapCollector


def test_counters_render_at_scrape_time():
    counters = TrapCounters()
    registry = CollectorRegistry()
    registry.register(TrapCollector(counters.snapshot))
    counters.received += 3
    counters.reject("unknown_community")
    counters.record_latencies([0.002, 0.004])
    text = generate_latest(registry).decode()
    assert "storfleet_traps_received_total 3.0" in text
    assert 'storfleet_traps_rejected_total{reason="unknown_community"} 1.0' in text
    assert "storfleet_traps_queue_depth 0.0" in text
    assert "storfleet_traps_store_latency_p99_seconds 0.004" in text
    counters.received += 1
    assert "storfleet_traps_received_total 4.0" in generate_latest(registry).decode()
