"""Secrets at rest: access-info passwords, SNMP community strings and v3 keys.

Encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a keyring
(MultiFernet): the first key encrypts, every key decrypts, so keys can be rotated without
downtime. Where the keys come from, in order:

1. ``STORFLEET_SECRET_KEY``: one key, or several separated by commas (primary first);
2. ``STORFLEET_SECRET_KEY_FILE``: a file with one key per line (primary first);
3. embedded SQLite mode only: ``<data_dir>/secret.key``, created with mode 0600 at first
   start. With PostgreSQL a key is never generated silently: every node must share it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from storfleet.config import Settings

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret.key"


class SecretKeyError(RuntimeError):
    """The keyring is missing, malformed, or does not match the stored secrets."""


class Keyring:
    def __init__(self, keys: Iterable[bytes | str], source: str, path: Path | None = None):
        self.keys = [k.encode() if isinstance(k, str) else k for k in keys]
        if not self.keys:
            raise SecretKeyError(f"no secret key in {source}")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in self.keys])
        except ValueError as exc:
            raise SecretKeyError(
                f"malformed secret key in {source}: each key must be 32 url-safe base64-encoded"
                " bytes (make one with `storfleet secrets generate`)"
            ) from exc
        self.source = source
        self.path = path  # set when the keyring lives in a file storfleet may rewrite

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str, what: str = "a stored secret") -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"cannot decrypt {what}: the secret key ({self.source}) is not the one it was"
                " encrypted with"
            ) from None

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str, what: str = "a stored secret") -> Any:
        return json.loads(self.decrypt(token, what))

    def reencrypt(self, token: str, what: str = "a stored secret") -> str:
        """The same secret encrypted under the primary key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"cannot decrypt {what}: the secret key ({self.source}) is not the one it was"
                " encrypted with"
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _read_key_file(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SecretKeyError(f"cannot read secret key file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _write_key_file(path: Path, keys: list[str]) -> None:
    """Atomically replace the key file, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# storfleet secret keys, primary first. Back this file up.\n")
        handle.write("".join(f"{k}\n" for k in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring:
    """The keyring for these settings; ``create`` allows making the embedded key file."""
    if settings.secret_key:
        keys = [k.strip() for k in settings.secret_key.split(",") if k.strip()]
        return Keyring(keys, "STORFLEET_SECRET_KEY")
    if settings.secret_key_file:
        path = Path(settings.secret_key_file)
        return Keyring(_read_key_file(path), f"STORFLEET_SECRET_KEY_FILE {path}", path)
    if not settings.is_sqlite:
        raise SecretKeyError(
            "no secret key: with PostgreSQL set STORFLEET_SECRET_KEY or STORFLEET_SECRET_KEY_FILE"
            " to the key every node shares (make one with `storfleet secrets generate`)"
        )
    path = settings.data_dir / KEY_FILE_NAME
    if not path.exists():
        if not create:
            raise SecretKeyError(
                f"no secret key file at {path}: start `storfleet serve` once to create it, or set"
                " STORFLEET_SECRET_KEY"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_key_file(path, [generate_key()])
        log.warning(
            "created the secret key file %s: back it up, the stored passwords cannot be "
            "decrypted without it",
            path,
        )
    return Keyring(_read_key_file(path), f"key file {path}", path)


# (table, key column, encrypted column): every encrypted value in the database.
def _secret_columns() -> list[tuple[sa.Table, str, str]]:
    from storfleet.store import schema

    return [
        (schema.access_info, "storage_id", "secret"),
        (schema.alert_source, "storage_id", "secret"),
    ]


def _reencrypt_all(engine: sa.Engine, keyring: Keyring) -> int:
    from storfleet.store.engine import write

    count = 0
    with write(engine) as conn:
        for table, key, column in _secret_columns():
            rows = conn.execute(sa.select(table.c[key], table.c[column])).all()
            for row_key, token in rows:
                new = keyring.reencrypt(token, f"{table.name} of {row_key}")
                conn.execute(
                    sa.update(table).where(table.c[key] == row_key).values({column: new})
                )
                count += 1
    return count


def verify_keyring(engine: sa.Engine, keyring: Keyring) -> None:
    """Fail fast (at start) when the key cannot decrypt what is stored."""
    with engine.connect() as conn:
        for table, key, column in _secret_columns():
            row = conn.execute(sa.select(table.c[key], table.c[column]).limit(1)).first()
            if row is not None:
                keyring.decrypt(row[1], f"{table.name} of {row[0]}")


def rotate(engine: sa.Engine, keyring: Keyring) -> tuple[Keyring, int]:
    """Add a new primary key to the key file and re-encrypt every secret under it."""
    if keyring.path is None:
        raise SecretKeyError(
            "the keys come from STORFLEET_SECRET_KEY, which storfleet cannot rewrite: put"
            " `NEW,OLD` in it (NEW from `storfleet secrets generate`) on every node, then run"
            " `storfleet secrets rotate` again with STORFLEET_SECRET_KEY_FILE, or re-encrypt"
            " with `storfleet secrets reencrypt`"
        )
    verify_keyring(engine, keyring)
    keys = [generate_key()] + [k.decode() for k in keyring.keys]
    _write_key_file(keyring.path, keys)
    rotated = Keyring(keys, keyring.source, keyring.path)
    return rotated, _reencrypt_all(engine, rotated)


def reencrypt(engine: sa.Engine, keyring: Keyring) -> int:
    """Re-encrypt every secret under the keyring's primary key."""
    return _reencrypt_all(engine, keyring)


def retire(engine: sa.Engine, keyring: Keyring) -> tuple[Keyring, int]:
    """Drop every key but the primary, after making sure nothing still needs them."""
    if keyring.path is None:
        raise SecretKeyError(
            "the keys come from STORFLEET_SECRET_KEY: remove the old keys from it on every node"
            " after `storfleet secrets reencrypt`"
        )
    count = _reencrypt_all(engine, keyring)
    primary_only = Keyring(keyring.keys[:1], keyring.source, keyring.path)
    _decrypt_all(engine, primary_only)  # proves the primary alone decrypts everything
    _write_key_file(keyring.path, [keyring.keys[0].decode()])
    return primary_only, count


def _decrypt_all(engine: sa.Engine, keyring: Keyring) -> None:
    with engine.connect() as conn:
        for table, key, column in _secret_columns():
            for row_key, token in conn.execute(sa.select(table.c[key], table.c[column])):
                keyring.decrypt(token, f"{table.name} of {row_key}")
