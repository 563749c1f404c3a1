"""Per-storage and per-kind sync state (what the API's sync-state endpoint serves)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storfleet.store.schema import storage, sync_state

_UPSERTS: dict[tuple[str, tuple[str, ...]], sa.Insert] = {}


def _upsert(dialect: str, columns: tuple[str, ...]) -> sa.Insert:
    """The upsert of these columns, built once (every kind of every sync writes one)."""
    key = (dialect, columns)
    statement = _UPSERTS.get(key)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        base = insert(sync_state)
        statement = _UPSERTS[key] = base.on_conflict_do_update(
            index_elements=[sync_state.c.storage_id, sync_state.c.kind],
            set_={c: base.excluded[c] for c in columns if c not in ("storage_id", "kind")},
        )
    return statement


def upsert_kind_state(conn: sa.Connection, values: dict[str, Any]) -> None:
    conn.execute(_upsert(conn.dialect.name, tuple(sorted(values))), values)


def kind_states(conn: sa.Connection, storage_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(sync_state).where(sync_state.c.storage_id == storage_id).order_by(
            sync_state.c.kind
        )
    )
    return [dict(r._mapping) for r in rows]


def successful_kinds(conn: sa.Connection, storage_id: str) -> set[str]:
    return set(
        conn.execute(
            sa.select(sync_state.c.kind).where(
                sync_state.c.storage_id == storage_id, sync_state.c.last_success_at.is_not(None)
            )
        ).scalars()
    )


def set_storage_state(conn: sa.Connection, storage_id: str, **values: Any) -> None:
    conn.execute(sa.update(storage).where(storage.c.id == storage_id).values(**values))
