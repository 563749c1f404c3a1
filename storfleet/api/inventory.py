"""The inventory, kind by kind, generated from the resource declarations.

* Delfin's paths: ``/v1/<kind path>`` and ``/v1/<kind path>/{id}`` (``/v1/volumes``...),
  and ``/v1/storages/{storage_id}/<kind path>`` (Delfin has these for hosts, host groups,
  port groups, volume groups, masking views and initiators; storfleet serves every kind
  both ways). Delfin's list rules: documented filters, unknown parameters ignored.
* storfleet's own ``/v1/resources/<kind>``: every kind, the membership relations too,
  every declared field a filter, unknown parameters refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response

from storfleet.api import queries, render
from storfleet.api.deps import PROTECTED, authorize, read_conn
from storfleet.api.errors import ApiError, error_responses, storage_not_found
from storfleet.api.params import Listing, delfin_listing, strict_listing
from storfleet.api.render import LIST_HEADERS
from storfleet.api.schemas import item_model, list_model
from storfleet.resources import ALL_KINDS, INVENTORY_KINDS, Kind
from storfleet.store.schema import table_for

router = APIRouter(
    prefix="/v1", tags=["inventory"], dependencies=[Depends(authorize)], responses=PROTECTED
)
resources_router = APIRouter(
    prefix="/v1/resources",
    tags=["resources"],
    dependencies=[Depends(authorize)],
    responses=PROTECTED,
)

# The kinds Delfin serves under /v1/<path> and /v1/storages/{id}/<path>.
DELFIN_KINDS = tuple(k for k in INVENTORY_KINDS if not k.relation and k.path)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def list_page(
    conn: sa.Connection,
    kind: Kind,
    listing: Listing,
    request: Request,
    where: Sequence[sa.ColumnElement] = (),
) -> Response:
    query = listing.parse(request.query_params)
    page = queries.fetch_page(conn, kind, query, where)
    bodies = render.inventory_bodies(kind, page.rows, queries.members(conn, kind, page.rows))
    return render.page_response(kind, page, query, bodies)


def _lister(kind: Kind, listing: Listing) -> Callable[..., Response]:
    def list_kind(request: Request, conn: sa.Connection = Depends(read_conn)) -> Response:
        return list_page(conn, kind, listing, request)

    return list_kind


def _scoped_lister(kind: Kind, listing: Listing) -> Callable[..., Response]:
    def list_kind_of_storage(
        storage_id: str, request: Request, conn: sa.Connection = Depends(read_conn)
    ) -> Response:
        if queries.visible_storage(conn, storage_id) is None:
            raise storage_not_found(storage_id)
        where = [table_for(kind).c.storage_id == storage_id]
        return list_page(conn, kind, listing, request, where)

    return list_kind_of_storage


def _shower(kind: Kind) -> Callable[..., Response]:
    def show_kind(id: str, conn: sa.Connection = Depends(read_conn)) -> Response:  # noqa: A002
        row = queries.fetch_one(conn, kind, id)
        if row is None:
            raise ApiError(404, f"{_pascal(kind.name)}NotFound", f"{kind.name} {id} not found", id)
        bodies = render.inventory_bodies(kind, [row], queries.members(conn, kind, [row]))
        return render.json_response(bodies[0])

    return show_kind


def _add_list(target: APIRouter, path: str, kind: Kind, listing: Listing, endpoint, **kw) -> None:  # noqa: ANN001
    target.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        response_model=list_model(kind),
        openapi_extra={"parameters": listing.openapi_parameters()},
        responses={200: {"headers": LIST_HEADERS}, **error_responses(400, 404)},
        **kw,
    )


for _kind in DELFIN_KINDS:
    _listing = delfin_listing(_kind)
    _add_list(
        router,
        f"/{_kind.path}",
        _kind,
        _listing,
        _lister(_kind, _listing),
        name=f"list_{_kind.collection}",
        summary=f"List {_kind.collection.replace('_', ' ')}",
    )
    router.add_api_route(
        f"/{_kind.path}/{{id}}",
        _shower(_kind),
        methods=["GET"],
        response_model=item_model(_kind),
        responses=error_responses(404),
        name=f"show_{_kind.name}",
        summary=f"Show a {_kind.name.replace('_', ' ')}",
    )
    _scoped = delfin_listing(_kind, scoped=True)
    _add_list(
        router,
        f"/storages/{{storage_id}}/{_kind.path}",
        _kind,
        _scoped,
        _scoped_lister(_kind, _scoped),
        name=f"list_{_kind.collection}_of_storage",
        summary=f"List the {_kind.collection.replace('_', ' ')} of a storage",
    )

for _kind in ALL_KINDS:
    _listing = strict_listing(_kind)
    _add_list(
        resources_router,
        f"/{_kind.name}",
        _kind,
        _listing,
        _lister(_kind, _listing),
        name=f"resources_{_kind.name}",
        summary=f"List {_kind.name} records (every field filters; unknown parameters refused)",
    )
