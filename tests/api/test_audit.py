"""The audit log records every mutating call of a session (who, what, when, result) and
never a secret."""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.auth.audit import redact, redact_query
from storfleet.store.schema import audit_log
from tests.api.conftest import GUIDE_CURL_BODY, Api, TestClient

SECRETS = ("pw-array-5521", "community-7781", "authkey-1234567", "privkey-7654321")


def test_a_sessions_calls_are_recorded_without_secrets(api: Api) -> None:
    body = {**GUIDE_CURL_BODY, "rest": {**GUIDE_CURL_BODY["rest"], "password": SECRETS[0]}}
    storage = api.register(body)
    sid = storage["id"]
    calls = [
        api.put(
            f"/v1/storages/{sid}/snmp-config",
            json={"version": "SNMPv2c", "host": "10.0.0.9", "community_string": SECRETS[1]},
        ),
        api.put(
            f"/v1/storages/{sid}/snmp-config",
            json={
                "version": "SNMPv3",
                "host": "10.0.0.9",
                "username": "u",
                "engine_id": "8000000001",
                "security_level": "authPriv",
                "auth_protocol": "HMACMD5",
                "auth_key": SECRETS[2],
                "privacy_protocol": "DES",
                "privacy_key": SECRETS[3],
            },
        ),
        api.put(f"/v1/storages/{sid}/access-info", json={"rest": {"password": SECRETS[0]}}),
        api.post(f"/v1/storages/{sid}/pause"),
        api.client.post(f"/v1/storages/{sid}/resume", headers=api.reader),  # 403
        api.client.delete(f"/v1/storages/{sid}"),  # 401
        api.post("/v1/storages", json={"rest": {"password": SECRETS[0]}}),  # 400
        api.delete(f"/v1/storages/{sid}"),
    ]
    statuses = [201] + [c.status_code for c in calls]
    assert statuses == [201, 200, 200, 200, 200, 403, 401, 400, 202]
    api.get("/v1/storages")  # reads are not audited

    entries = api.get("/v1/audit-log", params={"limit": 50}).json()["entries"]
    assert [e["status"] for e in reversed(entries)] == statuses
    first = entries[-1]
    assert (first["method"], first["path"], first["role"]) == ("POST", "/v1/storages", "admin")
    assert first["actor"] == api.admin["Authorization"].split("_")[1]
    assert first["body"]["rest"]["password"] == "***" and first["outcome"] == "ok"
    denied = {e["status"]: e for e in entries}
    assert denied[403]["role"] == "reader" and denied[403]["outcome"].startswith("Forbidden")
    assert denied[401]["actor"] == "anonymous"
    assert denied[400]["outcome"].startswith("InvalidInput")
    assert all(e["at"] and e["duration_ms"] is not None for e in entries)

    with api.db.engine.connect() as conn:
        everything = str(conn.execute(sa.select(audit_log)).all())
    for secret in SECRETS:
        assert secret not in everything
    for header in (api.admin, api.reader):
        assert header["Authorization"].split("_", 2)[2] not in everything


def test_redaction_is_by_key_name_at_any_depth() -> None:
    value = {"a": [{"Password": "x", "n": 1}], "extra": {"api_key": "k", "token": None}}
    assert redact(value) == {
        "a": [{"Password": "***", "n": 1}],
        "extra": {"api_key": "***", "token": None},
    }
    assert redact_query("limit=1&token=abc") == "limit=1&token=%2A%2A%2A"


def test_a_call_that_crashes_is_audited_as_a_500(api: Api) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    api.client.app.add_api_route("/v1/crash", crash, methods=["POST"])
    client = TestClient(api.client.app, raise_server_exceptions=False)
    response = client.post("/v1/crash", headers=api.admin)
    assert response.status_code == 500
    assert response.json()["error_code"] == "InternalError" and "boom" not in response.text
    entry = api.get("/v1/audit-log", params={"limit": 1}).json()["entries"][0]
    assert (entry["path"], entry["status"]) == ("/v1/crash", 500)
