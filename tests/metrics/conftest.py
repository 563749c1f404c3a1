"""Helpers for the metrics tests: fake arrays with fast performance series."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.registration import register_storage
from storfleet.store import migrate
from storfleet.store.database import Database, open_database

FAST = {
    "collect_interval_s": 1.0,
    "collect_retry_s": 0.3,
    "collect_retry_max_s": 1.0,
    "scheduler_tick_s": 0.05,
    "lease_s": 10.0,
    "sync_interval_s": 3600.0,
}


def fake_body(seed: int, **extra: Any) -> dict[str, Any]:
    attributes = {
        "seed": seed,
        "counts": {"volumes": 30, "storage_pools": 2, "controllers": 2, "ports": 4,
                   "disks": 6, "filesystems": 3},
        "perf_interval_s": 1,
        "retention_window_s": 60,
        "perf_resources_max": 20,
    }
    attributes.update(extra)
    return {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": attributes,
    }


def register(manager: DriverManager, seed: int, **extra: Any) -> str:
    return register_storage(manager, fake_body(seed, **extra))["id"]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def open_fast(settings: Settings, **overrides: Any) -> Database:
    fast = settings.model_copy(update={**FAST, **overrides})
    migrate.upgrade(fast.resolved_database_url)
    return open_database(fast, auto_migrate=False)


@pytest.fixture
def fast_db(settings: Settings) -> Iterator[Database]:
    """A migrated database (SQLite and PostgreSQL) with second-scale metric periods."""
    db = open_fast(settings)
    yield db
    db.dispose()


@pytest.fixture
def fast_manager(fast_db: Database) -> Iterator[DriverManager]:
    manager = DriverManager(fast_db, call_timeout_s=20, connect_timeout_s=20)
    yield manager
    manager.clear()
