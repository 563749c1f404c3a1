"""`storfleet serve` receives traps and exposes its receiver's counters on /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.alerts.conftest import send_trap, wait_for
from tests.api.live_server import live_server


def _trap_counters(url: str, headers: dict[str, str]) -> dict[str, float]:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name.startswith("storfleet_traps_") and not sample.labels:
                values[sample.name] = sample.value
    return values


def test_trap_counters_are_on_metrics(tmp_path: Path, snmptrap_bin: str) -> None:
    with live_server(tmp_path) as server:
        port = int(server.env["STORFLEET_TRAP_PORT"])
        before = _trap_counters(server.url, server.headers)
        assert before["storfleet_traps_received_total"] == 0
        for _ in range(3):  # from an address no alert source has: stored unmatched
            send_trap(snmptrap_bin, port, ["-c", "public"])

        def counted() -> dict[str, float] | None:
            values = _trap_counters(server.url, server.headers)
            return values if values["storfleet_traps_stored_total"] >= 3 else None

        values = wait_for(counted, timeout=30, what="three traps stored")
        assert values["storfleet_traps_received_total"] == 3
        assert values["storfleet_traps_unmatched_total"] == 3
        assert values["storfleet_traps_queue_depth"] == 0
