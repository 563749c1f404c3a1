"""Delfin's ``GET /v1/storages/{id}/capabilities``: the driver's performance capabilities,
asked live (they describe the driver and the array's model, not stored state)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from storfleet.api import queries, render
from storfleet.api.deps import PROTECTED, authorize, get_db, get_manager
from storfleet.api.driver_calls import call_driver
from storfleet.api.errors import error_responses, storage_not_found
from storfleet.api.schemas import Capabilities
from storfleet.fleet.manager import DriverManager
from storfleet.store.database import Database

router = APIRouter(
    prefix="/v1", tags=["performance"], dependencies=[Depends(authorize)], responses=PROTECTED
)


@router.get(
    "/storages/{id}/capabilities",
    response_model=Capabilities,
    responses=error_responses(404, 501, 502, 504),
    summary="Performance metrics the storage's driver can collect",
)
def show_capabilities(
    id: str,  # noqa: A002 - Delfin's parameter name
    db: Database = Depends(get_db),
    manager: DriverManager = Depends(get_manager),
) -> Response:
    with db.engine.connect() as conn:
        row = queries.visible_storage(conn, id)
    if row is None:
        raise storage_not_found(id)
    spec = call_driver(manager, id, "get_capabilities") or {}
    body = {"metadata": {"vendor": row.vendor, "model": row.model}, "spec": spec}
    return render.json_response(body)
