"""Leases in the database: who runs a job on a storage, until when.

Acquiring is one atomic upsert that succeeds only when the lease is free or expired, on
SQLite and PostgreSQL alike. A holder renews it while working; a holder that died stops
renewing and the lease expires, so nothing stays "running" forever. Writes that must only
happen under the lease (a sync's final swap) check it in the same transaction (a fence).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storfleet.store import write
from storfleet.store.schema import lease
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)


# After a failed renewal (database restarting, connection dropped), try again this soon:
# the lease's remaining two thirds must not pass in one more wait.
RENEW_RETRY_S = 1.0


class LeaseLost(RuntimeError):
    """The lease expired or was taken over: the holder must not write its results."""


def new_owner(role: str = "worker") -> str:
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_name(job: str, storage_id: str) -> str:
    return f"{job}:{storage_id}"


def _insert(dialect: str):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(lease)


def try_acquire(engine: sa.Engine, name: str, owner: str, duration_s: float) -> bool:
    """Take the lease if it is free or expired (or already ours); True on success."""
    now = utcnow()
    values = {
        "name": name,
        "owner": owner,
        "acquired_at": now,
        "expires_at": now + timedelta(seconds=duration_s),
    }
    stmt = _insert(engine.dialect.name).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[lease.c.name],
        set_={"owner": owner, "acquired_at": now, "expires_at": values["expires_at"]},
        where=sa.or_(lease.c.expires_at < now, lease.c.owner == owner),
    )
    with write(engine) as conn:
        conn.execute(stmt)
        holder = conn.execute(sa.select(lease.c.owner).where(lease.c.name == name)).scalar()
    return holder == owner


def renew(engine: sa.Engine, name: str, owner: str, duration_s: float) -> bool:
    with write(engine) as conn:
        return _renew(conn, name, owner, duration_s)


_RENEW = (
    sa.update(lease)
    .where(
        lease.c.name == sa.bindparam("lease_name"),
        lease.c.owner == sa.bindparam("lease_owner"),
        lease.c.expires_at >= sa.bindparam("now", type_=lease.c.expires_at.type),
    )
    .values(expires_at=sa.bindparam("until", type_=lease.c.expires_at.type))
)


def _renew(conn: sa.Connection, name: str, owner: str, duration_s: float) -> bool:
    now = utcnow()
    result = conn.execute(
        _RENEW,
        {
            "lease_name": name,
            "lease_owner": owner,
            "now": now,
            "until": now + timedelta(seconds=duration_s),
        },
    )
    return result.rowcount == 1


def fence(conn: sa.Connection, name: str, owner: str, duration_s: float) -> None:
    """Inside a write transaction: prove the lease is still ours, or raise LeaseLost."""
    if not _renew(conn, name, owner, duration_s):
        raise LeaseLost(f"lease {name} is no longer held by {owner}")


def release(engine: sa.Engine, name: str, owner: str) -> None:
    with write(engine) as conn:
        conn.execute(sa.delete(lease).where(lease.c.name == name, lease.c.owner == owner))


def hand_over(
    engine: sa.Engine, name: str, from_owner: str, to_owner: str, duration_s: float
) -> bool:
    """Take over a lease from its holder (a queued job's marker, taken by the worker that
    got the message); False when someone else holds it or it is gone.

    An expired marker still held by ``from_owner`` is taken too: nobody queued the job
    again since (that would have replaced the owner), so this message is still the
    current one and running it is what the marker was waiting for."""
    now = utcnow()
    with write(engine) as conn:
        result = conn.execute(
            sa.update(lease)
            .where(lease.c.name == name, lease.c.owner == from_owner)
            .values(owner=to_owner, acquired_at=now, expires_at=now + timedelta(seconds=duration_s))
        )
        return result.rowcount == 1


def extend(engine: sa.Engine, held: list[tuple[str, str]], duration_s: float) -> None:
    """Push the expiry of leases still held by their owners (``(name, owner)`` pairs) to
    ``duration_s`` from now, in one transaction; a pair whose lease changed hands is left."""
    if not held:
        return
    until = utcnow() + timedelta(seconds=duration_s)
    stmt = (
        sa.update(lease)
        .where(lease.c.name == sa.bindparam("lease_name"),
               lease.c.owner == sa.bindparam("lease_owner"))
        .values(expires_at=until)
    )
    with write(engine) as conn:
        conn.execute(stmt, [{"lease_name": n, "lease_owner": o} for n, o in held])


def holder(conn: sa.Connection, name: str) -> str | None:
    """The live holder of a lease, or None when it is free or expired."""
    return conn.execute(
        sa.select(lease.c.owner).where(lease.c.name == name, lease.c.expires_at >= utcnow())
    ).scalar_one_or_none()


class Lease:
    """A held lease, renewed in the background every third of its duration.

    ``release=False`` leaves the lease held at exit: its caller took it before and releases
    it once the run is recorded (a distributed worker: the lease is what tells the scheduler
    the job is not due again)."""

    def __init__(
        self, engine: sa.Engine, name: str, owner: str, duration_s: float, release: bool = True
    ) -> None:
        self.engine, self.name, self.owner, self.duration_s = engine, name, owner, duration_s
        self.release = release
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(
            target=self._keep, name=f"lease:{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.release:
            release(self.engine, self.name, self.owner)

    def _keep(self) -> None:
        every = self.duration_s / 3
        wait = every
        while not self._stop.wait(wait):
            try:
                if not renew(self.engine, self.name, self.owner, self.duration_s):
                    log.warning("lease %s lost by %s", self.name, self.owner)
                    self.lost.set()
                    return
                wait = every
            except Exception:  # a transient database error: try again soon, not a period on
                log.warning("renewing lease %s failed", self.name, exc_info=True)
                wait = min(every, RENEW_RETRY_S)

    def fence(self, conn: sa.Connection) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"lease {self.name} was lost")
        fence(conn, self.name, self.owner, self.duration_s)
