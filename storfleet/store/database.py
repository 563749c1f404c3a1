"""Opening the database for a role: engine, schema check or migration, keyring."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import sqlalchemy as sa

from storfleet import secrets
from storfleet.config import Settings
from storfleet.store import migrate
from storfleet.store.engine import create_engine

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass
class Database:
    settings: Settings
    engine: sa.Engine
    keyring: secrets.Keyring

    def dispose(self) -> None:
        self.engine.dispose()


def ensure_schema(settings: Settings, engine: sa.Engine, *, auto_migrate: bool) -> None:
    """Bring embedded SQLite to the head; refuse an out-of-date shared database."""
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return
    if auto_migrate and settings.is_sqlite:
        log.info("migrating the database from %s to %s", current or "empty", head)
        migrate.upgrade(settings.resolved_database_url)
        return
    raise SchemaOutOfDate(
        f"the database schema is at {current or 'nothing (empty database)'}, storfleet needs "
        f"{head}: run `storfleet db upgrade` (with the same STORFLEET_DATABASE_URL) first"
    )


def open_database(settings: Settings, *, auto_migrate: bool = True, create_key: bool = True):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    try:
        ensure_schema(settings, engine, auto_migrate=auto_migrate)
        keyring = secrets.load_keyring(settings, create=create_key and settings.is_sqlite)
        secrets.verify_keyring(engine, keyring)
    except Exception:
        engine.dispose()
        raise
    return Database(settings, engine, keyring)


T = TypeVar("T")


class PerEngine(Generic[T]):
    """``get(engine)``: one ``factory()`` object per database engine in this process, made
    on first use; weakly keyed, so a disposed and dropped engine takes its object along.
    (Process-wide caches: known metric series, latest values...)"""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[sa.Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, engine: sa.Engine) -> T:
        with self._lock:
            item = self._items.get(engine)
            if item is None:
                item = self._items[engine] = self._factory()
            return item
