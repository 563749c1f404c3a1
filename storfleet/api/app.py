"""The FastAPI application: routers, error handlers, auth, audit, and the embedded
scheduler and removal worker for as long as the application runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from storfleet import __version__
from storfleet.alerts.exporters.runner import ExportRunner
from storfleet.alerts.service import TrapService
from storfleet.alerts.settings import AlertSettings, for_settings
from storfleet.api import (
    alerts,
    audit,
    capabilities,
    changes,
    errors,
    health,
    inventory,
    storages,
    stored_alerts,
)
from storfleet.api import metrics as metrics_api
from storfleet.api.audit_middleware import AuditMiddleware
from storfleet.api.auth_middleware import AuthMiddleware
from storfleet.api.deps import metrics_access
from storfleet.auth.tokens import Verifier, bootstrap_admin_token
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.removal import RemovalWorker
from storfleet.jobs.embedded import EmbeddedRunner
from storfleet.metrics import kafka
from storfleet.metrics.prometheus import warm_mirror
from storfleet.store.database import Database

log = logging.getLogger(__name__)

DESCRIPTION = """Storage fleet manager: SODA Delfin's v1 API (same paths and bodies) plus
storfleet's own endpoints (sync state, change feed, pause/resume, strict resource lists).

Every endpoint but /healthz and /readyz needs `Authorization: Bearer <token>`; reader
tokens may only GET. Errors have Delfin's body: `{"error_code", "error_msg", "error_args"}`.
"""

INSECURE_WARNING = (
    "AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach this port can read "
    "and change everything. Use this for local development only."
)


def create_app(
    db: Database,
    *,
    run_jobs: bool = True,
    auth: bool = True,
    receive_traps: bool = False,
    alert_settings: AlertSettings | None = None,
) -> FastAPI:
    """The API; with ``run_jobs`` (the embedded mode) it also runs the scheduler and the
    job pool. ``auth=False`` is ``serve --insecure-no-auth``: every caller is an admin."""
    manager = DriverManager(db)
    runner = EmbeddedRunner(db, manager) if run_jobs else None
    removals = RemovalWorker(db, manager)
    alert_settings = alert_settings or for_settings(db.settings)
    traps = TrapService(db, alert_settings, manager=manager) if receive_traps else None
    exports = ExportRunner(db, alert_settings) if run_jobs else None  # also prunes alerts

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if auth:
            bootstrap_admin_token(db.engine, db.settings.data_dir)
        else:
            log.warning(INSECURE_WARNING)
        removals.resume_pending()
        if runner is None:  # this process does not collect: mirror the latest values
            warm_mirror(db)
        if runner is not None:
            runner.start()
        if traps is not None:
            await traps.start()
        if exports is not None:
            exports.start()
            if traps is not None:
                traps.writer.after_commit.append(lambda _result: exports.nudge())
        try:
            yield
        finally:
            if traps is not None:
                await traps.stop()
            if exports is not None:
                await asyncio.to_thread(exports.stop)
            if runner is not None:
                runner.stop(wait=False)
            removals.stop()
            manager.clear()
            kafka.close_all(10)  # deliver what the metric exporter still holds

    app = FastAPI(
        title="storfleet", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.db = db
    app.state.manager = manager
    app.state.runner = runner
    app.state.removals = removals
    app.state.traps = traps
    app.state.alert_exports = exports
    app.state.verifier = Verifier(db.engine) if auth else None
    errors.install(app)
    app.add_middleware(AuthMiddleware)
    app.add_middleware(AuditMiddleware)  # added last: outermost, so it sees 401s too
    app.include_router(health.router)
    # Fixed paths under /v1/storages/ (snmp-configs, access-infos, sync) come before
    # /v1/storages/{storage_id}, which would otherwise take them as an id.
    app.include_router(alerts.router)
    app.include_router(storages.router)
    app.include_router(inventory.router)
    app.include_router(inventory.resources_router)
    app.include_router(capabilities.router)
    app.include_router(changes.router)
    app.include_router(audit.router)
    # The token check of /metrics reads the metrics_open setting on every scrape.
    app.include_router(metrics_api.prometheus_router, dependencies=[Depends(metrics_access)])
    app.include_router(metrics_api.router)
    app.include_router(stored_alerts.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 responses: storfleet answers validation errors
    with a documented 400 in Delfin's error body instead."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema
