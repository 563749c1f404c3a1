"""A generic webhook: every alert event, in order, POSTed as JSON.

Body: ``{"schema_version": 1, "events": [event, ...]}`` where an event is
``{"schema_version", "event_id", "event" (raised / repeated / acknowledged / cleared),
"at", "occurrences", "alert": {...}}``. Delivery is at least once: the cursor moves only
after a 2xx, a failure is retried with back-off (the runner's), and a receiver drops
duplicates by ``event_id``.
"""

from __future__ import annotations

import logging

import httpx
import sqlalchemy as sa

from storfleet.alerts.exporters import events
from storfleet.alerts.settings import AlertSettings

log = logging.getLogger(__name__)

NAME = "webhook"
BATCH = 200


class WebhookExporter:
    name = NAME

    def __init__(self, engine: sa.Engine, settings: AlertSettings,
                 client: httpx.Client | None = None) -> None:
        self.engine = engine
        self.url = settings.alert_webhook_url
        self.client = client or httpx.Client(timeout=settings.alert_webhook_timeout_s,
                                             headers=settings.export_headers)
        self.cursor = events.start_cursor(engine, NAME)
        self.sent = 0

    def run_once(self, force: bool = False) -> None:
        while True:
            with self.engine.connect() as conn:
                batch = events.read_events(conn, self.cursor, BATCH)
            if not batch:
                return
            body = {"schema_version": events.SCHEMA_VERSION,
                    "events": [events.event_json(e) for e in batch]}
            response = self.client.post(self.url, json=body)  # type: ignore[arg-type]
            if response.status_code >= 300:
                raise RuntimeError(f"webhook answered {response.status_code}")
            self.cursor = batch[-1].id
            self.sent += len(batch)
            events.save_cursor(self.engine, NAME, self.cursor)

    def close(self) -> None:
        self.client.close()
