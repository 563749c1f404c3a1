"""Sync against the fake array: after churn the store equals the array, kind by kind and
field by field, and the change feed lists exactly what churned."""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.drivers.fake import FakeArray
from storfleet.fleet.registration import register_storage, update_access_info
from storfleet.resources import GROUP_RELATIONS, INVENTORY_KINDS, KINDS, KindValidator
from storfleet.store import schema
from storfleet.sync import sync_storage

COUNTS = {
    "volumes": 1500,
    "storage_pools": 12,
    "disks": 60,
    "ports": 24,
    "controllers": 4,
    "storage_hosts": 40,
    "storage_host_initiators": 80,
    "storage_host_groups": 8,
    "port_groups": 6,
    "volume_groups": 10,
    "masking_views": 30,
    "filesystems": 10,
    "qtrees": 20,
    "quotas": 20,
    "shares": 20,
}


def _extra(generation: int) -> dict:
    return {"seed": 42, "counts": COUNTS, "churn": 0.3, "generation": generation}


def _register(manager) -> str:
    body = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "admin", "password": "pw"},
        "extra_attributes": _extra(0),
    }
    return register_storage(manager, body)["id"]


def _expected(array: FakeArray, generation: int, storage_id: str) -> dict[str, dict]:
    """What the store must hold: the array's records, validated, by kind and key."""
    expected: dict[str, dict] = {}
    for kind in INVENTORY_KINDS:
        validator = KindValidator(kind)
        source = kind.relation_key if kind.relation else kind.name
        records = array.records(source, generation, storage_id)
        rows = {}
        for record in records:
            clean = validator.validate(record).record
            rows["/".join(clean[k] for k in kind.key)] = clean
        expected[kind.name] = rows
    return expected


def _stored(db, storage_id: str) -> dict[str, dict]:
    stored: dict[str, dict] = {}
    with db.engine.connect() as conn:
        for kind in INVENTORY_KINDS:
            table = schema.inventory[kind.name]
            rows = conn.execute(sa.select(table).where(table.c.storage_id == storage_id))
            stored[kind.name] = {
                "/".join(r._mapping[k] for k in kind.key): {
                    name: r._mapping[name] for name in kind.field_names
                }
                for r in rows
            }
    return stored


def _feed(db, storage_id: str, after: int) -> dict[str, set[tuple[str, str]]]:
    feed: dict[str, set[tuple[str, str]]] = {}
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.change)
            .where(schema.change.c.storage_id == storage_id, schema.change.c.id > after)
            .order_by(schema.change.c.id)
        )
        for r in rows:
            feed.setdefault(r.kind, set()).add((r.native_id, r.op))
    return feed


def test_store_equals_the_array_after_churn_and_the_feed_lists_the_churn(db, manager):
    storage_id = _register(manager)
    array0, array1 = FakeArray(_extra(0)), FakeArray(_extra(1))
    first = sync_storage(db, manager, storage_id)
    assert first.state == "synced", first.error
    assert _stored(db, storage_id) == _expected(array0, 0, storage_id)
    with db.engine.connect() as conn:
        mark = conn.execute(sa.select(sa.func.max(schema.change.c.id))).scalar_one()

    update_access_info(manager, storage_id, {"extra_attributes": {"generation": 1}})
    second = sync_storage(db, manager, storage_id)
    assert second.state == "synced", second.error
    stored, expected = _stored(db, storage_id), _expected(array1, 1, storage_id)
    for kind in INVENTORY_KINDS:
        assert stored[kind.name] == expected[kind.name], kind.name  # every field

    feed = _feed(db, storage_id, mark)
    churned_kinds = 0
    for kind in INVENTORY_KINDS:
        source = kind.relation_key if kind.relation else kind.name
        diff = array0.diff(source, 0, 1)
        as_text = (lambda key: "/".join(key)) if kind.relation else (lambda key: key)
        want = {(as_text(k), "added") for k in diff.added}
        want |= {(as_text(k), "removed") for k in diff.removed}
        want |= {(as_text(k), "changed") for k in diff.changed}
        assert feed.get(kind.name, set()) == want, kind.name
        outcome = second.kinds[kind.name]
        assert (outcome.added, outcome.removed) == (len(diff.added), len(diff.removed))
        churned_kinds += bool(diff)
    assert churned_kinds >= 10  # the churn really touched most kinds


def test_an_unchanged_resync_writes_nothing(db, manager) -> None:
    storage_id = _register(manager)
    assert sync_storage(db, manager, storage_id).state == "synced"
    with db.engine.connect() as conn:
        mark = conn.execute(sa.select(sa.func.max(schema.change.c.id))).scalar_one()
        updated = conn.execute(
            sa.select(sa.func.count()).select_from(schema.inventory["volume"])
            .where(schema.inventory["volume"].c.updated_at.is_not(None))
        ).scalar_one()
    again = sync_storage(db, manager, storage_id)
    assert all(o.added == o.changed == o.removed == 0 for o in again.kinds.values())
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.max(schema.change.c.id))).scalar_one() == mark
        assert conn.execute(
            sa.select(sa.func.count()).select_from(schema.inventory["volume"])
            .where(schema.inventory["volume"].c.updated_at.is_not(None))
        ).scalar_one() == updated


def test_memberships_from_the_group_methods(db, manager) -> None:
    storage_id = _register(manager)
    result = sync_storage(db, manager, storage_id)
    for group, relation in GROUP_RELATIONS.items():
        assert result.kinds[group].status == "synced"
        assert result.kinds[relation.name].status == "synced"
        assert result.kinds[relation.name].total > 0, relation.name
    assert KINDS["masking_view"].name in result.kinds
