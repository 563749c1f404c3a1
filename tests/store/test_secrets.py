"""Secrets at rest: never in the database file, a dump, or a log line; keys rotate."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from storfleet import secrets
from storfleet.config import Settings
from storfleet.store import access_infos, migrate, schema, write
from storfleet.store.database import open_database

PASSWORD = "Tr0ub4dor&3-known-password"
SNMP_COMMUNITY = "community-string-never-plain"


def _access_info() -> dict:
    return {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "10.0.0.5", "port": 8443, "username": "admin", "password": PASSWORD},
        "ssh": {"host": "10.0.0.5", "port": 22, "username": "root", "password": PASSWORD},
        "extra_attributes": {"array_id": "00012345"},
    }


def _store(db, storage_id: str = "s-1") -> None:
    with write(db.engine) as conn:
        access_infos.insert(conn, db.keyring, storage_id, _access_info())
        conn.execute(
            sa.insert(schema.alert_source).values(
                storage_id=storage_id,
                created_at=schema_now(),
                version="SNMPv2c",
                hosts=["10.0.0.5"],
                secret=db.keyring.encrypt_json({"community_string": SNMP_COMMUNITY}),
            )
        )


def schema_now():
    from storfleet.store.types import utcnow

    return utcnow()


def _raw_bytes(db) -> bytes:
    url = db.settings.resolved_database_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        db.engine.dispose()  # close connections; the WAL may still hold pages: read it too
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()
        )
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(
        ["pg_dump", "--no-owner", plain], check=True, capture_output=True
    ).stdout


def test_passwords_never_reach_the_database_or_the_logs(db, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _store(db)
    with db.engine.connect() as conn:
        loaded = access_infos.load(conn, db.keyring, "s-1")
        public = access_infos.load_public(conn, "s-1")
    assert loaded["rest"]["password"] == PASSWORD
    assert loaded["ssh"]["password"] == PASSWORD
    assert loaded["extra_attributes"] == {"array_id": "00012345"}
    assert "password" not in public["rest"] and "password" not in public["ssh"]
    raw = _raw_bytes(db)
    assert len(raw) > 1000  # really read the data
    assert b"admin" in raw  # the non-secret parts are there, in clear
    assert raw.count(PASSWORD.encode()) == 0
    assert raw.count(SNMP_COMMUNITY.encode()) == 0
    assert PASSWORD not in caplog.text


def test_wrong_key_is_a_clear_error_not_garbage(db) -> None:
    _store(db)
    wrong = secrets.Keyring([Fernet.generate_key()], "test key")
    with pytest.raises(secrets.SecretKeyError, match="not the one it was encrypted with"):
        secrets.verify_keyring(db.engine, wrong)
    with db.engine.connect() as conn, pytest.raises(secrets.SecretKeyError, match="s-1"):
        access_infos.load(conn, wrong, "s-1")


def _tokens(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(schema.access_info.c.secret)).scalars()) + list(
            conn.execute(sa.select(schema.alert_source.c.secret)).scalars()
        )


def test_rotate_then_retire(tmp_path: Path, database_url: str) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    settings = Settings(data_dir=tmp_path, database_url=database_url, secret_key_file=key_file)
    migrate.upgrade(database_url)
    db = open_database(settings, auto_migrate=False)
    _store(db, "s-1")
    _store(db, "s-2")
    old_key = db.keyring.keys[0]

    rotated, count = secrets.rotate(db.engine, db.keyring)
    assert count == 4
    assert len(rotated.keys) == 2 and rotated.keys[1] == old_key
    assert secrets.load_keyring(settings).keys == rotated.keys  # written to the file
    new_primary = Fernet(rotated.keys[0])
    for token in _tokens(db.engine):  # every secret is now under the new primary
        new_primary.decrypt(token.encode())
    with db.engine.connect() as conn:
        assert access_infos.load(conn, rotated, "s-2")["rest"]["password"] == PASSWORD

    retired, _ = secrets.retire(db.engine, rotated)
    assert retired.keys == rotated.keys[:1]
    assert secrets.load_keyring(settings).keys == rotated.keys[:1]
    with db.engine.connect() as conn:
        assert access_infos.load(conn, retired, "s-1")["ssh"]["password"] == PASSWORD
    old = Fernet(old_key)
    tokens = _tokens(db.engine)
    assert tokens
    for token in tokens:  # the retired key alone decrypts nothing
        with pytest.raises(InvalidToken):
            old.decrypt(token.encode())
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    db.dispose()


def test_embedded_key_file_is_created_0600_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    first = secrets.load_keyring(settings, create=True)
    path = tmp_path / "d" / secrets.KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secrets.load_keyring(settings).keys == first.keys


def test_postgresql_never_generates_a_key_silently(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1/postgres"
    )
    with pytest.raises(secrets.SecretKeyError, match="STORFLEET_SECRET_KEY"):
        secrets.load_keyring(settings, create=True)
    assert not (tmp_path / secrets.KEY_FILE_NAME).exists()


def test_malformed_key_is_reported(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="not-a-fernet-key")
    with pytest.raises(secrets.SecretKeyError, match="malformed secret key"):
        secrets.load_keyring(settings)


def test_log_filter_masks_secret_pairs() -> None:
    from storfleet.logs import redact

    line = redact('login {"password": "hunter2", "user": "a"} token=abc Authorization: Bearer xyz')
    assert "hunter2" not in line and "abc" not in line and "xyz" not in line
    assert '"user": "a"' in line
