"""The store: SQLAlchemy 2 engine, schema derived from storfleet.resources, migrations."""

from storfleet.store import schema
from storfleet.store.engine import create_engine, is_sqlite, write

__all__ = ["create_engine", "is_sqlite", "schema", "write"]
