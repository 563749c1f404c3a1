"""Storages: sync, pause/resume, sync state, removal in the background, access info, SNMP
config, the array's live alerts and capabilities, and Delfin-shaped errors throughout."""

from __future__ import annotations

import time

import sqlalchemy as sa

from storfleet.secrets import generate_key
from storfleet.store.schema import access_info, alert_source, change, inventory, sync_state
from storfleet.store.schema import storage as storage_table
from tests.api.conftest import GUIDE_CURL_BODY, Api, fake_body, running_api


def _count(api: Api, table: sa.Table, storage_id: str) -> int:
    column = table.c.id if table is storage_table else table.c.storage_id
    with api.db.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(column == storage_id)
        ).scalar_one()


def test_sync_is_202_then_409_while_one_is_queued(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with running_api(url, tmp_path / "data", run_jobs=False) as api:  # nothing runs the queue
        storage = api.register(wait=False)
        path = f"/v1/storages/{storage['id']}/sync"
        response = api.post(path)  # registration already queued the first sync
        assert response.status_code == 409
        assert response.json()["error_code"] == "StorageIsSyncing"
        assert api.post("/v1/storages/nope/sync").status_code == 404
        assert api.post("/v1/storages/sync").status_code == 202  # every storage; queued ones kept
        state = api.get(f"/v1/storages/{storage['id']}/sync-state").json()
        assert state["requested"] and not state["running"] and state["sync_status"] == "SYNCING"


def test_sync_pause_resume_and_the_sync_state(api_both: Api) -> None:
    storage = api_both.register()
    sid = storage["id"]
    state = api_both.get(f"/v1/storages/{sid}/sync-state").json()
    kinds = {k["kind"]: k for k in state["kinds"]}
    assert kinds["volume"]["status"] == "synced" and kinds["volume"]["total"] > 0
    assert state["last_status"] == "ok" and state["next_sync_at"]

    paused = api_both.post(f"/v1/storages/{sid}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    response = api_both.post(f"/v1/storages/{sid}/sync")  # asked-for syncs still run
    assert response.status_code == 202 and response.content == b""
    api_both.wait_synced(sid)
    resumed = api_both.post(f"/v1/storages/{sid}/resume").json()
    assert resumed["paused"] is False
    assert api_both.post("/v1/storages/nope/pause").status_code == 404


def test_remove_is_202_and_deletes_everything_in_the_background(api_both: Api) -> None:
    storage = api_both.register(fake_body(counts={"volumes": 300}))
    sid = storage["id"]
    api_both.put(
        f"/v1/storages/{sid}/snmp-config",
        json={"version": "SNMPv2c", "host": "10.0.0.1", "community_string": "public-x"},
    )
    response = api_both.delete(f"/v1/storages/{sid}")
    assert response.status_code == 202 and response.content == b""
    assert api_both.get(f"/v1/storages/{sid}").status_code == 404
    assert api_both.get("/v1/storages").json() == {"storages": []}
    assert api_both.delete(f"/v1/storages/{sid}").status_code == 404
    deadline = time.monotonic() + 30
    while _count(api_both, storage_table, sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for table in (storage_table, inventory["volume"], change, access_info, alert_source):
        assert _count(api_both, table, sid) == 0, table.name
    assert api_both.get("/v1/volumes").json() == {"volumes": []}
    # the same array can be registered again
    assert api_both.register()["serial_number"] == storage["serial_number"]


def test_a_removal_interrupted_by_a_restart_is_finished_at_the_next_start(tmp_path) -> None:
    from storfleet.fleet import removal

    url, key = f"sqlite:///{tmp_path / 'api.db'}", generate_key()
    with running_api(url, tmp_path / "data", secret_key=key) as api:
        sid = api.register()["id"]
        assert removal.begin(api.db, sid)  # accepted, then the process "dies"
    with running_api(url, tmp_path / "data", secret_key=key) as api:
        deadline = time.monotonic() + 30
        while _count(api, storage_table, sid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _count(api, storage_table, sid) == 0
        assert _count(api, inventory["volume"], sid) == 0


def test_access_info_never_shows_a_secret_and_updates_are_verified(synced) -> None:
    api, stored = synced
    sid = stored["id"]
    info = api.get(f"/v1/storages/{sid}/access-info").json()
    assert info["rest"] == {"host": "127.0.0.1", "port": 22, "username": "username"}
    assert info["vendor"] == "fake_storage" and info["storage_name"] == stored["name"]
    assert info["ssh"] == {} and info["extra_attributes"] == {}

    response = api.put(f"/v1/storages/{sid}/access-info", json={"rest": {"password": "rotated-9"}})
    assert response.status_code == 200, response.text
    assert "rotated-9" not in response.text and "password" not in response.json()["rest"]
    with api.db.engine.connect() as conn:
        raw = conn.execute(sa.select(access_info).where(access_info.c.storage_id == sid)).one()
    assert "rotated-9" not in str(tuple(raw))

    other = api.put(f"/v1/storages/{sid}/access-info", json={"extra_attributes": {"seed": 99}})
    assert other.status_code == 400
    assert other.json()["error_code"] == "StorageSerialNumberMismatch"
    assert api.put("/v1/storages/nope/access-info", json={}).status_code == 404
    listed = api.get("/v1/access-infos").json()["access_infos"]
    assert [i["storage_id"] for i in listed] == [sid]
    assert "password" not in str(listed)


def test_snmp_config_is_stored_encrypted_and_returned_without_secrets(synced) -> None:
    api, stored = synced
    path = f"/v1/storages/{stored['id']}/snmp-config"
    assert api.get(path).status_code == 404
    v3 = {
        "version": "snmpv3",
        "host": "10.0.0.1,10.0.0.2",
        "username": "trapper",
        "engine_id": "800000000001",
        "security_level": "authPriv",
        "auth_protocol": "HMACSHA",
        "auth_key": "auth-key-secret-1",
        "privacy_protocol": "AES",
        "privacy_key": "priv-key-secret-1",
    }
    response = api.put(path, json=v3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "SNMPv3" and body["host"] == "10.0.0.1,10.0.0.2"
    assert "secret-1" not in response.text
    assert api.get(path).json() == body
    for listing in ("/v1/snmp-configs", "/v1/storages/snmp-configs"):
        assert api.get(listing).json() == {"snmp_configs": [body]}
    with api.db.engine.connect() as conn:
        raw = conn.execute(sa.select(alert_source)).one()
    assert "secret-1" not in str(tuple(raw))
    assert api.db.keyring.decrypt_json(raw.secret)["auth_key"] == "auth-key-secret-1"

    missing = api.put(path, json={**v3, "privacy_key": None})
    assert missing.status_code == 400 and "privacy_key" in missing.json()["error_msg"]
    bad = api.put(path, json={**v3, "auth_protocol": "ROT13"})
    assert bad.status_code == 400 and "auth_protocol" in bad.json()["error_msg"]
    assert api.put(path, json={"version": "SNMPv2c", "host": "h"}).status_code == 400

    assert api.delete(path).status_code == 200
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404


def test_live_alerts_clearing_and_capabilities(synced) -> None:
    api, stored = synced
    base = f"/v1/storages/{stored['id']}"
    alerts = api.get(f"{base}/alerts").json()["alerts"]
    assert alerts and all(a["storage_id"] == stored["id"] for a in alerts)
    first = alerts[0]["sequence_number"]
    assert api.delete(f"{base}/alerts/{first}").status_code == 200
    after = api.get(f"{base}/alerts").json()["alerts"]
    assert first not in {a["sequence_number"] for a in after}
    assert api.post(f"{base}/alerts/sync", json={"begin_time": 0}).status_code == 200
    bad_window = api.get(f"{base}/alerts", params={"begin_time": 10, "end_time": 5})
    assert bad_window.status_code == 400

    capabilities = api.get(f"{base}/capabilities").json()
    assert capabilities["metadata"] == {"vendor": "fake_storage", "model": "fake_driver"}
    assert capabilities["spec"]["is_historic"] is True
    assert "volume" in capabilities["spec"]["resource_metrics"]
    assert api.get("/v1/storages/nope/capabilities").status_code == 404


def test_a_failing_array_is_a_5xx_with_the_reason(api: Api) -> None:
    faults = [{"target": "list_alerts", "type": "unreachable"}]
    sid = api.register(fake_body(faults=faults))["id"]
    response = api.get(f"/v1/storages/{sid}/alerts")
    assert response.status_code == 502
    assert response.json()["error_args"] == ["unreachable"]


def test_every_error_has_delfins_body_never_fastapis(api: Api) -> None:
    cases = [
        api.post(
            "/v1/storages",
            content=b"{not json",
            headers={**api.admin, "Content-Type": "application/json"},
        ),
        api.post("/v1/storages", json={"rest": {"host": "h", "port": "http"}}),
        api.post("/v1/storages", json=["a list"]),
        api.put("/v1/storages/x/snmp-config", json={"host": "h"}),
        api.get("/v1/storages/x/alerts", params={"begin_time": "yesterday"}),
        api.get("/v1/no-such-thing"),
        api.client.patch("/v1/storages", headers=api.admin),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        assert set(response.json()) == {"error_code", "error_msg", "error_args"}, response.text
    assert cases[0].status_code == 400 and "JSON" in cases[0].json()["error_msg"]
    assert cases[1].json()["error_args"] == ["body.rest.port"]
    assert cases[-1].status_code == 405 and cases[-1].headers["Allow"] == "GET, POST"


def test_registration_accepts_vendor_and_model_at_the_top_level_too(api: Api) -> None:
    body = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "name": "lab array",
        "rest": {k: v for k, v in GUIDE_CURL_BODY["rest"].items() if k not in ("vendor", "model")},
    }
    storage = api.register(body)
    assert storage["name"] == "lab array" and storage["model"] == "fake_driver"


def test_removing_a_storage_in_the_middle_of_its_sync(api: Api) -> None:
    """The sync loses its lease and stops writing; nothing of the storage is left, not
    even the sync state the interrupted sync records on its way out."""
    sid = api.register(fake_body(latency_ms=400), wait=False)["id"]
    deadline = time.monotonic() + 10
    while not api.get(f"/v1/storages/{sid}/sync-state").json()["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.delete(f"/v1/storages/{sid}").status_code == 202
    deadline = time.monotonic() + 30
    tables = (storage_table, inventory["volume"], change, sync_state)
    while any(_count(api, table, sid) for table in tables):
        assert time.monotonic() < deadline, {t.name: _count(api, t, sid) for t in tables}
        time.sleep(0.1)
