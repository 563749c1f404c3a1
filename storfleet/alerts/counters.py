"""The receiver's counters, read by whoever wants them (``/metrics``, the CLI, a bench).

Plain integers bumped on the event loop and the writer thread (an int increment under
the GIL is enough for counters nobody reconciles to the unit), plus a window of recent
receive-to-stored latencies for percentiles. ``snapshot()`` is the one read API.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_WINDOW = 50_000

REJECT_REASONS = (
    "malformed",  # not a well-formed SNMP notification
    "unknown_community",  # known source address, community of none of its sources
    "v3_unknown_user",
    "v3_unknown_engine",
    "v3_wrong_digest",  # wrong auth key (or protocol)
    "v3_decryption_error",  # wrong privacy key (or protocol)
    "v3_not_in_time_window",
    "v3_unsupported_security_level",
    "v3_other",
    "not_a_notification",  # a well-formed SNMP message that is no trap / inform
)


@dataclass
class TrapCounters:
    received: int = 0  # datagrams read from the socket
    matched: int = 0  # traps attributed to one storage
    unmatched: int = 0  # kept without a storage (unknown source, ambiguous agent)
    rejected: int = 0  # every reason in ``rejected_by``
    parse_failures: int = 0  # parse_alert failed or could not run: stored raw
    dropped: int = 0  # the queue was full (the store is too slow or down)
    stored: int = 0  # traps durably written (new alerts and counted duplicates)
    store_errors: int = 0  # failed write attempts (retried)
    informs_answered: int = 0
    rejected_by: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    queue_depth: Callable[[], int] = field(default=lambda: 0, repr=False)
    _latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.rejected_by[reason] = self.rejected_by.get(reason, 0) + 1

    def record_latencies(self, seconds: list[float]) -> None:
        with self._lock:
            self._latencies.extend(seconds)

    def reset_latencies(self) -> None:
        with self._lock:
            self._latencies.clear()

    def latency_percentile(self, q: float) -> float | None:
        """The q-th percentile (0..1) of the recent receive-to-stored latencies, seconds."""
        with self._lock:
            values = sorted(self._latencies)
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]

    def snapshot(self) -> dict[str, object]:
        """Every counter as plain numbers (a copy; safe to serialise)."""
        return {
            "received": self.received,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "rejected": self.rejected,
            "rejected_by": dict(self.rejected_by),
            "parse_failures": self.parse_failures,
            "dropped": self.dropped,
            "stored": self.stored,
            "store_errors": self.store_errors,
            "informs_answered": self.informs_answered,
            "queue_depth": self.queue_depth(),
            "latency_p50_s": self.latency_percentile(0.50),
            "latency_p99_s": self.latency_percentile(0.99),
        }
