"""Performance metrics over HTTP: Prometheus' ``GET /metrics`` and the history and
collection settings of a storage under ``/v1/storages/{id}/metrics``.

``prometheus_router`` carries no auth of its own: the application decides (a token unless
``metrics_open``; see ``scrape_dependencies``), so Prometheus can be given a bearer token
or the endpoint opened on a trusted network.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from storfleet.alerts.prometheus import TrapCollector
from storfleet.api import queries, render
from storfleet.api.deps import MUTATING, PROTECTED, authorize, get_db
from storfleet.api.errors import bad_request, error_responses, storage_not_found
from storfleet.metrics import exposition, history, state
from storfleet.metrics.exposition import CONTENT_TYPE
from storfleet.metrics.naming import DELFIN_TYPES, RESOURCE_TYPES, resource_type
from storfleet.metrics.prometheus import FleetCollector
from storfleet.metrics.status import check_choices, collection_status
from storfleet.store import write
from storfleet.store.database import Database

MAX_SERIES = 1000
DEFAULT_SPAN_MS = 3600_000

prometheus_router = APIRouter(tags=["performance"])


@prometheus_router.get(
    "/metrics",
    summary="Prometheus exposition: latest performance values and storfleet's health",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Exposition text"},
        **error_responses(401),
    },
)
def prometheus_metrics(request: Request) -> Response:
    db: Database = request.app.state.db
    # The process that runs the scheduler collects and holds the latest values; any
    # other node reads them from the history table.
    collecting = getattr(request.app.state, "runner", None) is not None
    source = getattr(request.app.state, "metrics_source", None) or (
        "memory" if collecting else "database"
    )
    body = FleetCollector(db, source).render()
    traps = getattr(request.app.state, "traps", None)
    if traps is not None:  # this process receives traps: its receiver's counters
        body += exposition.render(TrapCollector(traps.snapshot).collect())
    return Response(body, media_type=CONTENT_TYPE)


router = APIRouter(
    prefix="/v1", tags=["performance"], dependencies=[Depends(authorize)], responses=PROTECTED
)


def _instant_ms(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(
            f"{name} must be epoch milliseconds or ISO-8601, got {value!r}", value
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _visible(db: Database, storage_id: str) -> None:
    with db.engine.connect() as conn:
        if queries.visible_storage(conn, storage_id) is None:
            raise storage_not_found(storage_id)


@router.get(
    "/storages/{id}/metrics",
    responses=error_responses(400, 404),
    summary="Performance history of a storage (raw recent hours, then 5-min and 1-h rollups)",
)
def metric_history(
    id: str,  # noqa: A002 - Delfin's parameter name
    resource_type_: str | None = Query(
        None, alias="resource_type", description="e.g. volume or storagePool"
    ),
    resource_id: str | None = Query(None),
    metric: str | None = Query(None, description="Delfin's name, e.g. readIops"),
    start: str | None = Query(None, description="epoch ms or ISO-8601; default end - 1 h"),
    end: str | None = Query(None, description="epoch ms or ISO-8601; default now"),
    step: int | None = Query(
        None,
        description="0 (raw), 300 or 3600; default: the finest resolution that still holds start",
    ),
    db: Database = Depends(get_db),
) -> Response:
    _visible(db, id)
    now_ms = int(time.time() * 1000)
    end_ms = _instant_ms(end, "end", now_ms)
    start_ms = _instant_ms(start, "start", end_ms - DEFAULT_SPAN_MS)
    if start_ms > end_ms:
        raise bad_request("start must not be after end", start_ms, end_ms)
    types = None
    if resource_type_:
        spelled = resource_type(resource_type_)
        if spelled not in RESOURCE_TYPES.values():
            raise bad_request(
                f"unknown resource_type {resource_type_!r} (known: "
                f"{', '.join(RESOURCE_TYPES.values())})",
                resource_type_,
            )
        types = [spelled]
    if step is None:
        step = history.choose_step(start_ms, now_ms, db.settings)
    elif step not in (0, *history.ROLLUP_STEPS):
        raise bad_request(f"step must be 0, 300 or 3600, got {step}", step)
    with db.engine.connect() as conn:
        series, truncated = history.query(
            conn,
            id,
            resource_types=types,
            resource_id=resource_id,
            metric=metric,
            start_ms=start_ms,
            end_ms=end_ms,
            step=step,
            max_series=MAX_SERIES,
        )
    for item in series:
        item["delfin_resource_type"] = DELFIN_TYPES.get(item["resource_type"])
    body = {
        "storage_id": id,
        "start": start_ms,
        "end": end_ms,
        "step_s": step,
        "columns": ["ts_ms", "value"] if step == 0 else ["ts_ms", "avg", "min", "max"],
        "truncated": truncated,
        "series": series,
    }
    return render.json_response(body)


@router.get(
    "/storages/{id}/metrics/collection",
    responses=error_responses(404),
    summary="Collection status: interval, lag, failures, lost windows, capability problems",
)
def show_collection(
    id: str,  # noqa: A002
    db: Database = Depends(get_db),
) -> Response:
    _visible(db, id)
    with db.engine.connect() as conn:
        return render.json_response(collection_status(conn, id, db.settings))


@router.put(
    "/storages/{id}/metrics/collection",
    responses={**error_responses(400, 404), **MUTATING},
    summary="Set a storage's collection interval, per-resource detail and metric selection",
)
def update_collection(
    id: str,  # noqa: A002
    body: dict[str, Any] = Body(
        ...,
        examples=[{"interval_s": 60, "detail": ["volume"], "metrics": None}],
        description="Any of interval_s (seconds, null: the driver's or the default), "
        "detail (resource types whose every series /metrics shows), metrics (names to "
        "collect, null: all the driver declares)",
    ),
    db: Database = Depends(get_db),
) -> Response:
    _visible(db, id)
    unknown = set(body) - {"interval_s", "detail", "metrics"}
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(sorted(unknown))}", *sorted(unknown))
    try:
        interval_s, detail, metrics = check_choices(
            body.get("interval_s"), body.get("detail"), body.get("metrics")
        )
    except (ValueError, TypeError) as exc:
        raise bad_request(str(exc)) from None
    choices = {
        key: value
        for key, value in (("interval_s", interval_s), ("detail", detail), ("metrics", metrics))
        if key in body
    }
    with write(db.engine) as conn:
        state.configure(conn, id, **choices)
    with db.engine.connect() as conn:
        return render.json_response(collection_status(conn, id, db.settings))
