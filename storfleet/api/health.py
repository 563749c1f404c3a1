"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storfleet.store import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or not migrated"}})
def readyz(request: Request) -> JSONResponse:
    """The database is reachable and its schema is the one this code needs."""
    try:
        current = migrate.current_revision(request.app.state.db.engine)
    except Exception as exc:  # any driver error means "not ready"
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "reason": f"schema at {current}, needs {head}"}, 503
        )
    return JSONResponse({"status": "ok", "schema": current})
