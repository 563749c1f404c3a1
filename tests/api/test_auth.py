"""Authentication and roles: 401 without a valid token everywhere but the probes, 403 for
readers on every mutating call, hashed tokens, the first-start admin token."""

from __future__ import annotations

import logging
import re
import stat

import pytest
import sqlalchemy as sa

from storfleet.auth.tokens import ADMIN_TOKEN_FILE, create_token, revoke_token
from storfleet.store.schema import api_token
from tests.api.conftest import Api, running_api

OPEN = {"/healthz", "/readyz"}
READ = {"get", "head", "options"}


def _operations(api: Api) -> list[tuple[str, str]]:
    paths = api.client.get("/openapi.json").json()["paths"]
    return [
        (method, re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        for method in operations
        if path not in OPEN
    ]


def _call(api: Api, method: str, path: str, headers: dict[str, str]):
    body = {"json": {}} if method in ("post", "put") else {}
    return api.client.request(method.upper(), path, headers=headers, **body)


def test_every_protected_operation_needs_a_valid_token(api: Api) -> None:
    operations = _operations(api)
    assert len(operations) > 60
    _, revoked = create_token(api.db.engine, "admin", "soon revoked")
    revoke_token(api.db.engine, revoked.split("_")[1])
    for headers in (
        {},
        {"Authorization": "Bearer sft_nothing_here"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {revoked}"},
    ):
        for method, path in operations:
            response = _call(api, method, path, headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error_code"] == "NotAuthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    for path in OPEN:
        assert api.client.get(path).status_code == 200


def test_a_reader_may_read_but_never_change_anything(synced) -> None:
    api, _ = synced
    operations = _operations(api)
    mutating = [(m, p) for m, p in operations if m not in READ]
    # Every mutating operation of the OpenAPI document (Delfin's, storfleet's, alerts').
    assert len(mutating) >= 14 and ("post", "/v1/storages") in mutating
    for method, path in mutating:
        response = _call(api, method, path, api.reader)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error_code"] == "Forbidden"
    for method, path in operations:
        if method in READ and path != "/v1/audit-log":
            assert _call(api, method, path, api.reader).status_code not in (401, 403), path
    assert api.client.get("/v1/storages", headers=api.reader).json()["storages"]
    assert api.client.get("/v1/audit-log", headers=api.reader).status_code == 403


def test_tokens_are_stored_hashed(api: Api) -> None:
    token_id, token = create_token(api.db.engine, "reader", "dashboard")
    secret = token.split("_", 2)[2]
    with api.db.engine.connect() as conn:
        rows = conn.execute(sa.select(api_token)).all()
    assert secret not in str(rows) and token not in str(rows)
    assert api.client.get("/v1/storages", headers={"Authorization": f"Bearer {token}"}).is_success
    wrong = f"sft_{token_id}_{'x' * len(secret)}"
    assert (
        api.client.get("/v1/storages", headers={"Authorization": f"Bearer {wrong}"}).status_code
        == 401
    )


def test_the_first_start_writes_an_admin_token_file_and_logs_only_where(tmp_path, caplog) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with caplog.at_level(logging.INFO), running_api(url, tmp_path / "data") as api:
        path = tmp_path / "data" / ADMIN_TOKEN_FILE
        token = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert api.client.get("/v1/storages", headers=api.admin).is_success
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert str(path) in logged and token not in logged and token.split("_")[2] not in logged
    with running_api(url, tmp_path / "data"):  # the second start keeps the first token
        assert path.read_text().strip() == token
    with api.db.engine.connect() as conn:
        admins = sa.select(sa.func.count()).where(api_token.c.role == "admin")
        assert conn.execute(admins).scalar() == 1


def test_insecure_mode_needs_no_token_and_says_so(tmp_path, caplog) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with caplog.at_level(logging.WARNING), running_api(url, tmp_path / "data", auth=False) as api:
        assert api.client.get("/v1/storages").status_code == 200
        assert api.client.post("/v1/storages/sync").status_code == 202
        assert not (tmp_path / "data" / ADMIN_TOKEN_FILE).exists()
    assert any("AUTHENTICATION IS OFF" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer sft_", "Token abc"])
def test_malformed_authorization_headers_are_401(api: Api, header: str) -> None:
    response = api.client.get("/v1/storages", headers={"Authorization": header})
    assert response.status_code == 401


def test_metrics_need_a_token_unless_the_setting_opens_them(api: Api) -> None:
    from fastapi import Depends

    from storfleet.api.deps import metrics_access

    api.client.app.add_api_route(
        "/metrics", lambda: {"ok": True}, dependencies=[Depends(metrics_access)]
    )
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers=api.reader).status_code == 200
    api.db.settings.metrics_open = True
    assert api.client.get("/metrics").status_code == 200


def test_without_a_token_nothing_else_is_revealed(api: Api) -> None:
    """401 comes first: not 400 for a bad body, not 404 for a missing path or storage."""
    for response in (
        api.client.post(
            "/v1/storages", content=b"{broken", headers={"Content-Type": "application/json"}
        ),
        api.client.get("/v1/no-such-path"),
        api.client.get("/v1/storages/missing"),
        api.client.patch("/v1/storages"),
    ):
        assert response.status_code == 401, response.text
    for path in ("/openapi.json", "/docs", "/healthz", "/readyz"):
        assert api.client.get(path).status_code == 200
