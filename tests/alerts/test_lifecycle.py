"""The stored alert lifecycle on both databases: duplicates counted, recoveries clearing
by match key or identity, poll repeats, events written for the exporters."""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.alerts import queries
from storfleet.alerts.lifecycle import AlertStore, IncomingAlert
from storfleet.store import write
from storfleet.store.schema import alert_event
from tests.alerts.conftest import fake_storage, stored_alerts


def fault(location: str, seq: str, **extra) -> dict:
    return {"alert_id": "0x0F000001", "alert_name": "Disk failure", "severity": "Critical",
            "category": "Fault", "type": "EquipmentAlarm", "sequence_number": seq,
            "occur_time": 1_700_000_000_000, "description": f"disk {location} failed",
            "resource_type": "disk", "location": location, "match_key": f"mk-{location}",
            **extra}


def ingest(db, *alerts: IncomingAlert, store: AlertStore | None = None):
    with write(db.engine) as conn:
        return (store or AlertStore()).ingest(conn, list(alerts))


def events(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return [(r.alert_ref, r.event, r.count) for r in
                conn.execute(sa.select(alert_event).order_by(alert_event.c.id))]


def test_duplicates_are_counted_on_one_row(db, manager):
    sid = fake_storage(manager, 40)["id"]
    first = ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"),
                   IncomingAlert(sid, fault("d1", "s2"), "trap"),
                   IncomingAlert(sid, fault("d2", "s3"), "trap"))
    assert len(first.raised) == 2 and first.repeated == 1
    ingest(db, IncomingAlert(sid, fault("d1", "s4"), "trap"),
           IncomingAlert(sid, fault("d1", "s4"), "trap"))
    rows = {r["location"]: r for r in stored_alerts(db, storage_id=sid)}
    assert rows["d1"]["count"] == 4
    assert rows["d1"]["sequence_numbers"] == ["s1", "s2", "s4"]
    assert rows["d2"]["count"] == 1
    d1 = rows["d1"]["id"]
    assert events(db) == [(d1, "raised", 1), (rows["d2"]["id"], "raised", 1),
                          (d1, "repeated", 2)]


def test_sequence_numbers_are_capped(db, manager):
    sid = fake_storage(manager, 41)["id"]
    store = AlertStore(max_sequence_numbers=3)
    for i in range(5):
        ingest(db, IncomingAlert(sid, fault("d1", f"s{i}"), "trap"), store=store)
    (row,) = stored_alerts(db, storage_id=sid)
    assert row["count"] == 5 and row["sequence_numbers"] == ["s2", "s3", "s4"]


def test_recovery_clears_by_match_key_and_is_kept_as_history(db, manager):
    sid = fake_storage(manager, 42)["id"]
    other = fake_storage(manager, 43)["id"]
    ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"),
           IncomingAlert(other, fault("d1", "s1"), "trap"))
    recovery = {**fault("d1", "r1"), "alert_id": "0x0F0000FF", "category": "Recovery",
                "severity": "Informational"}
    result = ingest(db, IncomingAlert(sid, recovery, "trap"))
    assert len(result.cleared) == 1
    mine = stored_alerts(db, storage_id=sid)
    assert [r["state"] for r in mine] == ["cleared", "cleared"]
    assert mine[0]["cleared_by"] == "recovery 0x0F0000FF #r1"
    assert mine[0]["clear_type"] == "Automatic"
    assert stored_alerts(db, storage_id=other)[0]["state"] == "open"  # another storage


def test_recovery_without_match_key_clears_the_same_identity(db, manager):
    sid = fake_storage(manager, 44)["id"]
    no_key = fault("d9", "s1")
    del no_key["match_key"]
    recovery = {**no_key, "category": "Recovery", "sequence_number": "r"}
    # raised and cleared within one batch, then raised again
    ingest(db, IncomingAlert(sid, no_key, "trap"), IncomingAlert(sid, recovery, "trap"),
           IncomingAlert(sid, {**no_key, "sequence_number": "s2"}, "trap"))
    rows = stored_alerts(db, storage_id=sid)
    states = sorted((r["category"], r["state"]) for r in rows)
    assert states == [("Fault", "cleared"), ("Fault", "open"), ("Recovery", "cleared")]


def test_a_polled_alert_seen_again_is_the_same_occurrence(db, manager):
    sid = fake_storage(manager, 45)["id"]
    for _ in range(3):
        ingest(db, IncomingAlert(sid, fault("d1", "p1"), "poll"))
    (row,) = stored_alerts(db, storage_id=sid)
    assert row["count"] == 1 and row["source"] == "poll"
    ingest(db, IncomingAlert(sid, fault("d1", "p2"), "poll"))
    assert stored_alerts(db, storage_id=sid)[0]["count"] == 2


def test_acknowledge_then_clear(db, manager):
    sid = fake_storage(manager, 46)["id"]
    (pk,) = ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap")).raised
    row = queries.acknowledge(db.engine, pk, "alice")
    assert (row.state, row.acknowledged_by) == ("acknowledged", "alice")
    ingest(db, IncomingAlert(sid, fault("d1", "s2"), "trap"))  # still deduplicated
    row = queries.clear(db.engine, pk, "bob")
    assert (row.state, row.cleared_by, row.clear_type, row.count) == (
        "cleared", "bob", "Manual", 2)
    assert queries.clear(db.engine, pk, "carol").cleared_by == "bob"  # idempotent
    assert queries.acknowledge(db.engine, 999999, "x") is None
    assert [e[1] for e in events(db)] == ["raised", "acknowledged", "repeated", "cleared"]


def test_clear_by_sequence_number(db, manager):
    sid = fake_storage(manager, 47)["id"]
    ingest(db, IncomingAlert(sid, fault("d1", "s_1%"), "trap"),
           IncomingAlert(sid, fault("d2", "s_10"), "trap"))
    assert len(queries.clear_by_sequence_number(db.engine, sid, "s_1%", "delfin")) == 1
    states = {r["location"]: r["state"] for r in stored_alerts(db, storage_id=sid)}
    assert states == {"d1": "cleared", "d2": "open"}


def test_forget_storage(db, manager):
    sid = fake_storage(manager, 48)["id"]
    ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"))
    with write(db.engine) as conn:
        assert queries.forget_storage(conn, sid) == 1
    assert stored_alerts(db, storage_id=sid) == [] and events(db) == []
