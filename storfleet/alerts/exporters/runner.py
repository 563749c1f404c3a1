"""Drives the configured alert exporters in one thread of their own.

Each pass runs each exporter under its lease (``alert-export:<name>``), so with several
storfleet nodes one exports and the others stand by. A failing exporter is retried with
a back-off of its own and never holds up another, nor the receiver: everything it needs
is in the database. ``nudge()`` (after a trap batch is stored) makes the next pass now.
Housekeeping (pruning old cleared alerts and old events) runs here too, hourly.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from storfleet.alerts import queries
from storfleet.alerts.settings import AlertSettings
from storfleet.jobs.leases import new_owner, release, try_acquire
from storfleet.store.database import Database

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
LEASE_S = 60.0
MIN_PASS_GAP_S = 0.2


def build_exporters(db: Database, settings: AlertSettings) -> list[Any]:
    found: list[Any] = []
    if settings.alertmanager_url:
        from storfleet.alerts.exporters.alertmanager import AlertmanagerExporter

        found.append(AlertmanagerExporter(db.engine, settings))
    if settings.alert_webhook_url:
        from storfleet.alerts.exporters.webhook import WebhookExporter

        found.append(WebhookExporter(db.engine, settings))
    if settings.alert_kafka_bootstrap_servers:
        from storfleet.alerts.exporters.kafka import KafkaAlertExporter

        found.append(KafkaAlertExporter(db.engine, settings,
                                        db.settings.kafka_producer_config))
    return found


class ExportRunner:
    def __init__(self, db: Database, settings: AlertSettings,
                 exporters: list[Any] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.exporters = exporters if exporters is not None else build_exporters(db, settings)
        self.owner = new_owner("alert-export")
        self.status: dict[str, dict[str, Any]] = {
            e.name: {"ok": None, "last_error": None, "retry_at": 0.0, "delay": 0.0}
            for e in self.exporters}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = time.monotonic()

    def start(self) -> None:
        if not self.exporters:
            log.info("no alert exporter configured")
        self._thread = threading.Thread(target=self._run, name="storfleet-alert-export",
                                        daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)
        for exporter in self.exporters:
            try:
                exporter.close()
            except Exception:
                log.warning("closing exporter %s failed", exporter.name, exc_info=True)
            release(self.db.engine, f"alert-export:{exporter.name}", self.owner)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: {k: v for k, v in s.items() if k != "delay"}
                for name, s in self.status.items()}

    def run_once(self) -> None:
        now = time.monotonic()
        for exporter in self.exporters:
            state = self.status[exporter.name]
            if now < state["retry_at"]:
                continue
            try:
                if not try_acquire(self.db.engine, f"alert-export:{exporter.name}",
                                   self.owner, LEASE_S):
                    continue  # another node exports
                exporter.run_once()
                state.update(ok=True, last_error=None, delay=0.0, retry_at=0.0)
            except Exception as exc:
                delay = min(max(state["delay"] * 2, 1.0), self.settings.alert_webhook_retry_max_s)
                state.update(ok=False, last_error=str(exc), delay=delay,
                             retry_at=time.monotonic() + delay)
                log.warning("alert exporter %s failed (retry in %.0f s): %s",
                            exporter.name, delay, exc)
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            try:
                queries.prune(self.db.engine, self.db.settings.alert_retention_s,
                              self.settings.alert_event_retention_s)
            except Exception:
                log.warning("pruning old alerts failed", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(MIN_PASS_GAP_S)  # a trap flood nudges often: coalesce
            self._wake.wait(self.settings.export_poll_s)
            self._wake.clear()
