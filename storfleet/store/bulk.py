"""Bulk inserts at driver speed.

SQLAlchemy's executemany path builds and processes a parameter dict per row; for the
hundreds of thousands of rows of a sync that overhead dominates. These helpers take rows as
tuples and hand them to the DBAPI directly: ``executemany`` on SQLite, ``COPY`` on
PostgreSQL (psycopg 3), applying each column's bind processor (UTC datetimes, JSON) the
same way SQLAlchemy would, so the stored bytes are identical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa


def _processors(conn: sa.Connection, columns: Sequence[sa.Column]) -> list[Callable | None]:
    dialect = conn.dialect
    return [col.type._cached_bind_processor(dialect) for col in columns]


def _processed(rows: Sequence[tuple], processors: list[Callable | None]) -> list[tuple]:
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not active:
        return list(rows)
    out = []
    # Rows of a batch often share a value object (one "now" for created_at): process it once.
    memo: dict[int, tuple[Any, Any]] = {}
    for row in rows:
        values = list(row)
        for i, process in active:
            value = values[i]
            if value is None:
                continue
            cached = memo.get(i)
            if cached is not None and cached[0] is value:
                values[i] = cached[1]
                continue
            result = process(value)
            memo[i] = (value, result)
            values[i] = result
        out.append(tuple(values))
    return out


def db_value(conn: sa.Connection, column: sa.Column, value: Any) -> Any:
    """``value`` as the DBAPI receives it for ``column`` (e.g. a UTC datetime's text on
    SQLite): lets a caller convert a value shared by many rows once."""
    process = column.type._cached_bind_processor(conn.dialect)
    return value if process is None or value is None else process(value)


def insert_rows(
    conn: sa.Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Sequence[tuple],
    *,
    converted: bool = False,
) -> None:
    """Insert ``rows`` (tuples ordered as ``names``) into ``table`` on ``conn``.

    ``converted`` says every value is already as the DBAPI receives it (see db_value), so
    no per-row processing is needed.
    """
    if not rows:
        return
    columns = [table.c[name] for name in names]
    data = rows if converted else _processed(rows, _processors(conn, columns))
    preparer = conn.dialect.identifier_preparer
    target = preparer.format_table(table)
    column_list = ", ".join(preparer.format_column(c) for c in columns)
    dbapi_conn = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        copy_sql = f"COPY {target} ({column_list}) FROM STDIN"
        with dbapi_conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in data:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor = dbapi_conn.cursor()
    try:
        cursor.executemany(f"INSERT INTO {target} ({column_list}) VALUES ({placeholders})", data)
    finally:
        cursor.close()


_COMPILED: dict[tuple[int, str], tuple[str, tuple[str, ...] | None]] = {}


def fetch_tuples(
    conn: sa.Connection, statement: sa.Select, params: dict[str, Any] | None = None
) -> list[tuple]:
    """Run a SELECT on the DBAPI cursor and return plain tuples.

    For reads of whole kinds (a sync's existing native ids and fingerprints): SQLAlchemy's
    Row machinery costs more than the query itself at hundreds of thousands of rows. Only
    for columns whose types need no result processing (strings, integers). ``statement``
    should be long-lived with ``bindparam``s for ``params``: it is compiled once per
    dialect.
    """
    key = (id(statement), conn.dialect.name)
    cached = _COMPILED.get(key)
    if cached is None:
        compiled = statement.compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        cached = _COMPILED[key] = (str(compiled), order)
        _KEEP.append(statement)  # the id stays unique while the statement lives
    sql, order = cached
    values = dict(params or {})
    bound: Any = tuple(values[name] for name in order) if order is not None else values
    if not conn.in_transaction():
        conn.begin()
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, bound)
        return cursor.fetchall()
    finally:
        cursor.close()


_KEEP: list[sa.Select] = []
