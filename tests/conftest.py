"""Fixtures shared by the suite: real SQLite and real PostgreSQL databases.

PostgreSQL is required: when it is not reachable the tests that need it FAIL with the
command that starts it (``make deps``); they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.secrets import generate_key
from storfleet.store import migrate
from storfleet.store.database import Database, open_database

PG_ADMIN_URL = os.environ.get(
    "STORFLEET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}); start it with "
            "`make deps` (runs scripts/deps.sh)",
            pytrace=False,
        )
    return engine


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = _pg_admin_engine()
    yield engine
    engine.dispose()


def create_pg_database(admin: sa.Engine) -> str:
    name = f"storfleet_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin: sa.Engine, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """An empty PostgreSQL database, dropped afterwards."""
    url = create_pg_database(pg_admin)
    yield url
    drop_pg_database(pg_admin, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (the test runs once per kind)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'storfleet.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    url = create_pg_database(admin)
    yield url
    drop_pg_database(admin, url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key()
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A migrated database of each kind with a keyring."""
    migrate.upgrade(settings.resolved_database_url)
    database = open_database(settings, auto_migrate=False)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database, for what only SQLite does (one writer at a time)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'sqlite-only.db'}",
        secret_key=generate_key(),
    )
    migrate.upgrade(settings.resolved_database_url)
    database = open_database(settings, auto_migrate=False)
    yield database
    database.dispose()


# -- test drivers, registered through a real entry point ----------------------------------
TEST_ENTRY_POINTS = """[storfleet.drivers]
storfleet_test scripted = tests.support.scripted:ScriptedDriver
storfleet_test broken = tests.testing.broken_driver:BrokenDriver
"""


@pytest.fixture(scope="session", autouse=True)
def test_driver_entry_points(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Make the test drivers discoverable by stevedore, as an installed package would be."""
    import sys

    from storfleet.drivers import registry

    root = tmp_path_factory.mktemp("entry-points")
    dist = root / "storfleet_test_drivers-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: storfleet-test-drivers\nVersion: 0.0.0\n"
    )
    (dist / "entry_points.txt").write_text(TEST_ENTRY_POINTS)
    sys.path.insert(0, str(root))
    registry.refresh()
    yield root
    sys.path.remove(str(root))
    registry.refresh()


@pytest.fixture
def manager(db: Database):
    from storfleet.fleet.manager import DriverManager

    m = DriverManager(db, call_timeout_s=10, connect_timeout_s=10)
    yield m
    m.clear()
