"""Prometheus Alertmanager, v2 API (``POST /api/v2/alerts``).

Delfin posted its whole alert history to the old v1 API on every alert. Here every pass
sends what is active (open or acknowledged) with ``endsAt`` ahead, so Alertmanager keeps
it firing past its resolve timeout as long as storfleet re-sends it (at least every
``alertmanager_resend_s``); an alert cleared since the last pass is sent once more with
``endsAt`` = when it was cleared, which resolves it. Labels are stable for the life of a
stored alert: alertname, storage_id, alert_id, resource_type, resource, severity.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from storfleet.alerts.exporters import events
from storfleet.alerts.settings import AlertSettings

log = logging.getLogger(__name__)

NAME = "alertmanager"
PAGE = 1000


def labels(alert: dict[str, Any]) -> dict[str, str]:
    values = {
        "alertname": alert.get("alert_name") or alert["alert_id"],
        "storage_id": alert.get("storage_id") or "unmatched",
        "alert_id": alert["alert_id"],
        "resource_type": alert.get("resource_type") or "",
        "resource": alert.get("location") or "",
        "severity": (alert.get("severity") or "NotSpecified").lower(),
        "source": "storfleet",
    }
    return {k: str(v) for k, v in values.items() if v != ""}


def annotations(alert: dict[str, Any]) -> dict[str, str]:
    values = {
        "description": alert.get("description"),
        "recovery_advice": alert.get("recovery_advice"),
        "storage_name": alert.get("storage_name"),
        "serial_number": alert.get("serial_number"),
        "state": alert.get("state"),
        "count": alert.get("count"),
        "storfleet_alert": alert.get("id"),
        "transport_address": alert.get("transport_address"),
    }
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def payload(alert: dict[str, Any], ends_at: datetime) -> dict[str, Any]:
    return {
        "labels": labels(alert),
        "annotations": annotations(alert),
        "startsAt": alert.get("first_seen"),
        "endsAt": events.iso(ends_at),
    }


class AlertmanagerExporter:
    name = NAME

    def __init__(self, engine: sa.Engine, settings: AlertSettings,
                 client: httpx.Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.url = settings.alertmanager_url.rstrip("/") + "/api/v2/alerts"  # type: ignore
        self.client = client or httpx.Client(timeout=10.0, headers=settings.export_headers)
        self.cursor = events.start_cursor(engine, NAME)
        self.last_full = 0.0
        self.sent = 0
        self.last_error: str | None = None

    def run_once(self, force: bool = False) -> None:
        """Send what changed since the cursor (cleared ones resolved) and, every
        ``alertmanager_resend_s``, every active alert. Raises on failure: the runner
        backs off and retries, and the cursor has not moved."""
        with self.engine.connect() as conn:
            newer = events.read_events(conn, self.cursor, 5000)
        due = force or time.monotonic() - self.last_full >= self.settings.alertmanager_resend_s
        if not newer and not due:
            return
        now = datetime.now(UTC)
        ends = now + timedelta(seconds=self.settings.alertmanager_ends_after_s)
        changed = {e.alert["id"]: e.alert for e in newer}
        batch = [payload(a, _parse(a.get("cleared_at")) or now if a["state"] == "cleared"
                         else ends) for a in changed.values()]
        if due:
            after = 0
            while True:
                with self.engine.connect() as conn:
                    page = events.active_alerts(conn, after, PAGE)
                if not page:
                    break
                batch.extend(payload(a, ends) for a in page if a["id"] not in changed)
                after = page[-1]["id"]
                if len(batch) >= PAGE:
                    self._post(batch)
                    batch = []
            self.last_full = time.monotonic()
        self._post(batch)
        if newer:
            self.cursor = newer[-1].id
            events.save_cursor(self.engine, NAME, self.cursor)

    def _post(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        response = self.client.post(self.url, json=batch)
        if response.status_code >= 300:
            raise RuntimeError(f"alertmanager answered {response.status_code}: "
                               f"{response.text[:200]}")
        self.sent += len(batch)

    def close(self) -> None:
        self.client.close()


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
