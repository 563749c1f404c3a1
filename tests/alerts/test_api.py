"""The stored alerts API through the real ASGI stack: filters, paging, detail,
acknowledge, clear, Delfin's error body, roles."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from storfleet.alerts.lifecycle import IncomingAlert
from storfleet.api import stored_alerts
from storfleet.api.app import create_app
from storfleet.auth.tokens import create_token
from tests.alerts.conftest import fake_storage
from tests.alerts.test_lifecycle import fault, ingest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(db) -> Iterator[tuple[TestClient, dict, dict]]:
    app = create_app(db, run_jobs=False)
    app.include_router(stored_alerts.router)
    _, admin = create_token(db.engine, "admin", "alice")
    _, reader = create_token(db.engine, "reader", "rita")
    with TestClient(app) as test_client:
        yield (test_client, {"Authorization": f"Bearer {admin}"},
               {"Authorization": f"Bearer {reader}"})


def test_list_filter_page_show_ack_clear(db, manager, client):
    http, admin, reader = client
    one = fake_storage(manager, 60)["id"]
    two = fake_storage(manager, 61)["id"]
    ingest(db, IncomingAlert(one, fault("d1", "1"), "trap"),
           IncomingAlert(one, fault("d2", "2", severity="Minor"), "trap"),
           IncomingAlert(two, fault("d3", "3"), "poll"),
           IncomingAlert(None, fault("d4", "4"), "trap", transport_address="192.0.2.9"))
    response = http.get("/v1/alerts", headers=reader)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "4"
    assert len(response.json()["alerts"]) == 4
    assert "dedup_key" not in response.json()["alerts"][0]

    def count(query: str) -> int:
        r = http.get(f"/v1/alerts?{query}", headers=reader)
        assert r.status_code == 200, r.text
        return int(r.headers["X-Total-Count"])

    assert count(f"storage_id={one}") == 2
    assert count(f"storage_id={one},{two}") == 3
    assert count("severity=Minor") == 1
    assert count("severity=Critical&source=poll") == 1
    assert count("unmatched=true") == 1
    assert count("state=open") == 4
    assert count("begin_time=0&end_time=99999999999999") == 4
    assert count("end_time=1000") == 0
    page = http.get("/v1/alerts?limit=3&offset=3", headers=reader)
    assert len(page.json()["alerts"]) == 1 and page.headers["X-Total-Count"] == "4"

    pk = http.get(f"/v1/alerts?storage_id={two}", headers=reader).json()["alerts"][0]["id"]
    shown = http.get(f"/v1/alerts/{pk}", headers=reader).json()
    assert (shown["location"], shown["state"], shown["source"]) == ("d3", "open", "poll")
    assert shown["first_seen"] and "T" in shown["first_seen"]

    assert http.post(f"/v1/alerts/{pk}/acknowledge", headers=reader).status_code == 403
    acked = http.post(f"/v1/alerts/{pk}/acknowledge", headers=admin)
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"].startswith("alice")
    cleared = http.post(f"/v1/alerts/{pk}/clear", headers=admin).json()
    assert (cleared["state"], cleared["clear_type"]) == ("cleared", "Manual")
    again = http.post(f"/v1/alerts/{pk}/acknowledge", headers=admin)
    assert again.status_code == 409 and again.json()["error_code"] == "AlertCleared"
    assert count("state=open,acknowledged") == 3


ERROR_CASES = [
    ("/v1/alerts?severity=Bad", 400, "severity"),
    ("/v1/alerts?state=closed", 400, "state"),
    ("/v1/alerts?limit=5000", 400, "limit"),
    ("/v1/alerts?begin_time=yesterday", 400, "begin_time"),
    ("/v1/alerts?begin_time=2000&end_time=1000", 400, "begin_time"),
    ("/v1/alerts?colour=red", 400, "colour"),
    ("/v1/alerts/12345", 404, "12345"),
    ("/v1/alerts/not-a-number", 404, "not-a-number"),
]


def test_errors_have_delfins_body(client):
    http, _, reader = client
    for path, status, arg in ERROR_CASES:
        response = http.get(path, headers=reader)
        assert response.status_code == status, path
        body = response.json()
        assert set(body) == {"error_code", "error_msg", "error_args"}
        assert arg in body["error_args"], path


def test_needs_a_token(client):
    http, _, _ = client
    assert http.get("/v1/alerts").status_code == 401
    assert http.post("/v1/alerts/1/clear").status_code == 401
