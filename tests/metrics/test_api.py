"""The metrics endpoints through the real ASGI stack: history, collection settings and
status, and /metrics with and without a token."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from storfleet.metrics.collect import collect_storage
from tests.metrics.apps import metrics_app
from tests.metrics.conftest import register


def test_history_endpoint(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 41, retention_window_s=120)
    now_ms = int(time.time()) * 1000
    collect_storage(fast_db, fast_manager, sid, now_ms=now_ms)
    with TestClient(metrics_app(fast_db, run_jobs=False)) as client:
        answer = client.get(f"/v1/storages/{sid}/metrics", params={
            "resource_type": "storagePool", "metric": "readIops",
            "start": now_ms - 60_000, "end": now_ms})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["step_s"] == 0 and body["columns"] == ["ts_ms", "value"]
        assert len(body["series"]) == 2  # two pools
        for series in body["series"]:
            assert series["resource_type"] == "storage_pool"
            assert series["delfin_resource_type"] == "storagePool"
            assert series["unit"] == "IOPS" and series["metric"] == "readIops"
            assert [p[0] for p in series["points"]] == list(range(now_ms - 60_000, now_ms + 1,
                                                                  1000))
        one = body["series"][0]["resource_id"]
        answer = client.get(f"/v1/storages/{sid}/metrics", params={
            "resource_type": "storage_pool", "resource_id": one, "step": 300,
            "start": "2020-01-01T00:00:00Z"})
        assert answer.status_code == 200
        assert answer.json()["columns"] == ["ts_ms", "avg", "min", "max"]
        assert {s["resource_id"] for s in answer.json()["series"]} == {one}
        for params, word in (({"resource_type": "lun"}, "unknown resource_type"),
                             ({"start": "yesterday"}, "epoch milliseconds or ISO-8601"),
                             ({"step": 60}, "step must be"),
                             ({"start": 2, "end": 1}, "start must not be after end")):
            answer = client.get(f"/v1/storages/{sid}/metrics", params=params)
            assert answer.status_code == 400 and word in answer.json()["error_msg"]
        assert client.get("/v1/storages/nope/metrics").status_code == 404


def test_collection_settings_and_status(fast_db, fast_manager) -> None:
    sid = register(fast_manager, 42)
    collect_storage(fast_db, fast_manager, sid)
    with TestClient(metrics_app(fast_db, run_jobs=False)) as client:
        status = client.get(f"/v1/storages/{sid}/metrics/collection").json()
        assert status["interval_source"] == "default" and status["failures"] == 0
        assert status["capabilities"]["valid"] is True
        assert status["history"]["row_budget_per_series"] > 0
        answer = client.put(f"/v1/storages/{sid}/metrics/collection", json={
            "interval_s": 60, "detail": ["volume", "storagePool"], "metrics": ["iops"]})
        assert answer.status_code == 200, answer.text
        status = answer.json()
        assert (status["interval_s"], status["interval_source"]) == (60, "storage")
        assert status["detail"] == ["storage_pool", "volume"]
        assert all(names == ["iops"] for names in status["collected"].values())
        for body, word in (({"interval_s": 0}, "interval_s"), ({"detail": ["lun"]}, "lun"),
                           ({"metrics": ["iops", "IOPS"]}, "IOPS"), ({"color": 1}, "color")):
            answer = client.put(f"/v1/storages/{sid}/metrics/collection", json=body)
            assert answer.status_code == 400 and word in answer.json()["error_msg"], answer.text
        cleared = client.put(f"/v1/storages/{sid}/metrics/collection",
                             json={"interval_s": None, "metrics": None}).json()
        assert cleared["interval_source"] == "default" and cleared["metrics"] is None


def test_metrics_endpoint_needs_a_token_unless_opened(fast_db, fast_manager) -> None:
    from storfleet.api.app import create_app

    sid = register(fast_manager, 43)
    collect_storage(fast_db, fast_manager, sid)
    for opened in (False, True):
        db = fast_db
        db.settings = fast_db.settings.model_copy(update={"metrics_open": opened})
        app = create_app(db, run_jobs=False, auth=True)
        with TestClient(app) as client:
            answer = client.get("/metrics")
            assert answer.status_code == (200 if opened else 401)
            if opened:
                assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
                names = {f.name for f in text_string_to_metric_families(answer.text)}
                assert "storfleet_storage_iops" in names
                assert "storfleet_collection_lag_seconds" in names
