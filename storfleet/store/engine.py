"""Engine and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; NORMAL sync is durable in WAL mode
    # except for the last transactions on power loss, the usual trade for a local store.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # 64 MiB of page cache (the default is 2 MiB): a sync updates several indexes of a
    # large table at once, and a small cache turns that into disk reads.
    cursor.execute("PRAGMA cache_size=-65536")
    # temp_store stays FILE (the default): a sync stages a whole kind in temporary tables
    # before its swap, and a million staged volumes would otherwise sit in memory.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # pysqlite's own BEGIN handling is off (isolation_level=None below) so storfleet decides:
    # a writer takes the write lock at BEGIN (``write()`` below) and so waits on
    # busy_timeout, instead of failing with "database is locked" when a read transaction
    # tries to upgrade under WAL. Readers use a plain deferred BEGIN and never block.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str, **kwargs) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A connection is a file handle here: let every sync thread, job and request have
        # its own rather than queue for one (SQLite itself admits one writer at a time).
        kwargs.setdefault("pool_size", 16)
        kwargs.setdefault("max_overflow", 64)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        engine.__dict__["_storfleet_writers"] = _WriterQueue()
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver storfleet ships with.
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 40)
    return sa.create_engine(parsed, **kwargs)


class _WriterQueue:
    """The writers of one SQLite database within this process, queued on a fair lock.

    SQLite admits one writer at a time; a writer that finds the database busy polls it
    with growing sleeps (its busy handler), so under contention most of the time is spent
    sleeping, not writing (a fleet of syncs ran 4x slower). Threads of one process take
    turns here instead; other processes still meet SQLite's own busy timeout.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if not self.lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sa.exc.OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked (writer queue)")
            )


@contextmanager
def immediate(conn: sa.Connection) -> Iterator[sa.Connection]:
    """A write transaction on ``conn``: committed on success, rolled back on error.

    On SQLite it queues behind this process's other writers and takes the write lock up
    front (BEGIN IMMEDIATE); elsewhere it is ``conn.begin()``.
    """
    queue: _WriterQueue | None = conn.engine.__dict__.get("_storfleet_writers")
    if queue is None:
        with conn.begin():
            yield conn
        return
    queue.acquire()
    try:
        conn.execution_options(sqlite_immediate=True)
        try:
            with conn.begin():
                yield conn
        finally:
            conn.execution_options(sqlite_immediate=False)
    finally:
        queue.lock.release()


@contextmanager
def write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction on a connection of its own (see ``immediate``)."""
    with engine.connect() as conn, immediate(conn):
        yield conn


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"
