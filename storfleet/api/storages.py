"""Delfin's /v1/storages (register, list, show, remove, sync, access info) and storfleet's
own storage endpoints (pause, resume, sync-state).

Handlers are plain ``def``: FastAPI runs them in its threadpool, where blocking database
work and driver calls (registration verifies the array first) belong.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response

from storfleet.api import queries, render
from storfleet.api.deps import PROTECTED, authorize, get_db, get_manager, read_conn
from storfleet.api.driver_calls import registration_error
from storfleet.api.errors import ApiError, error_responses, storage_not_found
from storfleet.api.params import delfin_listing
from storfleet.api.render import LIST_HEADERS
from storfleet.api.schemas import (
    AccessInfo,
    AccessInfoList,
    AccessInfoUpdate,
    StorageRegistration,
    SyncState,
    item_model,
    list_model,
)
from storfleet.fleet import removal
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.registration import RegistrationError, register_storage, update_access_info
from storfleet.jobs import schedule
from storfleet.resources import STORAGE
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import storage
from storfleet.sync.state import kind_states

router = APIRouter(
    prefix="/v1", tags=["storages"], dependencies=[Depends(authorize)], responses=PROTECTED
)
LISTING = delfin_listing(STORAGE)
NO_CONTENT_202 = {202: {"description": "Accepted"}}


def _visible(conn: sa.Connection, storage_id: str) -> sa.Row:
    row = queries.visible_storage(conn, storage_id)
    if row is None:
        raise storage_not_found(storage_id)
    return row


def _nudge(request: Request) -> None:
    runner = request.app.state.runner
    if runner is not None:
        runner.nudge()


# -- storages -------------------------------------------------------------------------------
@router.get(
    "/storages",
    response_model=list_model(STORAGE),
    openapi_extra={"parameters": LISTING.openapi_parameters()},
    responses={200: {"headers": LIST_HEADERS}, **error_responses(400, 404)},
    summary="List registered storages",
)
def list_storages(request: Request, conn: sa.Connection = Depends(read_conn)) -> Response:
    query = LISTING.parse(request.query_params)
    page = queries.fetch_page(conn, STORAGE, query)
    return render.page_response(STORAGE, page, query, render.inventory_bodies(STORAGE, page.rows))


@router.post(
    "/storages",
    status_code=201,
    response_model=item_model(STORAGE),
    responses=error_responses(400, 403, 409),
    summary="Register a storage (the array is verified first)",
)
def add_storage(
    body: StorageRegistration,
    request: Request,
    manager: DriverManager = Depends(get_manager),
) -> Response:
    try:
        row = register_storage(manager, body.model_dump(exclude_none=True))
    except RegistrationError as exc:
        raise registration_error(exc) from None
    _nudge(request)
    return render.json_response(render.storage_body(row), 201)


@router.get(
    "/storages/access-infos",
    response_model=AccessInfoList,
    responses={200: {"headers": LIST_HEADERS}},
    summary="Access infos of every storage (no secrets)",
)
@router.get(
    "/access-infos",
    response_model=AccessInfoList,
    responses={200: {"headers": LIST_HEADERS}},
    summary="Access infos of every storage (the path Delfin really serves)",
)
def list_access_infos(conn: sa.Connection = Depends(read_conn)) -> Response:
    infos = [render.access_info_body(i) for i in queries.access_infos(conn)]
    return render.json_response({"access_infos": infos}, headers=render.list_headers(len(infos)))


@router.post(
    "/storages/sync",
    status_code=202,
    response_class=Response,
    responses={**NO_CONTENT_202, **error_responses(403)},
    summary="Sync every storage now (those already syncing are left alone)",
)
def sync_all(request: Request, db: Database = Depends(get_db)) -> Response:
    with db.engine.connect() as conn:
        ids = conn.execute(sa.select(storage.c.id).where(storage.c.deleting.is_(False))).scalars()
        ids = list(ids)
    for storage_id in ids:
        try:
            with write(db.engine) as conn:
                schedule.request_run(conn, storage_id, schedule.SYNC)
        except schedule.JobRefused:
            continue
    _nudge(request)
    return Response(status_code=202)


@router.get(
    "/storages/{storage_id}",
    response_model=item_model(STORAGE),
    responses=error_responses(404),
    summary="Show a storage",
)
def show_storage(storage_id: str, conn: sa.Connection = Depends(read_conn)) -> Response:
    return render.json_response(render.storage_body(_visible(conn, storage_id)))


@router.delete(
    "/storages/{storage_id}",
    status_code=202,
    response_class=Response,
    responses={**NO_CONTENT_202, **error_responses(403, 404)},
    summary="Remove a storage: its records are deleted in the background",
)
def remove_storage(storage_id: str, request: Request, db: Database = Depends(get_db)) -> Response:
    if not removal.begin(db, storage_id):
        raise storage_not_found(storage_id)
    request.app.state.removals.submit(storage_id)
    return Response(status_code=202)


@router.post(
    "/storages/{storage_id}/sync",
    status_code=202,
    response_class=Response,
    responses={**NO_CONTENT_202, **error_responses(403, 404, 409)},
    summary="Sync a storage now",
)
def sync_storage(storage_id: str, request: Request, db: Database = Depends(get_db)) -> Response:
    try:
        with write(db.engine) as conn:
            _visible(conn, storage_id)
            schedule.request_run(conn, storage_id, schedule.SYNC)
    except schedule.JobRefused as exc:
        if "already" in str(exc):
            raise ApiError(409, "StorageIsSyncing", f"already syncing: {exc}", storage_id) from None
        raise storage_not_found(storage_id) from None
    _nudge(request)
    return Response(status_code=202)


# -- access info ------------------------------------------------------------------------------
@router.get(
    "/storages/{storage_id}/access-info",
    response_model=AccessInfo,
    responses=error_responses(404),
    summary="A storage's access info (no secrets)",
)
def show_access_info(storage_id: str, conn: sa.Connection = Depends(read_conn)) -> Response:
    infos = queries.access_infos(conn, storage_id)
    if not infos:
        raise ApiError(404, "AccessInfoNotFound", f"storage {storage_id} has no access info")
    return render.json_response(render.access_info_body(infos[0]))


@router.put(
    "/storages/{storage_id}/access-info",
    response_model=AccessInfo,
    responses=error_responses(400, 403, 404),
    summary="Change a storage's access info (verified against the array first)",
)
def change_access_info(
    storage_id: str,
    body: AccessInfoUpdate,
    db: Database = Depends(get_db),
    manager: DriverManager = Depends(get_manager),
) -> Response:
    with db.engine.connect() as conn:
        _visible(conn, storage_id)
    try:
        update_access_info(manager, storage_id, body.model_dump(exclude_none=True))
    except RegistrationError as exc:
        raise registration_error(exc) from None
    with db.engine.connect() as conn:
        infos = queries.access_infos(conn, storage_id)
    if not infos:  # removed meanwhile
        raise storage_not_found(storage_id)
    return render.json_response(render.access_info_body(infos[0]))


# -- storfleet's own ------------------------------------------------------------------------
def _set_paused(db: Database, storage_id: str, paused: bool) -> Response:
    with write(db.engine) as conn:
        _visible(conn, storage_id)
        conn.execute(sa.update(storage).where(storage.c.id == storage_id).values(paused=paused))
        row = _visible(conn, storage_id)
    return render.json_response(render.storage_body(row))


@router.post(
    "/storages/{storage_id}/pause",
    response_model=item_model(STORAGE),
    responses=error_responses(403, 404),
    summary="Pause scheduled syncs of a storage (a sync asked for still runs)",
)
def pause_storage(storage_id: str, db: Database = Depends(get_db)) -> Response:
    return _set_paused(db, storage_id, True)


@router.post(
    "/storages/{storage_id}/resume",
    response_model=item_model(STORAGE),
    responses=error_responses(403, 404),
    summary="Resume scheduled syncs of a storage",
)
def resume_storage(storage_id: str, db: Database = Depends(get_db)) -> Response:
    return _set_paused(db, storage_id, False)


@router.get(
    "/storages/{storage_id}/sync-state",
    response_model=SyncState,
    responses=error_responses(404),
    summary="Sync state of a storage, per resource kind",
)
def show_sync_state(
    storage_id: str, db: Database = Depends(get_db), conn: sa.Connection = Depends(read_conn)
) -> Response:
    row = _visible(conn, storage_id)
    body: dict[str, Any] = render.sync_state_body(
        row,
        queries.sync_job(conn, storage_id),
        kind_states(conn, storage_id),
        running=queries.sync_running(conn, storage_id),
        default_interval_s=db.settings.sync_interval_s,
    )
    return render.json_response(body)
