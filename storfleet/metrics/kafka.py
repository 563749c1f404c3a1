"""Kafka export: every collected batch to the topic ``storfleet.metrics``.

One long-lived producer per process (confluent-kafka, i.e. librdkafka) — not one per batch
as Delfin had — with ``acks=all``: a message counts as delivered only when Kafka confirmed
it. Until then it stays in a bounded buffer (``kafka_buffer_samples``): a delivery that
fails (Kafka down longer than librdkafka's own retries) is sent again, oldest first, and
only when the buffer is full is the oldest data dropped, counted in ``lost_samples``.
Delivery is at-least-once: a consumer drops duplicates by ``message_id``.

Message (JSON, UTF-8, key = storage id)::

    {"schema_version": 1, "message_id": "<storage>:<start>-<end>/<part>",
     "batch_id": "<storage>:<start>-<end>", "part": 0, "parts": 1,
     "storage": {"id", "name", "serial_number"},
     "window": {"start_ms", "end_ms"}, "collected_at": <epoch s>,
     "series": [{"resource_type", "resource_id", "resource_name", "metric", "unit",
                 "values": [[<epoch ms>, <value in Delfin's unit>], ...]}, ...]}

A batch is split into parts of at most ``SAMPLES_PER_MESSAGE`` samples so a message stays
far below Kafka's default 1 MB limit whatever the window.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from storfleet.config import Settings
from storfleet.metrics.batch import MetricBatch

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SAMPLES_PER_MESSAGE = 5000
SERIES_PER_MESSAGE = 2000
MAX_IN_FLIGHT = 200
RETRY_PAUSE_S = 0.5


@dataclass(slots=True)
class Message:
    key: bytes
    value: bytes
    samples: int
    message_id: str
    attempts: int = 0


def encode(batch: MetricBatch) -> list[Message]:
    """A batch as Kafka messages (see the module docstring)."""
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    counts: list[int] = []
    samples = 0
    for s in batch.series:
        if current and (samples + len(s.values) > SAMPLES_PER_MESSAGE
                        or len(current) >= SERIES_PER_MESSAGE):
            parts.append(current)
            counts.append(samples)
            current, samples = [], 0
        current.append({
            "resource_type": s.resource_type,
            "resource_id": s.resource_id,
            "resource_name": s.resource_name,
            "metric": s.metric,
            "unit": s.unit,
            "values": list(s.values.items()),
        })
        samples += len(s.values)
    if current:
        parts.append(current)
        counts.append(samples)
    key = batch.storage_id.encode()
    header = {
        "schema_version": SCHEMA_VERSION,
        "batch_id": batch.batch_id,
        "storage": {
            "id": batch.storage_id,
            "name": batch.storage_name,
            "serial_number": batch.serial_number,
        },
        "window": {"start_ms": batch.start_ms, "end_ms": batch.end_ms},
        "collected_at": batch.collected_at,
        "parts": len(parts),
    }
    messages = []
    for number, (series, count) in enumerate(zip(parts, counts, strict=True)):
        message_id = f"{batch.batch_id}/{number}"
        body = {**header, "message_id": message_id, "part": number, "series": series}
        value = json.dumps(body, separators=(",", ":")).encode()
        messages.append(Message(key, value, count, message_id))
    return messages


class KafkaExporter:
    """The process's producer for one cluster and topic, with its bounded buffer."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        buffer_samples: int,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient

        self.topic = topic
        self.buffer_samples = buffer_samples
        config = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "storfleet-metrics",
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            # librdkafka retries by itself for this long, then hands the message back.
            "message.timeout.ms": 10_000,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 2_000,
            "message.max.bytes": 4_000_000,
            "logger": logging.getLogger("storfleet.metrics.kafka.librdkafka"),
            "error_cb": self._on_error,
            # The topic is created on purpose (ensure_topic), never as a side effect.
            "allow.auto.create.topics": False,
        }
        config.update(extra_config or {})
        self._producer = Producer(config)
        admin_keys = ("bootstrap.servers", "security.protocol", "client.id")
        self._admin = AdminClient({k: v for k, v in config.items()
                                   if k in admin_keys or k.startswith(("sasl.", "ssl."))}
                                  | {"logger": config["logger"]})
        self._topic_ready = False
        self._queue: deque[Message] = deque()
        self._in_flight = 0
        self._buffered = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._retry_after = 0.0
        self._stop = threading.Event()
        self.stats: dict[str, float] = {
            "delivered_batches": 0,
            "delivered_samples": 0,
            "delivery_failures": 0,
            "lost_samples": 0,
            "lost_messages": 0,
        }
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="storfleet-kafka", daemon=True)
        self._thread.start()

    # -- the collection side ---------------------------------------------------------------
    def publish(self, batch: MetricBatch) -> int:
        """Queue a batch; returns the samples dropped to make room (0 normally)."""
        messages = encode(batch)
        lost = 0
        with self._lock:
            for message in messages:
                while self._buffered + message.samples > self.buffer_samples and self._queue:
                    dropped = self._queue.popleft()
                    self._buffered -= dropped.samples
                    lost += dropped.samples
                    self.stats["lost_messages"] += 1
                if self._buffered + message.samples > self.buffer_samples:
                    lost += message.samples  # everything else is in flight: drop this one
                    self.stats["lost_messages"] += 1
                    continue
                self._queue.append(message)
                self._buffered += message.samples
            self.stats["lost_samples"] += lost
        if lost:
            log.warning("kafka buffer full: %d samples dropped (%s)", lost, self.last_error)
        return lost

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {**self.stats, "buffered_samples": self._buffered,
                    "queued_messages": len(self._queue), "in_flight": self._in_flight}

    def flush(self, timeout: float) -> bool:
        """Wait until everything buffered is confirmed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._buffered:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout)
        self._producer.flush(1.0)

    # -- the sending thread ---------------------------------------------------------------
    def ensure_topic(self, timeout: float = 5.0) -> bool:
        """Create the topic (1 partition) when the cluster lacks it; True once it exists.
        Operators usually provision it; this keeps a fresh or test cluster working."""
        from confluent_kafka.admin import NewTopic

        try:
            topics = self._admin.list_topics(self.topic, timeout=timeout).topics
            found = topics.get(self.topic)
            if found is not None and found.error is None:
                return True
            futures = self._admin.create_topics([NewTopic(self.topic, 1, 1)],
                                                operation_timeout=timeout)
            futures[self.topic].result(timeout)
            log.info("created kafka topic %s", self.topic)
            return True
        except Exception as exc:  # down, or created meanwhile: checked again later
            self.last_error = str(exc)
            return "TOPIC_ALREADY_EXISTS" in str(exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._topic_ready:
                    self._topic_ready = self.ensure_topic()
                    if not self._topic_ready:
                        self._stop.wait(RETRY_PAUSE_S)
                        continue
                self._send_some()
                self._producer.poll(0.05)
            except Exception:  # keep exporting whatever happens to one message
                log.exception("kafka export loop")
                time.sleep(RETRY_PAUSE_S)

    def _next(self) -> Iterator[Message]:
        while True:
            with self._lock:
                if (not self._queue or self._in_flight >= MAX_IN_FLIGHT
                        or time.monotonic() < self._retry_after):
                    return
                message = self._queue.popleft()
                self._in_flight += 1
            yield message

    def _send_some(self) -> None:
        for message in self._next():
            message.attempts += 1
            try:
                self._producer.produce(
                    self.topic,
                    key=message.key,
                    value=message.value,
                    on_delivery=lambda err, _msg, m=message: self._on_delivery(m, err),
                )
            except BufferError:  # librdkafka's own queue is full: try again shortly
                self._requeue(message)
                return
            except Exception as exc:  # e.g. a message Kafka can never take
                log.error("kafka refused message %s: %s", message.message_id, exc)
                with self._idle:
                    self._in_flight -= 1
                    self._buffered -= message.samples
                    self.stats["lost_samples"] += message.samples
                    self.stats["lost_messages"] += 1
                    self._idle.notify_all()

    def _requeue(self, message: Message) -> None:
        with self._lock:
            self._in_flight -= 1
            self._queue.appendleft(message)

    def _on_delivery(self, message: Message, err: Any) -> None:
        if err is None:
            with self._idle:
                self._in_flight -= 1
                self._buffered -= message.samples
                self.stats["delivered_batches"] += 1
                self.stats["delivered_samples"] += message.samples
                self._idle.notify_all()
            return
        self.last_error = str(err)
        with self._lock:
            self.stats["delivery_failures"] += 1
            self._retry_after = time.monotonic() + RETRY_PAUSE_S
        self._topic_ready = False  # the cluster may have been replaced: check the topic
        self._requeue(message)

    def _on_error(self, err: Any) -> None:
        self.last_error = str(err)


_exporters: dict[tuple[str, str], KafkaExporter] = {}
_exporters_lock = threading.Lock()


def _key(settings: Settings) -> tuple[str, str] | None:
    if not settings.kafka_bootstrap_servers:
        return None
    return (settings.kafka_bootstrap_servers, settings.kafka_topic)


def exporter_for(settings: Settings) -> KafkaExporter | None:
    """The process's exporter for the configured cluster, created on first use; None when
    Kafka export is off."""
    key = _key(settings)
    if key is None:
        return None
    with _exporters_lock:
        exporter = _exporters.get(key)
        if exporter is None:
            exporter = _exporters[key] = KafkaExporter(
                key[0], key[1], buffer_samples=settings.kafka_buffer_samples,
                extra_config=settings.kafka_producer_config,
            )
        return exporter


def running_stats(settings: Settings) -> dict[str, float] | None:
    key = _key(settings)
    exporter = _exporters.get(key) if key else None
    return None if exporter is None else exporter.snapshot()


def close_all(timeout: float = 10.0) -> None:
    """Flush and close every exporter (at shutdown)."""
    with _exporters_lock:
        exporters = list(_exporters.values())
        _exporters.clear()
    for exporter in exporters:
        exporter.close(timeout)
