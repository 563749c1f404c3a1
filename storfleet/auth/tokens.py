"""API tokens: ``sft_<id>_<secret>``, of which only sha256(secret) is stored.

The secret is 256 random bits, so a plain hash is enough (no password-style stretching
needed) and verifying costs one primary-key read. The id is public (it appears in
``tokens list`` and the audit log); the secret is shown once, when the token is created,
and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storfleet.auth.roles import Principal, Role
from storfleet.store import write
from storfleet.store.schema import api_token
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

PREFIX = "sft_"
ADMIN_TOKEN_FILE = "admin-token"
# last_used_at is a convenience for `tokens list`: written at most this often per token,
# so reads stay reads (SQLite has one writer).
LAST_USED_EVERY_S = 60.0


class TokenError(ValueError):
    """A token operation an operator asked for cannot be done (unknown id, bad role)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(token: str) -> tuple[str, str] | None:
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not token_id or not secret or len(token_id) > 32:
        return None
    return token_id, secret


def create_token(
    engine: sa.Engine, role: Role | str, name: str, *, created_by: str | None = None
) -> tuple[str, str]:
    """Create a token; returns (id, token). The token is not stored anywhere."""
    try:
        role = Role(role)
    except ValueError:
        raise TokenError(f"unknown role {role!r} (roles: admin, reader)") from None
    with write(engine) as conn:
        return _insert(conn, role, name, created_by)


def _insert(conn: sa.Connection, role: Role, name: str, created_by: str | None):
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_token).values(
            id=token_id,
            name=name,
            role=role.value,
            secret_hash=_hash(secret),
            created_at=utcnow(),
            created_by=created_by,
        )
    )
    return token_id, f"{PREFIX}{token_id}_{secret}"


def revoke_token(engine: sa.Engine, token_id: str) -> None:
    with write(engine) as conn:
        found = conn.execute(
            sa.update(api_token)
            .where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
    if not found:
        raise TokenError(f"no active token with id {token_id!r} (see `storfleet tokens list`)")


def list_tokens(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every token, without its hash."""
    columns = [c for c in api_token.c if c.name != "secret_hash"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(api_token.c.created_at, api_token.c.id))
        return [dict(r._mapping) for r in rows]


class Verifier:
    """Checks bearer tokens against the store, touching last_used_at now and then."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal | None:
        parsed = _parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_token.c.name, api_token.c.role, api_token.c.secret_hash).where(
                    api_token.c.id == token_id, api_token.c.revoked_at.is_(None)
                )
            ).first()
        # Compare even when the id is unknown, so timing tells nothing about which ids exist.
        expected = row.secret_hash if row is not None else "0" * 64
        if not hmac.compare_digest(_hash(secret), expected) or row is None:
            return None
        self._touch(token_id)
        return Principal(token_id, row.name, Role(row.role))

    def _touch(self, token_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(token_id, -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
                return
            self._touched[token_id] = now
        try:
            with write(self.engine) as conn:
                conn.execute(
                    sa.update(api_token)
                    .where(api_token.c.id == token_id)
                    .values(last_used_at=utcnow())
                )
        except sa.exc.OperationalError:  # busy database: the timestamp can wait
            log.debug("could not record the use of token %s", token_id, exc_info=True)


def verify(engine: sa.Engine, token: str) -> Principal | None:
    """One-off verification (the API keeps a Verifier)."""
    return Verifier(engine).verify(token)


def bootstrap_admin_token(engine: sa.Engine, data_dir: Path) -> Path | None:
    """At the first start (no token ever created) make an admin token and write it to
    ``<data_dir>/admin-token`` (mode 0600). Returns the file written, or None.

    The check and the insert share one write transaction (on PostgreSQL the table is
    locked), so two nodes starting together create one token, not two.
    """
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE api_token IN SHARE ROW EXCLUSIVE MODE")
        if conn.execute(sa.select(api_token.c.id).limit(1)).first() is not None:
            return None
        token_id, token = _insert(conn, Role.ADMIN, "initial admin", "first start")
        path = write_token_file(data_dir / ADMIN_TOKEN_FILE, token)
    log.warning(
        "created the initial admin token %s; it is in %s (readable by this user only)",
        token_id,
        path,
    )
    return path


def write_token_file(path: Path, token: str) -> Path:
    """Write a token to a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
