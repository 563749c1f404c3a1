"""The application as the tests run it (the metrics routers are part of create_app)."""

from __future__ import annotations

from fastapi import FastAPI

from storfleet.api.app import create_app
from storfleet.store.database import Database


def metrics_app(db: Database, *, run_jobs: bool) -> FastAPI:
    return create_app(db, run_jobs=run_jobs, auth=False)
