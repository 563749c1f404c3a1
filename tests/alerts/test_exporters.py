"""Alert exporters against real servers: Prometheus Alertmanager (an alert appears, stays
active past the resolve timeout, resolves when cleared), a webhook that fails for a while
(retried, nothing lost), Kafka through a real broker (one message per event)."""

from __future__ import annotations

import json
import time

import httpx
from confluent_kafka import Consumer, TopicPartition

from storfleet.alerts import queries
from storfleet.alerts.exporters.alertmanager import AlertmanagerExporter
from storfleet.alerts.exporters.kafka import KafkaAlertExporter
from storfleet.alerts.exporters.runner import ExportRunner
from storfleet.alerts.exporters.webhook import WebhookExporter
from storfleet.alerts.lifecycle import IncomingAlert
from storfleet.alerts.settings import AlertSettings
from tests.alerts.conftest import fake_storage, wait_for
from tests.alerts.servers import WebhookSink, alertmanager
from tests.alerts.test_lifecycle import fault, ingest
from tests.metrics.servers import Broker

RESOLVE_TIMEOUT_S = 2


def _am_alerts(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()


def test_alertmanager_sees_an_alert_keeps_it_active_and_resolves_it(sqlite_db, tmp_path):
    from storfleet.fleet.manager import DriverManager

    db = sqlite_db
    manager = DriverManager(db)
    sid = fake_storage(manager, 90)["id"]
    with alertmanager(tmp_path, RESOLVE_TIMEOUT_S) as url:
        settings = AlertSettings(alertmanager_url=url, alertmanager_resend_s=1,
                                 alertmanager_ends_after_s=3, export_poll_s=0.5)
        runner = ExportRunner(db, settings, [AlertmanagerExporter(db.engine, settings)])
        runner.start()
        try:
            (pk,) = ingest(db, IncomingAlert(sid, fault("shelf-1/disk-4", "s1"), "trap")).raised
            runner.nudge()
            found = wait_for(lambda: _am_alerts(url), what="the alert in Alertmanager")
            labels = found[0]["labels"]
            assert labels == {"alertname": "Disk failure", "storage_id": sid,
                              "alert_id": "0x0F000001", "resource_type": "disk",
                              "resource": "shelf-1/disk-4", "severity": "critical",
                              "source": "storfleet"}
            assert found[0]["annotations"]["storfleet_alert"] == str(pk)
            # well past both the resolve timeout and one endsAt: re-sending keeps it up
            time.sleep(RESOLVE_TIMEOUT_S + 5)
            still = _am_alerts(url)
            assert [a["labels"]["resource"] for a in still] == ["shelf-1/disk-4"]
            assert still[0]["status"]["state"] == "active"
            ingest(db, IncomingAlert(sid, fault("shelf-1/disk-4", "s2"), "trap"))
            queries.clear(db.engine, pk, "operator")
            runner.nudge()
            wait_for(lambda: _am_alerts(url) == [], timeout=10, what="the alert resolved")
            assert runner.snapshot()["alertmanager"]["ok"] is True
        finally:
            runner.stop()
    manager.clear()


def test_an_exporter_that_is_down_backs_off_and_blocks_nothing(db, manager):
    sid = fake_storage(manager, 93)["id"]
    settings = AlertSettings(alertmanager_url="http://127.0.0.1:9", export_poll_s=0.1)
    runner = ExportRunner(db, settings, [AlertmanagerExporter(db.engine, settings)])
    ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"))
    runner.run_once()
    status = runner.snapshot()["alertmanager"]
    assert status["ok"] is False and "connect" in status["last_error"].lower()
    assert status["retry_at"] > time.monotonic()
    ingest(db, IncomingAlert(sid, fault("d2", "s2"), "trap"))  # storing goes on
    runner.run_once()  # within its back-off: not tried again
    assert runner.snapshot()["alertmanager"]["retry_at"] == status["retry_at"]
    runner.stop()


def test_webhook_retries_with_back_off_and_loses_nothing(db, manager):
    sid = fake_storage(manager, 91)["id"]
    with WebhookSink() as sink:
        settings = AlertSettings(alert_webhook_url=sink.url, export_poll_s=0.1,
                                 alert_webhook_retry_max_s=1)
        runner = ExportRunner(db, settings, [WebhookExporter(db.engine, settings)])
        sink.failing.set()
        runner.start()
        try:
            (pk,) = ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap")).raised
            ingest(db, IncomingAlert(sid, fault("d1", "s2"), "trap"))
            runner.nudge()
            wait_for(lambda: sink.attempts >= 3, what="retries while the hook fails")
            assert sink.bodies == []
            sink.failing.clear()
            queries.acknowledge(db.engine, pk, "op")
            queries.clear(db.engine, pk, "op")
            wait_for(lambda: len(sink.events()) == 4, what="every event delivered")
        finally:
            runner.stop()
    got = sink.events()
    assert [e["event"] for e in got] == ["raised", "repeated", "acknowledged", "cleared"]
    assert [e["event_id"] for e in got] == sorted(e["event_id"] for e in got)
    assert all(e["schema_version"] == 1 and e["alert"]["id"] == pk for e in got)
    assert got[-1]["alert"]["state"] == "cleared" and got[-1]["alert"]["storage_id"] == sid


def test_kafka_gets_one_message_per_event(sqlite_db, tmp_path):
    from storfleet.fleet.manager import DriverManager

    db = sqlite_db
    manager = DriverManager(db)
    sid = fake_storage(manager, 92)["id"]
    broker = Broker(tmp_path)
    broker.start()
    try:
        settings = AlertSettings(alert_kafka_bootstrap_servers=broker.bootstrap)
        exporter = KafkaAlertExporter(db.engine, settings)
        (pk,) = ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"),
                       IncomingAlert(sid, fault("d1", "s2"), "trap")).raised
        queries.clear(db.engine, pk, "op")
        exporter.run_once()
        exporter.run_once()  # nothing new: nothing sent twice
        assert exporter.sent == 2
        messages = _consume(broker.bootstrap, settings.alert_kafka_topic, 2)
        exporter.close()
    finally:
        broker.stop()
        manager.clear()
    assert [(k, m["event"]) for k, m in messages] == [(sid.encode(), "raised"),
                                                      (sid.encode(), "cleared")]
    assert all(m["schema_version"] == 1 for _, m in messages)
    assert messages[0][1]["alert"]["count"] == 2


def _consume(bootstrap: str, topic: str, want: int, timeout: float = 30.0):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "storfleet-alerts-test",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, number, 0) for number in partitions])
    got = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            got.append((message.key(), json.loads(message.value())))
    finally:
        consumer.close()
    assert len(got) == want, f"{len(got)} of {want} messages"
    return sorted(got, key=lambda m: m[1]["event_id"])
