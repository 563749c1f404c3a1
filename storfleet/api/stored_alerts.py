"""storfleet's stored alerts: ``GET /v1/alerts`` (filters, paging, X-Total-Count),
``GET /v1/alerts/{id}``, ``POST /v1/alerts/{id}/acknowledge`` and ``/clear``.

Every alert a trap, a poll or a rule raised, with its lifecycle (open, acknowledged,
cleared; who or what cleared it), duplicates counted on one row, and traps that matched
no storage (``storage_id`` null, ``?unmatched=true``). Delfin's live list of an array's
alerts stays at ``/v1/storages/{id}/alerts``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from storfleet.alerts import queries
from storfleet.alerts.queries import AlertFilter
from storfleet.api import render
from storfleet.api.deps import PROTECTED, authorize, get_db, read_conn
from storfleet.api.errors import ApiError, bad_request, error_responses
from storfleet.api.params import MAX_LIMIT, query_param, refuse_unknown
from storfleet.api.render import LIST_HEADERS
from storfleet.auth.roles import Principal
from storfleet.resources.fields import delfin_enums
from storfleet.store.database import Database

router = APIRouter(
    prefix="/v1", tags=["stored alerts"], dependencies=[Depends(authorize)],
    responses=PROTECTED,
)
PARAMS = ("storage_id", "unmatched", "severity", "state", "source", "begin_time", "end_time",
          "limit", "offset")
SOURCES = ("trap", "poll", "rule")
TIMES = ("occur_time", "first_seen", "last_seen", "cleared_at", "acknowledged_at",
         "updated_at")


class StoredAlert(BaseModel):
    """A stored alert: Delfin's alert fields plus its lifecycle."""

    model_config = ConfigDict(extra="allow")

    id: int
    storage_id: str | None = Field(description="null: a trap that matched no storage")
    alert_id: str
    alert_name: str | None = None
    severity: str | None = None
    category: str | None = None
    type: str | None = None
    description: str | None = None
    recovery_advice: str | None = None
    resource_type: str | None = None
    location: str | None = None
    match_key: str | None = None
    serial_number: str | None = None
    sequence_numbers: list[str] | None = Field(default=None,
                                               description="every occurrence seen (newest kept)")
    source: str = Field(description="trap / poll / rule")
    transport_address: str | None = None
    state: str = Field(description="open / acknowledged / cleared")
    count: int = Field(description="occurrences (duplicates counted here)")
    occur_time: str | None = None
    first_seen: str
    last_seen: str
    cleared_at: str | None = None
    cleared_by: str | None = None
    clear_type: str | None = None
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    varbinds: dict[str, str] | None = Field(
        default=None, description="the trap as received, when no driver parsed it")
    updated_at: str | None = None


class StoredAlertList(BaseModel):
    alerts: list[StoredAlert]


def alert_body(row: Any) -> dict[str, Any]:
    body = dict(row._mapping)
    for name in TIMES:
        body[name] = render.timestamp(body.get(name))
    return body


def _epoch_ms(name: str, text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 16:
        raise bad_request(f"{name} must be epoch milliseconds, got {text!r}", name)
    return datetime.fromtimestamp(int(text) / 1000, UTC)


def _int(name: str, text: str | None, default: int, high: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or len(text) > 10 or int(text) > high:
        raise bad_request(f"{name} must be an integer in 0..{high}, got {text!r}", name)
    return int(text)


def _choices(request: Request, name: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise bad_request(f"{name} must be one of {', '.join(allowed)}, got {bad[0]!r}", name)
    return values


def parse_filter(request: Request) -> AlertFilter:
    params = request.query_params
    refuse_unknown(request, PARAMS)
    unmatched_text = params.get("unmatched")
    unmatched = None
    if unmatched_text is not None:
        if unmatched_text.lower() not in ("true", "false"):
            raise bad_request("unmatched must be true or false", "unmatched")
        unmatched = unmatched_text.lower() == "true"
    flt = AlertFilter(
        storage_ids=[v for raw in params.getlist("storage_id") for v in raw.split(",") if v],
        unmatched=unmatched,
        severities=_choices(request, "severity", tuple(delfin_enums()["Severity"])),
        states=_choices(request, "state", queries.STATES),
        sources=_choices(request, "source", SOURCES),
        begin=_epoch_ms("begin_time", params.get("begin_time")),
        end=_epoch_ms("end_time", params.get("end_time")),
    )
    if flt.begin and flt.end and flt.begin > flt.end:
        raise bad_request("begin_time must not be after end_time", "begin_time")
    return flt


_LIST_PARAMETERS = [
    query_param("storage_id", {"type": "string"}, "Only these storages (repeat or comma-separate)"),
    query_param("unmatched", {"type": "boolean"},
                "true: only traps that matched no storage; false: only matched alerts"),
    query_param("severity", {"type": "string"}, "Fatal, Critical, Major, Minor, Warning, "
                "Informational, NotSpecified (repeat or comma-separate)"),
    query_param("state", {"type": "string"}, "open, acknowledged, cleared (repeatable)"),
    query_param("source", {"type": "string"}, "trap, poll, rule (repeatable)"),
    query_param("begin_time", {"type": "integer", "minimum": 0},
                "Epoch ms: alerts last seen at or after this"),
    query_param("end_time", {"type": "integer", "minimum": 0},
                "Epoch ms: alerts first seen at or before this"),
    query_param("limit", {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
                f"Page size (default {MAX_LIMIT})"),
    query_param("offset", {"type": "integer", "minimum": 0}, "Alerts to skip"),
]


@router.get(
    "/alerts",
    response_model=StoredAlertList,
    openapi_extra={"parameters": _LIST_PARAMETERS},
    responses={200: {"headers": LIST_HEADERS}, **error_responses(400)},
    summary="Stored alerts, most recently active first",
)
def list_stored_alerts(request: Request, conn: sa.Connection = Depends(read_conn)) -> Response:
    flt = parse_filter(request)
    limit = _int("limit", request.query_params.get("limit"), MAX_LIMIT, MAX_LIMIT)
    offset = _int("offset", request.query_params.get("offset"), 0, 2**31 - 1)
    rows, total = queries.list_alerts(conn, flt, limit=limit, offset=offset)
    return render.json_response({"alerts": [alert_body(r) for r in rows]},
                                headers=render.list_headers(total))


def _alert_pk(alert_id: str) -> int:
    if not alert_id.isdigit() or len(alert_id) > 18:
        raise _not_found(alert_id)
    return int(alert_id)


def _not_found(alert_id: str) -> ApiError:
    return ApiError(404, "AlertNotFound", f"alert {alert_id} could not be found", alert_id)


@router.get(
    "/alerts/{alert_id}",
    response_model=StoredAlert,
    responses=error_responses(404),
    summary="One stored alert",
)
def show_stored_alert(alert_id: str, conn: sa.Connection = Depends(read_conn)) -> Response:
    row = queries.get_alert(conn, _alert_pk(alert_id))
    if row is None:
        raise _not_found(alert_id)
    return render.json_response(alert_body(row))


def _actor(principal: Principal) -> str:
    return f"{principal.name} ({principal.id})"


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=StoredAlert,
    responses=error_responses(403, 404, 409),
    summary="Acknowledge an open alert (it stays until cleared; duplicates still count)",
)
def acknowledge_alert(alert_id: str, db: Database = Depends(get_db),
                      principal: Principal = Depends(authorize)) -> Response:
    pk = _alert_pk(alert_id)
    row = queries.acknowledge(db.engine, pk, _actor(principal))
    if row is None:
        raise _not_found(alert_id)
    if row.state == "cleared":
        raise ApiError(409, "AlertCleared", f"alert {alert_id} is already cleared", alert_id)
    return render.json_response(alert_body(row))


@router.post(
    "/alerts/{alert_id}/clear",
    response_model=StoredAlert,
    responses=error_responses(403, 404),
    summary="Clear a stored alert (idempotent; the array is not called)",
)
def clear_stored_alert(alert_id: str, db: Database = Depends(get_db),
                       principal: Principal = Depends(authorize)) -> Response:
    row = queries.clear(db.engine, _alert_pk(alert_id), _actor(principal))
    if row is None:
        raise _not_found(alert_id)
    return render.json_response(alert_body(row))
