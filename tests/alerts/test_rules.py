"""Rules after a real sync of the fake array: capacity thresholds, bad statuses, and a
storage unreachable for N syncs in a row, raised and cleared like any alert."""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.alerts import rules
from storfleet.alerts.settings import AlertSettings
from storfleet.jobs.functions import run_sync
from storfleet.store import write
from storfleet.store.schema import alert_rule_state, inventory
from storfleet.sync.engine import SyncResult, sync_storage
from tests.alerts.conftest import fake_storage, stored_alerts

storage_pool, disk = inventory["storage_pool"], inventory["disk"]

SETTINGS = AlertSettings(unreachable_syncs=3)


def _rule_alerts(db, sid, state="open"):
    return {r["alert_id"].removeprefix(rules.PREFIX): r
            for r in stored_alerts(db, storage_id=sid, source="rule", state=state)}


def _set_pool_usage(db, sid, pool_id, pct):
    with write(db.engine) as conn:
        conn.execute(sa.update(storage_pool).where(
            storage_pool.c.storage_id == sid,
            storage_pool.c.native_storage_pool_id == pool_id,
        ).values(used_capacity=storage_pool.c.total_capacity * pct // 100))


def _healthy(db, sid):
    """Every pool at 10%, every disk normal: a clean start whatever the seed made."""
    with write(db.engine) as conn:
        conn.execute(sa.update(storage_pool).where(storage_pool.c.storage_id == sid).values(
            used_capacity=storage_pool.c.total_capacity // 10, status="normal"))
        conn.execute(sa.update(disk).where(disk.c.storage_id == sid).values(status="normal"))


def test_capacity_thresholds_raise_escalate_and_clear(db, manager):
    sid = fake_storage(manager, 70)["id"]
    result = sync_storage(db, manager, sid)
    _healthy(db, sid)
    with db.engine.connect() as conn:
        pool = conn.execute(sa.select(storage_pool.c.native_storage_pool_id).where(
            storage_pool.c.storage_id == sid).limit(1)).scalar()
    rules.evaluate(db, sid, result, SETTINGS)
    assert not any("capacity" in k for k in _rule_alerts(db, sid))
    _set_pool_usage(db, sid, pool, 85)
    assert rules.evaluate(db, sid, result, SETTINGS)[0] >= 1
    warning = _rule_alerts(db, sid)["storage_pool_capacity_warning"]
    assert (warning["severity"], warning["location"]) == ("Warning", pool)
    assert "85.0% full" in warning["description"]
    rules.evaluate(db, sid, result, SETTINGS)  # holds still: not counted again
    assert _rule_alerts(db, sid)["storage_pool_capacity_warning"]["count"] == 1
    _set_pool_usage(db, sid, pool, 95)
    rules.evaluate(db, sid, result, SETTINGS)
    now_open = _rule_alerts(db, sid)
    assert "storage_pool_capacity_critical" in now_open
    assert "storage_pool_capacity_warning" not in now_open
    assert now_open["storage_pool_capacity_critical"]["severity"] == "Critical"
    _set_pool_usage(db, sid, pool, 50)
    rules.evaluate(db, sid, result, SETTINGS)
    assert not any("capacity" in k for k in _rule_alerts(db, sid))
    cleared = _rule_alerts(db, sid, state="cleared")
    assert cleared["storage_pool_capacity_critical"]["cleared_by"] == rules.CLEARED_BY


def test_bad_status_raises_and_stale_kinds_keep_their_alerts(db, manager):
    sid = fake_storage(manager, 71)["id"]
    result = sync_storage(db, manager, sid)
    _healthy(db, sid)
    with write(db.engine) as conn:
        disk_id = conn.execute(sa.select(disk.c.native_disk_id).where(
            disk.c.storage_id == sid).limit(1)).scalar()
        conn.execute(sa.update(disk).where(disk.c.storage_id == sid,
                                           disk.c.native_disk_id == disk_id).values(
            status="offline"))
    rules.evaluate(db, sid, result, SETTINGS)
    alert = _rule_alerts(db, sid)["disk_status"]
    assert (alert["severity"], alert["location"], alert["resource_type"]) == (
        "Critical", disk_id, "disk")
    _healthy(db, sid)
    failed_disks = SyncResult(sid, "failed", "disk: boom",
                              {k: v for k, v in result.kinds.items() if k != "disk"})
    rules.evaluate(db, sid, failed_disks, SETTINGS)
    assert "disk_status" in _rule_alerts(db, sid)  # disks not re-read: left as they were
    rules.evaluate(db, sid, result, SETTINGS)
    assert "disk_status" not in _rule_alerts(db, sid)


def test_unreachable_for_n_syncs_in_a_row(db, manager):
    sid = fake_storage(manager, 72)["id"]
    good = sync_storage(db, manager, sid)
    down = SyncResult(sid, "failed", "unreachable: connection refused")
    for _ in range(2):
        rules.evaluate(db, sid, down, SETTINGS)
    assert "storage_unreachable" not in _rule_alerts(db, sid)
    rules.evaluate(db, sid, down, SETTINGS)
    alert = _rule_alerts(db, sid)["storage_unreachable"]
    assert "3 syncs in a row" in alert["description"] and alert["severity"] == "Critical"
    rules.evaluate(db, sid, None, SETTINGS)  # a crashed sync counts too; still one alert
    assert _rule_alerts(db, sid)["storage_unreachable"]["count"] == 1
    rules.evaluate(db, sid, good, SETTINGS)
    assert "storage_unreachable" not in _rule_alerts(db, sid)


def test_run_sync_evaluates_the_rules(db, manager):
    sid = fake_storage(manager, 73)["id"]
    sync_storage(db, manager, sid)
    with write(db.engine) as conn:
        conn.execute(sa.update(storage_pool).where(storage_pool.c.storage_id == sid).values(
            status="normal"))
    assert run_sync(db, manager, sid) == "ok"
    with db.engine.connect() as conn:  # the rules ran: they remember the storage answered
        remembered = conn.execute(sa.select(alert_rule_state.c.value).where(
            alert_rule_state.c.storage_id == sid)).scalar()
    assert remembered == 0
    # the fake array's pools came back from the array as it reports them; whatever it
    # reports, the rule alerts now mirror the synced inventory exactly
    with db.engine.connect() as conn:
        bad = conn.execute(sa.select(sa.func.count()).select_from(storage_pool).where(
            storage_pool.c.storage_id == sid,
            storage_pool.c.status.in_(["offline", "abnormal", "degraded"]))).scalar()
    opened = [a for a in _rule_alerts(db, sid).values()
              if a["alert_id"] == rules.PREFIX + "storage_pool_status"]
    assert len(opened) == bad
