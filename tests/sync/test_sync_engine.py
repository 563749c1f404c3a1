"""The sync engine with a scripted driver: exact diffs, atomic kinds, failures kept apart."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.fleet.registration import register_storage
from storfleet.store import schema
from storfleet.sync import AlreadySyncing, sync_storage
from tests.support.scripted import new_script


def _vol(i: int, **over) -> dict:
    record = {
        "name": f"vol-{i}",
        "native_volume_id": f"v{i}",
        "native_storage_pool_id": "p1",
        "status": "available",
        "total_capacity": 100 * i,
        "used_capacity": 10 * i,
        "free_capacity": 90 * i,
        "storage_id": "ignored-by-rule",
    }
    record.update(over)
    return record


def _register(manager, name: str, **kinds) -> tuple[dict, str]:
    script = new_script(name, serial=f"SER-{name}", **kinds)
    body = {
        "vendor": "storfleet_test",
        "model": "scripted",
        "rest": {"host": "h", "port": 1, "username": "u", "password": "pw-right-7731"},
        "extra_attributes": {"script": name},
    }
    return script, register_storage(manager, body)["id"]


def _rows(db, kind: str, storage_id: str) -> dict[str, dict]:
    table = schema.inventory[kind]
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.storage_id == storage_id))
        return {
            "/".join(str(r._mapping[k]) for k in _key(kind)): dict(r._mapping) for r in rows
        }


def _key(kind: str) -> tuple[str, ...]:
    from storfleet.resources import KINDS

    return KINDS[kind].key


def _changes(db, storage_id: str, after: int = 0) -> list[tuple]:
    with db.engine.connect() as conn:
        return [
            (r.kind, r.native_id, r.op, r.fields)
            for r in conn.execute(
                sa.select(schema.change)
                .where(schema.change.c.storage_id == storage_id, schema.change.c.id > after)
                .order_by(schema.change.c.id)
            )
        ]


def _max_change(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(schema.change.c.id))).scalar() or 0


def _state(db, storage_id: str) -> dict[str, dict]:
    with db.engine.connect() as conn:
        return {
            r.kind: dict(r._mapping)
            for r in conn.execute(
                sa.select(schema.sync_state).where(schema.sync_state.c.storage_id == storage_id)
            )
        }


def _storage(db, storage_id: str) -> dict:
    with db.engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(schema.storage).where(schema.storage.c.id == storage_id)
            ).one()._mapping
        )


POOL = {"name": "pool-1", "native_storage_pool_id": "p1", "total_capacity": 1000}


def test_first_sync_then_exact_diffs(db, manager) -> None:
    script, sid = _register(
        manager, "diff", storage_pool=[POOL], volume=[_vol(i) for i in range(1, 6)]
    )
    result = sync_storage(db, manager, sid)
    assert result.state == "synced", result.error
    assert set(_rows(db, "volume", sid)) == {f"v{i}" for i in range(1, 6)}
    assert _rows(db, "volume", sid)["v3"]["total_capacity"] == 300
    # The first sync writes one "initial load" change per kind, not one per record.
    first = _changes(db, sid)
    assert ("volume", None, "initial_load", {"count": 5}) in first
    assert ("storage_pool", None, "initial_load", {"count": 1}) in first
    assert len(first) == 2
    storage = _storage(db, sid)
    assert storage["sync_status"] == "SYNCED" and storage["sync_state"] == "synced"
    states = _state(db, sid)
    assert states["volume"]["total"] == 5 and states["volume"]["added"] == 5
    assert states["disk"]["status"] == "synced" and states["disk"]["total"] == 0
    # Groups given as a plain list (not Delfin's dict form) report no memberships.
    assert states["storage_host_group"]["status"] == "synced"
    assert states["storage_host_group_host"]["status"] == "not_supported"

    before_ids = {k: v["id"] for k, v in _rows(db, "volume", sid).items()}
    before_updated = {k: v["updated_at"] for k, v in _rows(db, "volume", sid).items()}
    mark = _max_change(db)
    script["volume"] = [
        _vol(1),
        _vol(2, name="renamed"),  # changed
        _vol(3, used_capacity=35, free_capacity=265),  # volatile fields only
        _vol(5),
        _vol(6),  # added; v4 removed
    ]
    result = sync_storage(db, manager, sid)
    assert result.state == "synced"
    rows = _rows(db, "volume", sid)
    assert set(rows) == {"v1", "v2", "v3", "v5", "v6"}
    assert rows["v2"]["name"] == "renamed" and rows["v3"]["used_capacity"] == 35
    assert rows["v1"]["id"] == before_ids["v1"]  # ids are stable across syncs
    assert rows["v1"]["updated_at"] == before_updated["v1"]  # unchanged rows not rewritten
    assert rows["v2"]["updated_at"] is not None
    changes = _changes(db, sid, after=mark)
    assert sorted((c[1], c[2]) for c in changes) == [
        ("v2", "changed"),
        ("v4", "removed"),
        ("v6", "added"),
    ]
    assert ("volume", "v2", "changed", {"name": ["vol-2", "renamed"]}) in changes
    volume_state = _state(db, sid)["volume"]
    assert (volume_state["added"], volume_state["changed"], volume_state["removed"]) == (1, 2, 1)
    assert volume_state["total"] == 5

    mark = _max_change(db)
    assert sync_storage(db, manager, sid).state == "synced"
    assert _changes(db, sid, after=mark) == []  # nothing changed, nothing written


def test_group_memberships_are_diffed_not_rewritten(db, manager) -> None:
    groups = {
        "storage_host_groups": [{"name": "g1", "native_storage_host_group_id": "g1"}],
        "storage_host_grp_host_rels": [
            {"native_storage_host_group_id": "g1", "native_storage_host_id": "h1"},
            {"native_storage_host_group_id": "g1", "native_storage_host_id": "h2"},
        ],
    }
    hosts = [
        {"name": h, "native_storage_host_id": h, "status": "Normal", "os_type": "linux"}
        for h in ("h1", "h2", "h3")
    ]
    script, sid = _register(manager, "groups", storage_host=hosts, storage_host_group=groups)
    assert sync_storage(db, manager, sid).state == "synced"
    rels = _rows(db, "storage_host_group_host", sid)
    assert set(rels) == {"g1/h1", "g1/h2"}
    assert _rows(db, "storage_host", sid)["h1"]["os_type"] == "Linux"  # canonical spelling
    kept_id = rels["g1/h1"]["id"]
    mark = _max_change(db)
    script["storage_host_group"] = {
        "storage_host_groups": groups["storage_host_groups"],
        "storage_host_grp_host_rels": [
            {"native_storage_host_group_id": "g1", "native_storage_host_id": "h1"},
            {"native_storage_host_group_id": "g1", "native_storage_host_id": "h3"},
        ],
    }
    assert sync_storage(db, manager, sid).state == "synced"
    rels = _rows(db, "storage_host_group_host", sid)
    assert set(rels) == {"g1/h1", "g1/h3"}
    assert rels["g1/h1"]["id"] == kept_id
    assert sorted(c[1:3] for c in _changes(db, sid, after=mark)) == [
        ("g1/h2", "removed"),
        ("g1/h3", "added"),
    ]


def test_a_failing_kind_keeps_its_inventory_and_the_others_sync(db, manager) -> None:
    script, sid = _register(
        manager, "fault", storage_pool=[POOL], volume=[_vol(1), _vol(2)]
    )
    assert sync_storage(db, manager, sid).state == "synced"
    script["volume"] = [_vol(1)]
    script["storage_pool"] = [POOL | {"name": "pool-renamed"}]
    script["fail"]["list_volumes"] = exception.StorageBackendException("volume API down")
    result = sync_storage(db, manager, sid)
    assert result.state == "failed"
    assert result.failed_kinds == ["volume"]
    assert "volume API down" in result.error
    assert set(_rows(db, "volume", sid)) == {"v1", "v2"}  # previous inventory intact
    assert _rows(db, "storage_pool", sid)["p1"]["name"] == "pool-renamed"
    state = _state(db, sid)["volume"]
    assert state["status"] == "failed" and "volume API down" in state["last_error"]
    assert state["last_success_at"] is not None and state["total"] == 2
    storage = _storage(db, sid)
    assert storage["sync_state"] == "failed" and storage["sync_status"] == "SYNCED"
    assert "volume API down" in storage["sync_error"]

    del script["fail"]["list_volumes"]
    assert sync_storage(db, manager, sid).state == "synced"
    assert set(_rows(db, "volume", sid)) == {"v1"}
    assert _storage(db, sid)["sync_error"] is None


def test_duplicate_native_ids_fail_the_kind_naming_them(db, manager) -> None:
    script, sid = _register(manager, "dups", volume=[_vol(1)])
    assert sync_storage(db, manager, sid).state == "synced"
    script["volume"] = [_vol(1), _vol(2), _vol(2), _vol(3), _vol(3), _vol(3)]
    result = sync_storage(db, manager, sid)
    error = result.kinds["volume"].error
    assert "duplicate native ids" in error and "'v2' (2x)" in error and "'v3' (3x)" in error
    assert set(_rows(db, "volume", sid)) == {"v1"}


def test_rejected_records_are_counted_and_their_rows_kept(db, manager) -> None:
    script, sid = _register(manager, "rejects", volume=[_vol(1), _vol(2)])
    assert sync_storage(db, manager, sid).state == "synced"
    script["volume"] = [
        _vol(1, total_capacity="12GB"),  # uncoercible: rejected, its stored row kept
        _vol(3, native_volume_id=None),  # no native id: rejected
        _vol(2, status="Exploded"),  # unknown enum: stored as given, with a warning
    ]
    result = sync_storage(db, manager, sid)
    volume = result.kinds["volume"]
    assert volume.status == "synced" and volume.rejected == 2
    assert any("'v1': total_capacity must be an integer >= 0" in w for w in volume.sample_warnings)
    assert any("native_volume_id is missing" in w for w in volume.sample_warnings)
    rows = _rows(db, "volume", sid)
    assert set(rows) == {"v1", "v2"}
    assert rows["v1"]["total_capacity"] == 100 and rows["v2"]["status"] == "Exploded"
    assert _state(db, sid)["volume"]["rejected"] == 2


def test_dangling_references_are_warnings(db, manager) -> None:
    volumes = [_vol(1), _vol(2, native_storage_pool_id="p9")]
    _, sid = _register(manager, "dangling", storage_pool=[POOL], volume=volumes)
    result = sync_storage(db, manager, sid)
    assert result.state == "synced"
    warnings = _state(db, sid)["volume"]["sample_warnings"]
    assert any("native_storage_pool_id" in w and "'p9'" in w for w in warnings)


def test_a_hung_kind_times_out_and_a_second_sync_is_refused(db, manager) -> None:
    script, sid = _register(manager, "hang", volume=[_vol(1)])
    assert sync_storage(db, manager, sid).state == "synced"
    script["volume"] = [_vol(1), _vol(2)]
    script["hang"]["list_volumes"] = 3.0
    manager.call_timeout_s = 1.0
    results = {}
    runner = threading.Thread(
        target=lambda: results.setdefault("r", sync_storage(db, manager, sid))
    )
    runner.start()
    time.sleep(0.3)
    with pytest.raises(AlreadySyncing):
        sync_storage(db, manager, sid)
    assert _storage(db, sid)["sync_state"] == "syncing"
    runner.join()
    result = results["r"]
    assert result.kinds["volume"].status == "failed"
    assert "timeout" in result.kinds["volume"].error
    assert set(_rows(db, "volume", sid)) == {"v1"}
    assert _storage(db, sid)["sync_state"] == "failed"


def test_unreachable_array_fails_the_sync_with_its_reason(db, manager) -> None:
    script, sid = _register(manager, "down", volume=[_vol(1)])
    assert sync_storage(db, manager, sid).state == "synced"
    script["fail"]["get_storage"] = exception.InvalidIpOrPort()
    result = sync_storage(db, manager, sid)
    assert result.state == "failed" and result.error.startswith("unreachable")
    storage = _storage(db, sid)
    assert storage["sync_state"] == "failed" and storage["sync_status"] == "SYNCED"
    assert set(_rows(db, "volume", sid)) == {"v1"}
