"""Run one sync of one storage in this process (the kill -9 test's victim)."""

from __future__ import annotations

import sys

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.store.database import open_database
from storfleet.sync import sync_storage


def main() -> None:
    url, storage_id, key, lease_s = sys.argv[1:5]
    settings = Settings(database_url=url, secret_key=key, lease_s=float(lease_s))
    db = open_database(settings, auto_migrate=False)
    print("syncing", flush=True)
    result = sync_storage(db, DriverManager(db), storage_id)
    print(result.state, result.error, flush=True)


if __name__ == "__main__":
    main()
