"""Delfin's alert endpoints: the SNMP alert source of a storage (stored, its secrets
encrypted and never returned), the array's current alerts live from its driver, clearing
one on the array, and an alert sync.

The stored alerts with their lifecycle come with the alerts issue; these endpoints keep
Delfin's shapes meanwhile.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response

from storfleet.alerts import poll, sources
from storfleet.alerts import queries as alert_queries
from storfleet.api import queries, render
from storfleet.api.deps import PROTECTED, authorize, get_db, get_manager, read_conn
from storfleet.api.driver_calls import call_driver
from storfleet.api.errors import ApiError, bad_request, error_responses, storage_not_found
from storfleet.api.render import LIST_HEADERS, timestamp
from storfleet.api.schemas import (
    AlertSyncRequest,
    LiveAlertList,
    SnmpConfig,
    SnmpConfigList,
    SnmpConfigUpdate,
)
from storfleet.fleet.manager import DriverManager
from storfleet.resources import ALERT, KindValidator, RecordRejected
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import alert_source, storage

router = APIRouter(
    prefix="/v1", tags=["alerts"], dependencies=[Depends(authorize)], responses=PROTECTED
)
SECRET_FIELDS = ("community_string", "auth_key", "privacy_key")
_DRIVER_ERRORS = error_responses(404, 501, 502, 504)


def _require_storage(conn: sa.Connection, storage_id: str) -> None:
    if queries.visible_storage(conn, storage_id) is None:
        raise storage_not_found(storage_id)


# -- SNMP alert source ----------------------------------------------------------------------
def check_snmp_config(config: SnmpConfigUpdate) -> None:
    """Delfin's cross-field rules: what each version and security level needs."""
    if config.version in ("SNMPv1", "SNMPv2c"):
        if not config.community_string:
            raise bad_request(f"{config.version} needs community_string", "community_string")
        return
    needed = ["username", "security_level", "engine_id"]
    if config.security_level in ("authNoPriv", "authPriv"):
        needed += ["auth_protocol", "auth_key"]
    if config.security_level == "authPriv":
        needed += ["privacy_protocol", "privacy_key"]
    missing = [name for name in needed if getattr(config, name) is None]
    if missing:
        level = config.security_level or "SNMPv3"
        raise bad_request(f"{level} needs {', '.join(missing)}", *missing)


def snmp_config_body(row: Any) -> dict[str, Any]:
    m = row._mapping
    body = {
        k: m[k] for k in SnmpConfig.model_fields if k in m and k not in ("created_at", "updated_at")
    }
    body.update(
        id=m["storage_id"],
        host=",".join(m["hosts"] or []),
        created_at=timestamp(m["created_at"]),
        updated_at=timestamp(m["updated_at"]),
    )
    return body


def _visible_sources(conn: sa.Connection, storage_id: str | None = None) -> list[sa.Row]:
    query = (
        sa.select(alert_source)
        .join(storage, storage.c.id == alert_source.c.storage_id)
        .where(storage.c.deleting.is_(False))
        .order_by(alert_source.c.created_at.desc(), alert_source.c.storage_id)
    )
    if storage_id is not None:
        query = query.where(alert_source.c.storage_id == storage_id)
    return list(conn.execute(query))


def save_snmp_config(db: Database, storage_id: str, config: SnmpConfigUpdate) -> sa.Row:
    """Validate and store through the alert sources module (what the trap receivers
    load), then read back the stored row for the answer."""
    try:
        source = sources.validate(config.model_dump(exclude_none=True))
    except sources.InvalidAlertSource as exc:
        raise bad_request(str(exc), exc.field) from None
    try:
        sources.save(db.engine, db.keyring, storage_id, source)
    except sources.UnknownStorage:
        raise storage_not_found(storage_id) from None
    with db.engine.connect() as conn:
        return _visible_sources(conn, storage_id)[0]


@router.get(
    "/storages/snmp-configs",
    response_model=SnmpConfigList,
    responses={200: {"headers": LIST_HEADERS}},
    summary="SNMP alert sources of every storage (no secrets)",
)
@router.get(
    "/snmp-configs",
    response_model=SnmpConfigList,
    responses={200: {"headers": LIST_HEADERS}},
    summary="SNMP alert sources of every storage (the path Delfin really serves)",
)
def list_snmp_configs(conn: sa.Connection = Depends(read_conn)) -> Response:
    configs = [snmp_config_body(r) for r in _visible_sources(conn)]
    return render.json_response(
        {"snmp_configs": configs}, headers=render.list_headers(len(configs))
    )


@router.get(
    "/storages/{storage_id}/snmp-config",
    response_model=SnmpConfig,
    responses=error_responses(404),
    summary="The SNMP alert source of a storage (no secrets)",
)
def show_snmp_config(storage_id: str, conn: sa.Connection = Depends(read_conn)) -> Response:
    _require_storage(conn, storage_id)
    rows = _visible_sources(conn, storage_id)
    if not rows:
        raise ApiError(404, "AlertSourceNotFound", f"storage {storage_id} has no SNMP config")
    return render.json_response(snmp_config_body(rows[0]))


@router.put(
    "/storages/{storage_id}/snmp-config",
    response_model=SnmpConfig,
    responses=error_responses(400, 403, 404),
    summary="Set the SNMP alert source of a storage",
)
def put_snmp_config(
    storage_id: str, body: SnmpConfigUpdate, db: Database = Depends(get_db)
) -> Response:
    check_snmp_config(body)
    return render.json_response(snmp_config_body(save_snmp_config(db, storage_id, body)))


@router.delete(
    "/storages/{storage_id}/snmp-config",
    response_class=Response,
    responses={200: {"description": "Deleted"}, **error_responses(403, 404)},
    summary="Remove the SNMP alert source of a storage",
)
def delete_snmp_config(storage_id: str, db: Database = Depends(get_db)) -> Response:
    with write(db.engine) as conn:
        _require_storage(conn, storage_id)
        deleted = conn.execute(
            sa.delete(alert_source).where(alert_source.c.storage_id == storage_id)
        ).rowcount
    if not deleted:
        raise ApiError(404, "AlertSourceNotFound", f"storage {storage_id} has no SNMP config")
    return Response(status_code=200)


# -- alerts on the array --------------------------------------------------------------------
def live_alerts(
    manager: DriverManager, storage_id: str, query_para: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The array's current alerts, each checked against Delfin's alert fields; a record the
    driver got wrong is skipped rather than failing the whole list."""
    records = call_driver(manager, storage_id, "list_alerts", query_para) or []
    validator = KindValidator(ALERT, f"storage {storage_id}")
    alerts = []
    for record in records:
        try:
            clean = validator.validate(record).record
        except RecordRejected:
            continue
        alerts.append({**clean, "storage_id": storage_id})
    return alerts


def _query_para(begin_time: int | None, end_time: int | None) -> dict[str, Any] | None:
    if begin_time is not None and end_time is not None and begin_time > end_time:
        raise bad_request("begin_time must not be after end_time", "begin_time")
    para = {k: v for k, v in (("begin_time", begin_time), ("end_time", end_time)) if v is not None}
    return para or None


@router.get(
    "/storages/{storage_id}/alerts",
    response_model=LiveAlertList,
    responses={200: {"headers": LIST_HEADERS}, **error_responses(400), **_DRIVER_ERRORS},
    summary="The array's current alerts, live from its driver",
)
def list_live_alerts(
    storage_id: str,
    begin_time: int | None = Query(default=None, ge=0, le=2**63 - 1, description="epoch ms"),
    end_time: int | None = Query(default=None, ge=0, le=2**63 - 1, description="epoch ms"),
    manager: DriverManager = Depends(get_manager),
    db: Database = Depends(get_db),
) -> Response:
    with db.engine.connect() as conn:
        _require_storage(conn, storage_id)
    alerts = live_alerts(manager, storage_id, _query_para(begin_time, end_time))
    return render.json_response({"alerts": alerts}, headers=render.list_headers(len(alerts)))


@router.delete(
    "/storages/{storage_id}/alerts/{sequence_number}",
    response_class=Response,
    responses={
        200: {"description": "Cleared on the array"},
        **error_responses(400, 403),
        **_DRIVER_ERRORS,
    },
    summary="Clear an alert on the array",
)
def clear_alert(
    storage_id: str,
    sequence_number: str,
    manager: DriverManager = Depends(get_manager),
    db: Database = Depends(get_db),
) -> Response:
    with db.engine.connect() as conn:
        _require_storage(conn, storage_id)
    call_driver(manager, storage_id, "clear_alert", sequence_number)
    # The array cleared it: so is the stored alert holding that sequence number.
    alert_queries.clear_by_sequence_number(db.engine, storage_id, sequence_number, by="api")
    return Response(status_code=200)


@router.post(
    "/storages/{storage_id}/alerts/sync",
    response_class=Response,
    responses={
        200: {"description": "The array answered; its alerts were read"},
        **error_responses(400, 403),
        **_DRIVER_ERRORS,
    },
    summary="Read the array's alerts in a time window now",
)
def sync_alerts(
    storage_id: str,
    body: AlertSyncRequest | None = None,
    manager: DriverManager = Depends(get_manager),
    db: Database = Depends(get_db),
) -> Response:
    with db.engine.connect() as conn:
        _require_storage(conn, storage_id)
    # Delfin reads the array's alerts here; storfleet also stores and reconciles them
    # (the same poll the scheduler runs). The body's time window is accepted for Delfin
    # clients; the poll reads what the array reports as current.
    outcome = poll.poll_storage(db, manager, storage_id)
    if outcome.status == "failed":
        raise ApiError(502, "StorageBackendException", outcome.error or "polling failed")
    return Response(status_code=200)
