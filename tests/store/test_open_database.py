"""Opening the database for `storfleet serve`: embedded SQLite migrates itself, a shared
PostgreSQL is never migrated behind the operator's back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storfleet.config import Settings
from storfleet.secrets import generate_key
from storfleet.store import migrate
from storfleet.store.database import SchemaOutOfDate, open_database


def test_embedded_sqlite_is_migrated_on_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    db = open_database(settings)
    assert migrate.is_current(db.engine)
    assert (tmp_path / "data" / "secret.key").exists()
    db.dispose()


def test_out_of_date_postgresql_is_refused_with_the_command(pg_url: str, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=pg_url, secret_key=generate_key())
    with pytest.raises(SchemaOutOfDate, match="storfleet db upgrade"):
        open_database(settings)
    migrate.upgrade(pg_url)
    db = open_database(settings)
    assert migrate.is_current(db.engine)
    db.dispose()


def test_serve_refuses_an_empty_postgresql_in_one_line(pg_url: str, tmp_path) -> None:
    env = dict(os.environ)
    env.update(
        STORFLEET_DATABASE_URL=pg_url,
        STORFLEET_SECRET_KEY=generate_key(),
        STORFLEET_DATA_DIR=str(tmp_path),
    )
    storfleet = Path(sys.executable).with_name("storfleet")
    run = subprocess.run(
        [str(storfleet), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "storfleet db upgrade" in run.stderr
    assert "Traceback" not in run.stderr
