"""Rows to Delfin-shaped JSON bodies.

Lists of up to 1000 rows are rendered by hand and serialised once (``json_response``)
instead of validated through Pydantic row by row: the response models in
``storfleet.api.schemas`` document the same shape, and the tests check the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi.responses import Response

from storfleet.api.params import ListQuery
from storfleet.api.queries import MEMBER_LISTS, Page, column_names
from storfleet.resources import STORAGE, Kind

# storfleet's state of a storage, beside Delfin's fields.
STORAGE_STATE = ("sync_status", "sync_state", "sync_error", "paused", "deleted")


def timestamp(value: datetime | None) -> str | None:
    """Delfin's timestamp form: ISO 8601 without offset (UTC), e.g. 2020-09-15T14:10:10.692091."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def storage_body(row: Any) -> dict[str, Any]:
    m = row._mapping if hasattr(row, "_mapping") else row
    body: dict[str, Any] = {"id": m["id"]}
    body.update({name: m[name] for name in STORAGE.field_names})
    body.update({name: m[name] for name in STORAGE_STATE})
    body.update(
        created_at=timestamp(m["created_at"]),
        updated_at=timestamp(m["updated_at"]),
        deleted_at=timestamp(m["deleted_at"]),
    )
    return body


def inventory_bodies(
    kind: Kind, rows: Sequence[sa.Row], members: Mapping[tuple, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Bodies of one kind's rows; groups and hosts carry their member lists."""
    if kind is STORAGE:
        return [storage_body(r) for r in rows]
    names = column_names(kind)  # rows come from queries.columns_of(kind), in this order
    member_list = MEMBER_LISTS.get(kind.name)
    bodies = []
    for row in rows:
        body = dict(zip(names, row, strict=True))
        body["created_at"] = timestamp(body["created_at"])
        body["updated_at"] = timestamp(body["updated_at"])
        if member_list is not None:
            key = (body["storage_id"], body[kind.native_id])
            body[member_list.key] = (members or {}).get(key, [])
        bodies.append(body)
    return bodies


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


try:  # five times faster on a 1000-row page; the standard library does the same otherwise
    import orjson

    _std_dumps = _dumps

    def _dumps(body: Any) -> bytes:  # noqa: F811
        try:
            # SQLAlchemy's column names are a str subclass, which orjson takes only with this
            return orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # an integer beyond 64 bits (an audited request body may hold one)
            return _std_dumps(body)
except ImportError:  # pragma: no cover - orjson is optional
    pass


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        _dumps(body), status_code, headers=dict(headers or {}), media_type="application/json"
    )


LIST_HEADERS = {
    "X-Total-Count": {"description": "Items matching the filters", "schema": {"type": "integer"}},
    "X-Ignored-Params": {
        "description": "Query parameters this list ignored (Delfin's lists ignore unknown ones)",
        "schema": {"type": "string"},
    },
    "X-Next-Marker": {
        "description": "Pass as ?marker= for the next page (present when the page is full)",
        "schema": {"type": "string"},
    },
}


def page_response(kind: Kind, page: Page, query: ListQuery, bodies: list[Any]) -> Response:
    """A Delfin list body, ``{collection: [...]}``, with its total and paging headers."""
    full = query.limit > 0 and len(page.rows) == query.limit
    next_marker = page.rows[-1].id if full and page.rows else None
    headers = list_headers(page.total, query.ignored, next_marker)
    return json_response({kind.collection: bodies}, headers=headers)


def list_headers(total: int, ignored: Iterable[str] = (), next_marker: str | None = None):
    headers = {"X-Total-Count": str(total)}
    ignored = list(ignored)
    if ignored:  # percent-encoded: a header value must be Latin-1, a parameter name need not
        headers["X-Ignored-Params"] = ",".join(quote(name, safe="") for name in ignored)
    if next_marker:
        headers["X-Next-Marker"] = next_marker
    return headers


ACCESS_BLOCKS = ("rest", "ssh", "cli", "smis")


def access_info_body(info: Mapping[str, Any]) -> dict[str, Any]:
    """Delfin's access-info body: every block present ({} when unused), no secret."""
    body: dict[str, Any] = {
        "storage_id": info["storage_id"],
        "storage_name": info.get("storage_name"),
        "vendor": info["vendor"],
        "model": info["model"],
    }
    for block in ACCESS_BLOCKS:
        body[block] = dict(info.get(block) or {})
    body["extra_attributes"] = dict(info.get("extra_attributes") or {})
    body["created_at"] = timestamp(info.get("created_at"))
    body["updated_at"] = timestamp(info.get("updated_at"))
    return body


def sync_state_body(
    storage_row: Any,
    job_row: Any,
    kinds: Sequence[Mapping[str, Any]],
    *,
    running: bool,
    default_interval_s: float,
) -> dict[str, Any]:
    m = storage_row._mapping
    job = job_row._mapping if job_row is not None else {}
    return {
        "storage_id": m["id"],
        "sync_status": m["sync_status"],
        "sync_state": m["sync_state"],
        "sync_error": m["sync_error"],
        "paused": m["paused"],
        "sync_interval_s": float(m["sync_interval_s"] or default_interval_s),
        "requested": job.get("requested_at") is not None,
        "running": running,
        "next_sync_at": timestamp(job.get("due_at")),
        "last_started_at": timestamp(job.get("last_started_at")),
        "last_finished_at": timestamp(job.get("last_finished_at")),
        "last_status": job.get("last_status"),
        "kinds": [
            {
                **{k: v for k, v in state.items() if k != "storage_id"},
                "last_attempt_at": timestamp(state.get("last_attempt_at")),
                "last_success_at": timestamp(state.get("last_success_at")),
            }
            for state in kinds
        ],
    }
