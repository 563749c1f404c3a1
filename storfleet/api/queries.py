"""Read queries behind the list and detail endpoints (no HTTP here).

Pages after a marker use keyset pagination: the marker row's sort values bound the next
page, so a page deep in a million rows costs what the first page costs. The region "after
the marker" is split into segments that are each one index range (no OR, which SQLite
cannot walk an index with), read in order until the page is full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa

from storfleet.api.errors import ApiError
from storfleet.api.params import ListQuery
from storfleet.jobs.leases import holder, lease_name
from storfleet.jobs.schedule import SYNC
from storfleet.resources import GROUP_RELATIONS, KINDS, STORAGE, Kind
from storfleet.store.schema import access_info, job, storage, table_for
from storfleet.store.types import UTCDateTime


@dataclass
class Page:
    rows: list[sa.Row]
    total: int


def hidden_storages(conn: sa.Connection) -> list[str]:
    """Storages being removed: their records disappear in batches and are not listed."""
    return list(conn.execute(sa.select(storage.c.id).where(storage.c.deleting.is_(True))).scalars())


def visible_storage(conn: sa.Connection, storage_id: str) -> sa.Row | None:
    return conn.execute(
        sa.select(storage).where(storage.c.id == storage_id, storage.c.deleting.is_(False))
    ).first()


def _scope(conn: sa.Connection, kind: Kind, table: sa.Table) -> list[sa.ColumnElement]:
    if kind is STORAGE:
        return [table.c.deleting.is_(False)]
    hidden = hidden_storages(conn)
    return [table.c.storage_id.not_in(hidden)] if hidden else []


def _filters(table: sa.Table, filters: dict[str, list[Any]]) -> list[sa.ColumnElement]:
    clauses = []
    for name, values in filters.items():
        column = table.c[name]
        clauses.append(column == values[0] if len(values) == 1 else column.in_(values))
    return clauses


@cache
def columns_of(kind: Kind) -> tuple[sa.ColumnElement, ...]:
    """What a body is made of: every column but the sync's fingerprint. Timestamps are
    read as naive UTC: a page renders 2000 of them, and the time-zone round trip of the
    UTC column type cost more than the query."""
    return tuple(
        sa.type_coerce(c, sa.DateTime()).label(c.name) if isinstance(c.type, UTCDateTime) else c
        for c in table_for(kind).columns
        if c.name != "fingerprint"
    )


@cache
def column_names(kind: Kind) -> tuple[str, ...]:
    return tuple(str(c.name) for c in columns_of(kind))


def fetch_page(
    conn: sa.Connection,
    kind: Kind,
    query: ListQuery,
    where: Sequence[sa.ColumnElement] = (),
) -> Page:
    table = table_for(kind)
    clauses = [*_scope(conn, kind, table), *where, *_filters(table, query.filters)]
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*clauses)).scalar()
    if query.limit == 0:
        return Page([], total)
    order = [(table.c[key], desc) for key, desc in query.sort]
    ordering = [col.desc() if desc else col.asc() for col, desc in order]
    select = sa.select(*columns_of(kind)).where(*clauses).order_by(*ordering)
    if query.marker is None:
        rows = conn.execute(select.offset(query.offset).limit(query.limit)).all()
        return Page(rows, total)
    marker = conn.execute(
        sa.select(*(col for col, _ in order)).where(table.c.id == query.marker)
    ).first()
    if marker is None:
        raise ApiError(
            404,
            "MarkerNotFound",
            f"marker {query.marker} is not an item of this list",
            query.marker,
        )
    wanted = query.offset + query.limit
    rows: list[sa.Row] = []
    nulls_smallest = conn.dialect.name == "sqlite"
    for segment in after_marker(order, list(marker), nulls_smallest):
        if len(rows) >= wanted:
            break
        rows.extend(conn.execute(select.where(segment).limit(wanted - len(rows))).all())
    return Page(rows[query.offset :], total)


def after_marker(
    order: Sequence[tuple[sa.ColumnElement, bool]],
    values: Sequence[Any],
    nulls_smallest: bool,
) -> list[sa.ColumnElement]:
    """Disjoint conditions covering, in this order, every row sorted after the marker.

    NULLs sort as the database sorts them (smallest on SQLite, largest on PostgreSQL), so
    the ORDER BY stays one its indexes serve.
    """
    column, desc = order[0]
    value = values[0]
    segments: list[sa.ColumnElement] = []
    if len(order) == 2 and value is not None and order[1][1] == desc:
        # The common case (one key and the id tie-break): one row-value range.
        tail, tail_value = order[1][0], values[1]
        pair = sa.tuple_(column, tail)
        bound = sa.tuple_(sa.literal(value, column.type), sa.literal(tail_value, tail.type))
        segments.append(pair < bound if desc else pair > bound)
    else:
        if len(order) > 1:
            same = column.is_(None) if value is None else column == value
            segments.extend(
                sa.and_(same, rest) for rest in after_marker(order[1:], values[1:], nulls_smallest)
            )
        if value is not None:
            segments.append(column < value if desc else column > value)
    nulls_after = nulls_smallest == desc  # where NULLs fall in this direction
    if value is not None and nulls_after:
        segments.append(column.is_(None))
    elif value is None and not nulls_after:
        segments.append(column.is_not(None))
    return segments


def fetch_one(conn: sa.Connection, kind: Kind, ident: str) -> sa.Row | None:
    table = table_for(kind)
    row = conn.execute(sa.select(*columns_of(kind)).where(table.c.id == ident)).first()
    if row is None or (kind is not STORAGE and row.storage_id in hidden_storages(conn)):
        return None
    return row


# -- member lists of groups and hosts ---------------------------------------------------
@dataclass(frozen=True)
class MemberList:
    """A list a body carries from another table: a group's members, a host's initiators."""

    key: str  # body key: "storage_hosts"
    source: Kind  # table holding one row per member
    owner_field: str  # column naming the owner's native id
    member_field: str  # column naming the member's native id


def _member_lists() -> dict[str, MemberList]:
    lists = {}
    for group_name, relation in GROUP_RELATIONS.items():
        owner_field, member_field = relation.key
        member_kind = KINDS[relation.field_map[member_field].ref]
        lists[group_name] = MemberList(member_kind.collection, relation, owner_field, member_field)
    initiator = KINDS["storage_host_initiator"]
    lists["storage_host"] = MemberList(
        initiator.collection, initiator, "native_storage_host_id", initiator.native_id
    )
    return lists


MEMBER_LISTS = _member_lists()


def members(conn: sa.Connection, kind: Kind, rows: Sequence[sa.Row]) -> dict[tuple, list[str]]:
    """(storage_id, owner native id) -> member native ids, for the rows of one page."""
    spec = MEMBER_LISTS.get(kind.name)
    if spec is None or not rows:
        return {}
    table = table_for(spec.source)
    owner, member = table.c[spec.owner_field], table.c[spec.member_field]
    storages = sorted({r.storage_id for r in rows})
    owners = sorted({r._mapping[kind.native_id] for r in rows})
    found: dict[tuple, list[str]] = defaultdict(list)
    result = conn.execute(
        sa.select(table.c.storage_id, owner, member)
        .where(table.c.storage_id.in_(storages), owner.in_(owners))
        .order_by(table.c.storage_id, owner, member)
    )
    for storage_id, owner_id, member_id in result:
        found[(storage_id, owner_id)].append(member_id)
    return found


# -- storages: access info, sync state ------------------------------------------------------
def access_infos(conn: sa.Connection, storage_id: str | None = None) -> list[dict[str, Any]]:
    """Public access infos (no secret column is even read), with their storage's name."""
    columns = [c for c in access_info.columns if c.name not in ("secret", "version")]
    query = (
        sa.select(*columns, storage.c.name.label("storage_name"))
        .join(storage, storage.c.id == access_info.c.storage_id)
        .where(storage.c.deleting.is_(False))
        .order_by(access_info.c.created_at.desc(), access_info.c.storage_id.desc())
    )
    if storage_id is not None:
        query = query.where(access_info.c.storage_id == storage_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def sync_job(conn: sa.Connection, storage_id: str) -> sa.Row | None:
    return conn.execute(
        sa.select(job).where(job.c.storage_id == storage_id, job.c.kind == SYNC)
    ).first()


def sync_running(conn: sa.Connection, storage_id: str) -> bool:
    return holder(conn, lease_name("sync", storage_id)) is not None
