"""Fixtures of the API tests: an app on a real database, tokens of each role, and a
storage registered the way Delfin's driver guide does it (its curl example)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx vs httpx2
    from fastapi.testclient import TestClient

from storfleet.api.app import create_app
from storfleet.auth.tokens import ADMIN_TOKEN_FILE, create_token
from storfleet.config import Settings
from storfleet.secrets import generate_key
from storfleet.store import migrate
from storfleet.store.database import Database, open_database
from tests.conftest import create_pg_database, drop_pg_database

# Exactly the body of the seed guide's curl example, with the fake array's vendor/model.
GUIDE_CURL_BODY = {
    "rest": {
        "host": "127.0.0.1",
        "port": "22",
        "username": "username",
        "password": "password",
        "vendor": "fake_storage",
        "model": "fake_driver",
    }
}


@dataclass
class Api:
    """A TestClient with the tokens of a test session."""

    client: TestClient
    db: Database
    admin: dict[str, str]
    reader: dict[str, str]

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers={**self.admin, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, headers={**self.admin, **kw.pop("headers", {})}, **kw)

    def put(self, path: str, **kw: Any):
        return self.client.put(path, headers={**self.admin, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers={**self.admin, **kw.pop("headers", {})}, **kw)

    def register(self, body: dict[str, Any] | None = None, *, wait: bool = True) -> dict:
        response = self.post("/v1/storages", json=body or GUIDE_CURL_BODY)
        assert response.status_code == 201, response.text
        storage = response.json()
        return self.wait_synced(storage["id"]) if wait else storage

    def wait_synced(self, storage_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/v1/storages/{storage_id}/sync-state").json()
            if state["sync_status"] == "SYNCED" and not state["requested"] and not state["running"]:
                return self.get(f"/v1/storages/{storage_id}").json()
            time.sleep(0.05)
        raise AssertionError(f"storage {storage_id} did not sync within {timeout} s")


def fake_body(**extra: Any) -> dict[str, Any]:
    """The guide's body with fake-array knobs (seed, counts...) in extra_attributes."""
    return {**GUIDE_CURL_BODY, "extra_attributes": extra}


def make_settings(database_url: str, data_dir: Path, secret_key: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secret_key or generate_key(),
        scheduler_tick_s=0.05,
    )


@contextmanager
def running_api(
    database_url: str,
    data_dir: Path,
    *,
    run_jobs: bool = True,
    auth: bool = True,
    secret_key: str | None = None,
) -> Iterator[Api]:
    """The app on a migrated database, its lifespan running (scheduler, removals); the
    admin token is the one the first start wrote to the data directory."""
    settings = make_settings(database_url, data_dir, secret_key)
    migrate.upgrade(settings.resolved_database_url)
    db = open_database(settings, auto_migrate=False)
    try:
        with TestClient(create_app(db, run_jobs=run_jobs, auth=auth)) as client:
            admin, reader = {}, {}
            if auth:
                token = (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
                admin = {"Authorization": f"Bearer {token}"}
                _, reader_token = create_token(db.engine, "reader", "test reader")
                reader = {"Authorization": f"Bearer {reader_token}"}
            yield Api(client, db, admin, reader)
    finally:
        db.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A fresh app on SQLite."""
    with running_api(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "data") as running:
        yield running


@pytest.fixture
def api_both(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """A fresh app on SQLite, then on PostgreSQL."""
    with running_api(database_url, tmp_path / "data") as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of each kind, kept for a whole module (read-only tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'api.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    url = create_pg_database(admin)
    yield url
    drop_pg_database(admin, url)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict]]:
    """One app (SQLite) with the fake array registered as the guide's curl does, synced;
    for tests that only read."""
    root = tmp_path_factory.mktemp("synced")
    with running_api(f"sqlite:///{root / 'api.db'}", root / "data") as running:
        yield running, running.register()
