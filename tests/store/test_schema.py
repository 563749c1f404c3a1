"""The schema derived from the resource model, on real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from storfleet.resources import ALL_KINDS, STORAGE
from storfleet.store import migrate, schema, write
from storfleet.store.types import utcnow


def test_every_kind_has_a_table_with_its_declared_fields(db) -> None:
    inspector = sa.inspect(db.engine)
    tables = set(inspector.get_table_names())
    for kind in ALL_KINDS:
        assert kind.name in tables, kind.name
        columns = {c["name"] for c in inspector.get_columns(kind.name)}
        assert set(kind.field_names) <= columns, kind.name
        if kind is not STORAGE:
            assert {"id", "storage_id", "created_at", "updated_at", "fingerprint"} <= columns
    for framework in ("access_info", "alert_source", "alert", "change", "sync_state"):
        assert framework in tables


def test_upgrade_reaches_head_and_is_idempotent(db) -> None:
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    migrate.upgrade(db.settings.resolved_database_url)
    assert migrate.is_current(db.engine)


def test_model_and_migrations_do_not_drift(db) -> None:
    migrate.check(db.settings.resolved_database_url)


def _volume(storage_id: str, native_id: str, name: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "storage_id": storage_id,
        "created_at": utcnow(),
        "fingerprint": 0,
        "native_volume_id": native_id,
        "name": name,
        "total_capacity": 2**40,
    }


def test_native_id_is_unique_within_a_storage_only(db) -> None:
    with write(db.engine) as conn:
        conn.execute(sa.insert(schema.inventory["volume"]), [_volume("s1", "v1", "a")])
        conn.execute(sa.insert(schema.inventory["volume"]), [_volume("s2", "v1", "a")])
    with pytest.raises(sa.exc.IntegrityError), write(db.engine) as conn:
        conn.execute(sa.insert(schema.inventory["volume"]), [_volume("s1", "v1", "b")])


def test_text_sorts_byte_wise_on_every_database(db) -> None:
    names = ["b", "B", "a", "A", "_x", "Zeta", "zeta", "é", "10", "9", "a b", "ab"]
    with write(db.engine) as conn:
        conn.execute(
            sa.insert(schema.inventory["volume"]),
            [_volume("s1", f"v{i}", n) for i, n in enumerate(names)],
        )
    with db.engine.connect() as conn:
        table = schema.inventory["volume"]
        got = list(conn.execute(sa.select(table.c.name).order_by(table.c.name)).scalars())
    assert got == sorted(names, key=lambda s: s.encode())


def test_capacities_hold_64_bit_integers(db) -> None:
    big = 2**62
    row = _volume("s1", "big", "big") | {"total_capacity": big}
    with write(db.engine) as conn:
        conn.execute(sa.insert(schema.inventory["volume"]), [row])
    with db.engine.connect() as conn:
        table = schema.inventory["volume"]
        value = conn.execute(sa.select(table.c.total_capacity)).scalar_one()
    assert value == big
