"""``GET /v1/audit-log``: who changed what, newest first (admin tokens only: the log
shows every caller's activity)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response

from storfleet.api import render
from storfleet.api.deps import PROTECTED, authorize, read_conn, require_admin
from storfleet.api.errors import error_responses
from storfleet.api.params import MAX_LIMIT, refuse_unknown
from storfleet.api.render import LIST_HEADERS
from storfleet.api.schemas import AuditList
from storfleet.auth import audit
from storfleet.store.schema import audit_log

router = APIRouter(
    prefix="/v1",
    tags=["audit"],
    dependencies=[Depends(authorize), Depends(require_admin)],
    responses={**PROTECTED, **error_responses(403)},
)


def entry_body(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "at": render.timestamp(entry["at"])}


@router.get(
    "/audit-log",
    response_model=AuditList,
    responses={200: {"headers": LIST_HEADERS}, **error_responses(400)},
    summary="Audit log of mutating calls, newest first",
)
def list_audit_log(
    request: Request,
    limit: int = Query(default=100, ge=1, le=MAX_LIMIT),
    before: int | None = Query(
        default=None, ge=0, le=2**63 - 1, description="id of the last entry seen"
    ),
    actor: str | None = Query(default=None, description="token id, or anonymous"),
    conn: sa.Connection = Depends(read_conn),
) -> Response:
    refuse_unknown(request, ("limit", "before", "actor"))
    entries = audit.entries(conn, limit=limit, before=before, actor=actor)
    count = sa.select(sa.func.count()).select_from(audit_log)
    if actor is not None:
        count = count.where(audit_log.c.actor == actor)
    total = conn.execute(count).scalar()
    return render.json_response(
        {"entries": [entry_body(e) for e in entries]}, headers=render.list_headers(total)
    )
