"""The trap receiver's counters as Prometheus metrics, rendered from the live counters
at scrape time (a custom collector: no second copy of any value).

The metrics engineer's ``/metrics`` registers it once the service runs::

    from storfleet.alerts.prometheus import TrapCollector
    registry.register(TrapCollector(app.state.traps.snapshot))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

COUNTERS = {
    "received": "Datagrams read from the trap socket",
    "matched": "Traps attributed to one storage",
    "unmatched": "Traps kept without a storage (unknown source, shared agent unresolved)",
    "parse_failures": "Traps parse_alert failed on (stored raw)",
    "dropped": "Traps dropped because the store queue was full",
    "stored": "Traps durably stored (new alerts and counted duplicates)",
    "store_errors": "Failed write attempts of trap batches (retried)",
    "informs_answered": "Inform requests answered",
}


class TrapCollector(Collector):
    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.snapshot()
        for name, help_text in COUNTERS.items():
            yield CounterMetricFamily(f"storfleet_traps_{name}", help_text, value=values[name])
        rejected = CounterMetricFamily("storfleet_traps_rejected",
                                       "Traps rejected, by reason", labels=["reason"])
        for reason, count in sorted(values["rejected_by"].items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily("storfleet_traps_queue_depth",
                                "Traps received and not yet stored", value=values["queue_depth"])
        p99 = values.get("latency_p99_s")
        if p99 is not None:
            yield GaugeMetricFamily("storfleet_traps_store_latency_p99_seconds",
                                    "p99 receive-to-stored latency of recent traps", value=p99)
