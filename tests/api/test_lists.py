"""Lists: Delfin's paging, sorting and filters on its paths, storfleet's strict ones on its
own, totals on every list, and keyset (marker) pages that agree with offset pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storfleet.store import write
from storfleet.store.schema import inventory
from tests.api.conftest import Api, fake_body, running_api

VOLUMES = 1500


@pytest.fixture(scope="module")
def many(module_database_url: str, tmp_path_factory) -> Iterator[tuple[Api, dict]]:
    """1500 volumes, a third of them with no type and a fifth with no pool (NULLs sort
    differently on SQLite and PostgreSQL; markers must follow each database)."""
    data_dir = tmp_path_factory.mktemp("many")
    with running_api(module_database_url, data_dir) as api:
        storage = api.register(fake_body(counts={"volumes": VOLUMES}))
        volume = inventory["volume"]
        with write(api.db.engine) as conn:
            ids = list(conn.execute(sa.select(volume.c.id).order_by(volume.c.id)).scalars())
            conn.execute(sa.update(volume).where(volume.c.id.in_(ids[::3])).values(type=None))
            conn.execute(
                sa.update(volume)
                .where(volume.c.id.in_(ids[::5]))
                .values(native_storage_pool_id=None)
            )
        yield api, storage


def _walk(api: Api, path: str, page: int, **params) -> list[str]:
    """Every id of a list, page by page with markers."""
    ids: list[str] = []
    marker = None
    while True:
        query = {**params, "limit": page, **({"marker": marker} if marker else {})}
        response = api.get(path, params=query)
        assert response.status_code == 200, response.text
        (items,) = response.json().values()
        ids += [item["id"] for item in items]
        if len(items) < page:
            return ids
        marker = response.headers["X-Next-Marker"]
        assert marker == items[-1]["id"]


def _by_offset(api: Api, path: str, total: int, **params) -> list[str]:
    ids: list[str] = []
    for offset in range(0, total, 1000):
        response = api.get(path, params={**params, "limit": 1000, "offset": offset})
        (items,) = response.json().values()
        ids += [item["id"] for item in items]
    return ids


@pytest.mark.parametrize(
    "sort",
    [
        None,
        "name:asc",
        "name:desc",
        "type:asc",
        "type:desc,name:asc",
        "native_storage_pool_id:asc,total_capacity:desc,created_at:asc",
    ],
)
def test_marker_pages_walk_the_same_order_as_offset_pages(many, sort) -> None:
    api, _ = many
    params = {"sort": sort} if sort else {}
    by_offset = _by_offset(api, "/v1/volumes", VOLUMES, **params)
    assert len(by_offset) == len(set(by_offset)) == VOLUMES
    assert _walk(api, "/v1/volumes", 97, **params) == by_offset


def test_default_order_limits_totals_and_the_older_sort_parameters(many) -> None:
    api, storage = many
    response = api.get("/v1/volumes", params={"limit": 5000})
    volumes = response.json()["volumes"]
    assert len(volumes) == 1000  # capped at Delfin's maximum
    assert response.headers["X-Total-Count"] == str(VOLUMES)
    created = [(v["created_at"], v["id"]) for v in volumes]
    assert created == sorted(created, reverse=True)  # created_at descending by default

    new_style = api.get("/v1/volumes", params={"sort": "name:asc", "limit": 50}).json()
    old_style = api.get(
        "/v1/volumes", params={"sort_key": "name", "sort_dir": "asc", "limit": 50}
    ).json()
    assert new_style == old_style
    names = [v["name"] for v in new_style["volumes"]]
    assert names == sorted(names)

    response = api.get("/v1/volumes", params={"limit": 0})
    assert response.json() == {"volumes": []} and response.headers["X-Total-Count"] == "1500"


def test_filters_are_exact_and_unknown_parameters_are_named(many) -> None:
    api, storage = many
    everything = _by_offset(api, "/v1/volumes", VOLUMES)
    one = api.get("/v1/volumes", params={"limit": 1}).json()["volumes"][0]
    response = api.get(
        "/v1/volumes",
        params={"native_volume_id": one["native_volume_id"], "colour": "blue", "size": 3},
    )
    assert [v["id"] for v in response.json()["volumes"]] == [one["id"]]
    assert response.headers["X-Total-Count"] == "1"
    assert response.headers["X-Ignored-Params"] == "colour,size"

    response = api.get("/v1/volumes", params={"storage_id": storage["id"], "limit": 0})
    assert response.headers["X-Total-Count"] == str(len(everything))
    response = api.get("/v1/volumes", params={"storage_id": "another", "limit": 0})
    assert response.headers["X-Total-Count"] == "0"

    statuses = {v["status"] for v in api.get("/v1/volumes").json()["volumes"]}
    for status in statuses:
        found = api.get("/v1/volumes", params={"status": status}).json()["volumes"]
        assert found and {v["status"] for v in found} == {status}
    both = api.get("/v1/volumes", params=[("status", s) for s in statuses])
    assert both.headers["X-Total-Count"] == str(VOLUMES)


def test_storage_scoped_lists_and_their_404(many) -> None:
    api, storage = many
    response = api.get(f"/v1/storages/{storage['id']}/volumes", params={"limit": 3})
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == str(VOLUMES)
    response = api.get("/v1/storages/nope/storage-hosts")
    assert response.status_code == 404
    assert response.json()["error_code"] == "StorageNotFound"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"offset": str(2**70)}, "offset"),
        ({"sort": "colour:asc"}, "colour"),
        ({"sort": "name:sideways"}, "name"),
        ({"sort_key": "colour"}, "colour"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(api: Api, params, named) -> None:
    response = api.get("/v1/volumes", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "InvalidInput" and named in body["error_args"]
    assert named in body["error_msg"]


def test_an_unknown_marker_is_404(api: Api) -> None:
    response = api.get("/v1/volumes", params={"marker": "no-such-id"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "MarkerNotFound"


def test_storfleets_own_lists_refuse_what_they_do_not_know(synced) -> None:
    api, storage = synced
    response = api.get("/v1/resources/volume", params={"colour": "blue"})
    assert response.status_code == 400
    assert response.json()["error_args"] == ["colour"] and "colour" in response.json()["error_msg"]
    response = api.get("/v1/resources/volume", params={"limit": 5000})
    assert response.status_code == 400
    # every declared field filters there, not only Delfin's documented ones
    wwn = api.get("/v1/resources/volume", params={"limit": 1}).json()["volumes"][0]["wwn"]
    response = api.get("/v1/resources/volume", params={"wwn": wwn, "storage_id": storage["id"]})
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "1"
    response = api.get("/v1/resources/volume", params={"total_capacity": "big"})
    assert response.status_code == 400
    # relations are listed too
    response = api.get("/v1/resources/volume_group_volume")
    assert response.status_code == 200 and response.json()["vol_grp_vol_rels"]
