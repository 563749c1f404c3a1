"""Kafka export against a real Kafka-protocol broker (Tansu) started by the test: every
batch arrives; while the broker is down the exporter buffers, and after its restart
everything buffered is delivered; a full buffer drops the oldest data and counts it."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.metrics import kafka
from storfleet.metrics.batch import MetricBatch, Series
from storfleet.metrics.collect import collect_storage
from storfleet.metrics.status import collection_status
from storfleet.secrets import generate_key
from tests.metrics.conftest import open_fast, register
from tests.metrics.servers import Broker, free_port

TOPIC = "storfleet.metrics"


def _consume(bootstrap: str, want: int, timeout: float = 30.0) -> list[tuple[bytes, dict]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "storfleet-test",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    consumer.assign([TopicPartition(TOPIC, number, 0) for number in partitions])
    got: list[tuple[bytes, dict]] = []
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                errors.append(str(message.error()))
                continue
            got.append((message.key(), json.loads(message.value())))
    finally:
        consumer.close()
    assert len(got) >= want, f"{len(got)} of {want} messages read; errors: {errors[:5]}"
    return got


def _check_complete(messages: list[dict], statuses: dict[str, dict[str, Any]]) -> None:
    """Every batch whole, windows contiguous per storage, samples as collected."""
    batches: dict[str, dict[int, dict]] = defaultdict(dict)
    for body in messages:
        assert body["schema_version"] == kafka.SCHEMA_VERSION
        batches[body["batch_id"]][body["part"]] = body  # a redelivery is the same message
    windows: dict[str, list[tuple[int, int]]] = defaultdict(list)
    samples: dict[str, int] = defaultdict(int)
    for parts in batches.values():
        first = next(iter(parts.values()))
        assert sorted(parts) == list(range(first["parts"])), "a batch lost a part"
        sid = first["storage"]["id"]
        windows[sid].append((first["window"]["start_ms"], first["window"]["end_ms"]))
        samples[sid] += sum(len(s["values"]) for p in parts.values() for s in p["series"])
    assert set(windows) == set(statuses)
    for sid, status in statuses.items():
        spans = sorted(windows[sid])
        assert all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:], strict=False)), spans
        assert samples[sid] == status["samples_total"]


def test_every_batch_arrives_and_an_outage_is_buffered(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    broker.start()
    settings = Settings(
        data_dir=tmp_path / "data", secret_key=generate_key(),
        database_url=f"sqlite:///{tmp_path / 'kafka.db'}",
        kafka_bootstrap_servers=broker.bootstrap,
        # Hand undelivered messages back quickly, so the outage exercises the retries.
        kafka_producer_config={"message.timeout.ms": 1500},
    )
    db = open_fast(settings)
    manager = DriverManager(db, call_timeout_s=20, connect_timeout_s=20)
    try:
        sids = [register(manager, 31), register(manager, 32, perf_resources_max=60)]
        base = (int(time.time()) - 30) * 1000

        def collect_until(offset_s: int) -> None:
            for sid in sids:
                assert collect_storage(db, manager, sid, now_ms=base + offset_s * 1000).status \
                    == "ok"

        def statuses() -> dict[str, dict[str, Any]]:
            with db.engine.connect() as conn:
                return {sid: collection_status(conn, sid, db.settings) for sid in sids}

        for offset in (0, 5, 10):
            collect_until(offset)
        exporter = kafka.exporter_for(db.settings)
        assert exporter is not None and exporter.flush(30)
        delivered = int(exporter.snapshot()["delivered_batches"])
        before = _consume(broker.bootstrap, delivered)
        assert len(before) == delivered
        assert {key.decode() for key, _body in before} == set(sids)  # keyed by storage id
        _check_complete([body for _k, body in before], statuses())

        broker.stop()  # Tansu keeps topics in memory: what it had is gone with it
        for offset in (15, 20, 25):
            collect_until(offset)
        time.sleep(3)  # longer than message.timeout.ms: deliveries fail and are retried
        during = exporter.snapshot()
        assert during["buffered_samples"] > 0 and during["delivery_failures"] > 0
        assert during["lost_samples"] == 0
        broker.start()
        assert exporter.flush(60), exporter.snapshot()
        after = exporter.snapshot()
        assert after["lost_samples"] == 0 and after["buffered_samples"] == 0
        replayed = _consume(broker.bootstrap, int(after["delivered_batches"]) - delivered)
        assert replayed
        _check_complete([body for _k, body in before + replayed], statuses())
    finally:
        kafka.close_all(5)
        manager.clear()
        db.dispose()
        broker.stop()


def _batch(number: int, samples: int) -> MetricBatch:
    values = {1_700_000_000_000 + i * 1000: float(i) for i in range(samples)}
    series = [Series(number, "volume", f"v{number}", f"vol {number}", "iops", "IOPS", values)]
    return MetricBatch("s-1", "array", "SN1", number * 10, number * 10 + 9, 0.0, series)


def test_a_full_buffer_drops_the_oldest_and_counts_it() -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: nothing is ever delivered
    exporter = kafka.KafkaExporter(dead, TOPIC, buffer_samples=5000,
                                   extra_config={"message.timeout.ms": 60_000})
    try:
        for number in range(10):
            exporter.publish(_batch(number, 1000))
        stats = exporter.snapshot()
        assert stats["delivered_batches"] == 0
        assert stats["buffered_samples"] == 5000
        assert stats["lost_samples"] == 5000 and stats["lost_messages"] == 5
    finally:
        exporter.close(0.5)


def test_a_large_batch_is_split_below_the_message_limit() -> None:
    values = {1_700_000_000_000 + i * 1000: 1.5 for i in range(240)}
    series = [Series(i, "volume", f"v{i}", f"vol {i}", "iops", "IOPS", values) for i in range(100)]
    batch = MetricBatch("s-1", "array", "SN1", 0, 10, 0.0, series)
    messages = kafka.encode(batch)
    assert len(messages) == -(-24000 // kafka.SAMPLES_PER_MESSAGE)
    assert sum(m.samples for m in messages) == 24000
    assert all(len(m.value) < 1_000_000 for m in messages)
    bodies = [json.loads(m.value) for m in messages]
    assert [b["part"] for b in bodies] == list(range(len(messages)))
    assert {b["parts"] for b in bodies} == {len(messages)}
    assert {m.key for m in messages} == {b"s-1"}
