"""storfleet's change feed: ``GET /v1/changes?cursor=&limit=&storage_id=&kind=``.

The cursor is the id of the last change read; change ids are assigned in commit order (the
sync serialises its change inserts), so a reader polling with ``next_cursor`` misses
nothing and reads nothing twice.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response

from storfleet.api import render
from storfleet.api.deps import PROTECTED, authorize, read_conn
from storfleet.api.errors import bad_request, error_responses
from storfleet.api.params import MAX_LIMIT, query_param, refuse_unknown
from storfleet.api.render import LIST_HEADERS
from storfleet.api.schemas import ChangeList
from storfleet.resources import ALL_KINDS, kind_for
from storfleet.store.schema import change

router = APIRouter(
    prefix="/v1", tags=["changes"], dependencies=[Depends(authorize)], responses=PROTECTED
)
PARAMS = ("cursor", "limit", "storage_id", "kind")
CURSOR_DIGITS = 18
KIND_SPELLINGS = sorted({s for k in ALL_KINDS for s in k.delfin_spellings})


def parse_changes_query(params: Any) -> tuple[int, int, str | None, str | None]:
    cursor_text = params.get("cursor") or "0"
    if not (cursor_text.isdigit() and len(cursor_text) <= CURSOR_DIGITS):
        raise bad_request(
            f"cursor must be a cursor from next_cursor, got {cursor_text!r}", "cursor"
        )
    limit_text = params.get("limit", str(MAX_LIMIT))
    if not (limit_text.isdigit() and len(limit_text) < 6 and 1 <= int(limit_text) <= MAX_LIMIT):
        raise bad_request(f"limit must be an integer in 1..{MAX_LIMIT}", "limit")
    kind = params.get("kind")
    if kind:
        try:
            kind = kind_for(kind).name
        except KeyError as exc:
            raise bad_request(str(exc.args[0]), kind) from None
    return int(cursor_text), int(limit_text), params.get("storage_id") or None, kind or None


def read_changes(
    conn: sa.Connection, cursor: int, limit: int, storage_id: str | None, kind: str | None
) -> tuple[list[sa.Row], int]:
    where = [change.c.id > cursor]
    if storage_id is not None:
        where.append(change.c.storage_id == storage_id)
    if kind is not None:
        where.append(change.c.kind == kind)
    rows = conn.execute(sa.select(change).where(*where).order_by(change.c.id).limit(limit)).all()
    total = conn.execute(sa.select(sa.func.count()).select_from(change).where(*where)).scalar()
    return rows, total


def change_body(row: sa.Row) -> dict[str, Any]:
    m = row._mapping
    return {
        "cursor": str(m["id"]),
        "storage_id": m["storage_id"],
        "kind": m["kind"],
        "native_id": m["native_id"],
        "op": m["op"],
        "fields": m["fields"],
        "at": render.timestamp(m["at"]),
    }


@router.get(
    "/changes",
    response_model=ChangeList,
    openapi_extra={
        "parameters": [
            query_param(
                "cursor",
                {"type": "string", "pattern": f"^[0-9]{{0,{CURSOR_DIGITS}}}$"},
                "next_cursor of the previous read (start: empty)",
            ),
            query_param(
                "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Page size"
            ),
            query_param("storage_id", {"type": "string"}, "Only this storage's changes"),
            query_param(
                "kind",
                {"type": "string", "enum": KIND_SPELLINGS},
                "Only this kind, in any spelling (volume, volumes, storage-pools...)",
            ),
        ]
    },
    responses={200: {"headers": LIST_HEADERS}, **error_responses(400)},
    summary="Inventory changes after a cursor, oldest first",
)
def list_changes(request: Request, conn: sa.Connection = Depends(read_conn)) -> Response:
    refuse_unknown(request, PARAMS)
    cursor, limit, storage_id, kind = parse_changes_query(request.query_params)
    rows, total = read_changes(conn, cursor, limit, storage_id, kind)
    next_cursor = str(rows[-1].id) if rows else str(cursor)
    body = {"changes": [change_body(r) for r in rows], "next_cursor": next_cursor}
    return render.json_response(body, headers=render.list_headers(total))
