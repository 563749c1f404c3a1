"""The change feed: /v1/changes with a cursor, filters in any kind spelling, strict params."""

from __future__ import annotations

from tests.api.conftest import Api, fake_body


def _read_all(api: Api, limit: int, **params) -> list[dict]:
    changes, cursor = [], ""
    while True:
        page = api.get("/v1/changes", params={"cursor": cursor, "limit": limit, **params}).json()
        changes += page["changes"]
        if not page["changes"]:
            assert page["next_cursor"] == (cursor or "0")
            return changes
        cursor = page["next_cursor"]
        assert cursor == page["changes"][-1]["cursor"]


def test_the_feed_reads_every_change_once_in_order(api_both: Api) -> None:
    storage = api_both.register(fake_body(churn=0.3, generation=0, counts={"volumes": 60}))
    sid = storage["id"]
    initial = _read_all(api_both, 1000)
    assert {c["op"] for c in initial} == {"initial_load"}
    assert {c["kind"] for c in initial} >= {"volume", "storage_pool", "port"}

    update = {"extra_attributes": {"churn": 0.3, "generation": 1, "counts": {"volumes": 60}}}
    assert api_both.put(f"/v1/storages/{sid}/access-info", json=update).status_code == 200
    assert api_both.post(f"/v1/storages/{sid}/sync").status_code == 202
    api_both.wait_synced(sid)

    everything = _read_all(api_both, 1000)
    assert {"added", "changed", "removed"} <= {c["op"] for c in everything}
    assert _read_all(api_both, 7) == everything  # small pages: same changes, same order
    cursors = [int(c["cursor"]) for c in everything]
    assert cursors == sorted(set(cursors))
    changed = next(c for c in everything if c["op"] == "changed")
    assert all(isinstance(v, list) and len(v) == 2 for v in changed["fields"].values())

    volumes = _read_all(api_both, 1000, kind="volumes")  # Delfin's spelling
    assert volumes == [c for c in everything if c["kind"] == "volume"]
    response = api_both.get("/v1/changes", params={"storage_id": sid, "limit": 1})
    assert response.headers["X-Total-Count"] == str(len(everything))
    assert api_both.get("/v1/changes", params={"storage_id": "other"}).json()["changes"] == []


def test_the_feed_refuses_what_it_does_not_know(api: Api) -> None:
    for params, named in (
        ({"since": "yesterday"}, "since"),
        ({"cursor": "abc"}, "cursor"),
        ({"kind": "spaceships"}, "spaceships"),
        ({"limit": "0"}, "limit"),
    ):
        response = api.get("/v1/changes", params=params)
        assert response.status_code == 400, params
        assert named in response.json()["error_msg"]
