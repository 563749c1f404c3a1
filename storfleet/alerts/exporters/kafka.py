"""Kafka: one JSON message per alert event on ``storfleet.alerts`` (key: the storage id,
so one storage's events stay in order on one partition).

The message is the webhook's event (``schema_version``, ``event_id``, ``event``, ``at``,
``occurrences``, ``alert``). The metrics exporter's producer wrapper
(storfleet.metrics.kafka) buffers metric batches counted in samples; alert events are a
different shape, so this one keeps its own producer (same librdkafka settings:
acks=all, idempotent retries) and moves its cursor only past events Kafka confirmed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

from storfleet.alerts.exporters import events
from storfleet.alerts.settings import AlertSettings

log = logging.getLogger(__name__)

NAME = "kafka"
BATCH = 1000


class KafkaAlertExporter:
    name = NAME

    def __init__(self, engine: sa.Engine, settings: AlertSettings,
                 extra_config: dict[str, Any] | None = None) -> None:
        from confluent_kafka import Producer

        self.engine = engine
        self.topic = settings.alert_kafka_topic
        config = {
            "bootstrap.servers": settings.alert_kafka_bootstrap_servers,
            "client.id": "storfleet-alerts",
            "acks": "all",
            "linger.ms": 20,
            "message.timeout.ms": 10_000,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 2_000,
            "logger": logging.getLogger("storfleet.alerts.kafka.librdkafka"),
        }
        config.update(extra_config or {})
        self.producer = Producer(config)
        self.cursor = events.start_cursor(engine, NAME)
        self.sent = 0

    def run_once(self, force: bool = False) -> None:
        while True:
            with self.engine.connect() as conn:
                batch = events.read_events(conn, self.cursor, BATCH)
            if not batch:
                return
            failures: list[str] = []

            def delivered(err, _msg, failures=failures) -> None:  # noqa: ANN001
                if err is not None:
                    failures.append(str(err))

            for event in batch:
                value = json.dumps(events.event_json(event), separators=(",", ":")).encode()
                key = (event.alert.get("storage_id") or "unmatched").encode()
                self.producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
            remaining = self.producer.flush(15.0)
            if remaining or failures:
                raise RuntimeError(f"kafka did not confirm {remaining or len(failures)} "
                                   f"alert events: {failures[:1] or 'timeout'}")
            self.cursor = batch[-1].id
            self.sent += len(batch)
            events.save_cursor(self.engine, NAME, self.cursor)

    def close(self) -> None:
        self.producer.flush(5.0)
