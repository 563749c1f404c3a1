"""A Delfin client keeps working: the guide's registration, every collection of the spec,
and bodies shaped as a real Delfin answered (and as the spec says, where the two agree)."""

from __future__ import annotations

import pytest

from storfleet.resources import STORAGE
from tests.api import delfin_spec
from tests.api.conftest import GUIDE_CURL_BODY, Api

STORAGE_KEYS = set(delfin_spec.real_answers()["/v1/storages/{storage_id}"]["shape"])


def _concrete(path: str, storage_id: str, ids: dict[str, str] | None = None) -> str:
    path = path.replace("{storage_id}", storage_id)
    if "/capabilities" in path:
        return path.replace("{id}", storage_id)
    if "{id}" in path:
        collection_path = path.rsplit("/", 1)[0]
        return path.replace("{id}", (ids or {})[collection_path])
    return path


def test_register_as_the_guide_curl_does_then_read_every_collection(api_both: Api) -> None:
    response = api_both.post("/v1/storages", json=GUIDE_CURL_BODY)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created.keys() >= STORAGE_KEYS
    assert created["vendor"] == "fake_storage" and created["sync_status"] == "SYNCING"
    assert "password" not in response.text

    storage = api_both.wait_synced(created["id"])
    assert storage["sync_status"] == "SYNCED" and storage["sync_state"] == "synced"

    empty_allowed = {"/v1/storages/snmp-configs"}  # no SNMP config was set
    for path in delfin_spec.collection_paths():
        for served in {path, delfin_spec.SERVED_ALSO_AT.get(path, path)}:
            response = api_both.get(_concrete(served, storage["id"]))
            assert response.status_code == 200, (served, response.text)
            (collection,) = response.json().values()
            assert int(response.headers["X-Total-Count"]) == len(collection)
            if path not in empty_allowed:
                assert collection, f"{served} answered an empty list"


def _first_ids(api: Api, storage_id: str) -> dict[str, str]:
    """The id of the first item of each global collection (for the detail paths)."""
    ids = {}
    for path in delfin_spec.collection_paths():
        if "{" in path or path.startswith("/v1/storages"):
            continue
        (items,) = api.get(path).json().values()
        ids[path] = items[0]["id"]
    ids["/v1/storages"] = storage_id
    return ids


def test_bodies_carry_every_key_and_type_of_real_delfin_answers(synced) -> None:
    api, storage = synced
    ids = _first_ids(api, storage["id"])
    for path, answer in delfin_spec.real_answers().items():
        for served in {path, answer["served_at"]}:
            response = api.get(_concrete(served, storage["id"], ids))
            assert response.status_code == answer["status"], (served, response.text)
            if answer["status"] != 200:
                continue
            problems = delfin_spec.shape_mismatches(answer["shape"], response.json())
            assert not problems, f"{served}: {problems}"


def test_bodies_validate_against_the_spec_where_it_agrees_with_real_delfin(synced) -> None:
    api, storage = synced
    ids = _first_ids(api, storage["id"])
    for path, answer in delfin_spec.real_answers().items():
        if answer["status"] != 200:
            continue
        body = api.get(_concrete(path, storage["id"], ids)).json()
        problems = delfin_spec.spec_violations(path, body)
        assert not problems, f"{path}: {problems}"


def test_group_bodies_carry_their_members_from_the_relations(synced) -> None:
    api, storage = synced
    base = f"/v1/storages/{storage['id']}"
    relations = {
        "storage-host-groups": ("storage_host_group_host", "native_storage_host_group_id"),
        "port-groups": ("port_group_port", "native_port_group_id"),
        "volume-groups": ("volume_group_volume", "native_volume_group_id"),
    }
    for path, (relation, group_field) in relations.items():
        (groups,) = api.get(f"{base}/{path}").json().values()
        (rows,) = api.get(f"/v1/resources/{relation}").json().values()
        member_field = next(k for k in rows[0] if k.startswith("native_") and k != group_field)
        for group in groups:
            key = next(k for k, v in group.items() if isinstance(v, list))
            expected = sorted(r[member_field] for r in rows if r[group_field] == group[group_field])
            assert group[key] == expected, (path, group["name"])
    hosts = api.get(f"{base}/storage-hosts").json()["storage_hosts"]
    initiators = api.get(f"{base}/storage-host-initiators").json()["storage_host_initiators"]
    for host in hosts:
        expected = sorted(
            i["native_storage_host_initiator_id"]
            for i in initiators
            if i["native_storage_host_id"] == host["native_storage_host_id"]
        )
        assert host["storage_host_initiators"] == expected
    assert any(host["storage_host_initiators"] for host in hosts)


def test_detail_paths_answer_404_with_delfins_error_body(synced) -> None:
    api, _ = synced
    for path in ("/v1/storages/nope", "/v1/volumes/nope", "/v1/storage-pools/nope"):
        response = api.get(path)
        assert response.status_code == 404
        assert set(response.json()) == {"error_code", "error_msg", "error_args"}
    assert api.get("/v1/volumes/nope").json()["error_code"] == "VolumeNotFound"


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (
            {"rest": {"host": "h", "port": 1, "vendor": "nobody", "model": "x"}},
            "StorageDriverNotFound",
            "unknown_driver",
        ),
        ({"rest": {"host": "h", "port": 1}}, "InvalidInput", "invalid_access_info"),
        (
            {
                **GUIDE_CURL_BODY,
                "extra_attributes": {"faults": [{"target": "get_storage", "type": "unreachable"}]},
            },
            "InvalidIpOrPort",
            "unreachable",
        ),
    ],
)
def test_a_refused_registration_says_why_and_saves_nothing(api: Api, body, code, reason) -> None:
    response = api.post("/v1/storages", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error_code"] == code and error["error_args"][0] == reason
    assert api.get("/v1/storages").json() == {STORAGE.collection: []}


def test_the_same_array_cannot_be_registered_twice(synced) -> None:
    api, storage = synced
    response = api.post("/v1/storages", json=GUIDE_CURL_BODY)
    assert response.status_code == 409
    assert response.json()["error_code"] == "StorageAlreadyExists"
    assert storage["id"] in response.json()["error_msg"]


def test_hand_rendered_bodies_match_their_response_models(synced) -> None:
    """Lists are rendered without Pydantic for speed; the documented models must still
    describe them exactly (extra keys would be undocumented, missing ones wrong)."""
    from storfleet.api.schemas import item_model, list_model
    from storfleet.resources import ALL_KINDS

    api, storage = synced
    for kind in ALL_KINDS:
        body = api.get(f"/v1/resources/{kind.name}").json()
        list_model(kind).model_validate(body)
        for item in body[kind.collection]:
            assert set(item) == set(item_model(kind).model_fields), kind.name
    detail = api.get(f"/v1/storages/{storage['id']}").json()
    assert set(detail) == set(item_model(ALL_KINDS[0]).model_fields)
