"""Registration: verified first, saved only on success, with a reason on every failure."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.fleet.registration import (
    RegistrationError,
    register_storage,
    update_access_info,
)
from storfleet.store import access_infos, schema
from tests.support.scripted import CONSTRUCTED, new_script


def _body(script: str, password: str = "pw-right-7731", **rest) -> dict:
    return {
        "vendor": "storfleet_test",
        "model": "scripted",
        "rest": {"host": "127.0.0.1", "port": "8443", "username": "u", "password": password}
        | rest,
        "extra_attributes": {"script": script},
    }


def _row_counts(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in schema.metadata.tables.items()
        }


def test_register_saves_storage_access_info_and_first_sync_job(db, manager) -> None:
    new_script("reg-ok", serial="SER-OK")
    row = register_storage(manager, _body("reg-ok"))
    assert row["serial_number"] == "SER-OK"
    assert row["sync_status"] == "SYNCING" and row["sync_state"] == "never"
    with db.engine.connect() as conn:
        info = access_infos.load(conn, db.keyring, row["id"])
        jobs = conn.execute(sa.select(schema.job)).all()
    assert info["rest"]["port"] == 8443  # "8443" normalised
    assert info["rest"]["password"] == "pw-right-7731"
    queued = {j.kind: j.requested_at is not None for j in jobs}
    assert queued["sync"] is True  # the first sync runs right after registration
    assert manager.cached(row["id"]) is not None  # the verified driver is reused


def test_vendor_and_model_inside_rest_as_the_guides_curl_sends_them(db, manager) -> None:
    new_script("reg-curl", serial="SER-CURL")
    body = _body("reg-curl")
    body["rest"].update(vendor=body.pop("vendor"), model=body.pop("model"))
    row = register_storage(manager, body)
    assert row["vendor"] == "storfleet_test"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (exception.InvalidIpOrPort(), "unreachable"),
        (exception.UnsupportedVersion("7.0"), "unsupported_version"),
        (exception.StorageBackendException("internal error"), "backend_error"),
        (ValueError("driver bug"), "backend_error"),
    ],
)
def test_each_failure_has_its_reason_and_saves_nothing(db, manager, failure, reason) -> None:
    script = new_script(f"reg-fail-{reason}-{type(failure).__name__}")
    script["fail"]["get_storage"] = failure
    before = _row_counts(db)
    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, _body(script["storage"]["name"]))
    assert caught.value.reason == reason
    assert "get_storage" in str(caught.value)
    assert _row_counts(db) == before


def test_wrong_password_unknown_driver_timeout_and_bad_body(db, manager) -> None:
    new_script("reg-cred", serial="SER-CRED")
    before = _row_counts(db)
    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, _body("reg-cred", password="pw-wrong-9913"))
    assert caught.value.reason == "invalid_credential"
    assert "pw-right-7731" not in str(caught.value)
    assert "pw-wrong-9913" not in str(caught.value)

    body = _body("reg-cred") | {"vendor": "nobody", "model": "nothing"}
    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, body)
    assert caught.value.reason == "unknown_driver"
    assert "vendor 'nobody' model 'nothing'" in str(caught.value)
    assert "'storfleet_test scripted'" in str(caught.value)  # what is known

    slow = new_script("reg-slow", serial="SER-SLOW")
    slow["hang"]["get_storage"] = 5
    manager.call_timeout_s = 0.5
    started = time.monotonic()
    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, _body("reg-slow"))
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 3

    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, {"vendor": "storfleet_test", "model": "scripted"})
    assert caught.value.reason == "invalid_access_info"
    assert _row_counts(db) == before


def test_same_serial_cannot_register_twice(db, manager) -> None:
    new_script("reg-dup-a", serial="SER-DUP")
    new_script("reg-dup-b", serial="SER-DUP")
    first = register_storage(manager, _body("reg-dup-a"))
    before = _row_counts(db)
    with pytest.raises(RegistrationError) as caught:
        register_storage(manager, _body("reg-dup-b"))
    assert caught.value.reason == "already_registered"
    assert first["id"] in str(caught.value)
    assert _row_counts(db) == before


def test_update_access_info_reverifies_and_refuses_another_array(db, manager) -> None:
    script = new_script("reg-upd", serial="SER-UPD")
    row = register_storage(manager, _body("reg-upd"))
    storage_id = row["id"]

    script["password"] = "rotated"
    CONSTRUCTED.clear()
    public = update_access_info(manager, storage_id, {"rest": {"password": "rotated"}})
    assert public["version"] == 2
    assert "password" not in public["rest"]
    assert public["rest"]["host"] == "127.0.0.1"  # merged, not replaced
    assert CONSTRUCTED[-1]["password"] == "rotated"

    with pytest.raises(RegistrationError) as caught:
        update_access_info(manager, storage_id, {"rest": {"password": "wrong-again"}})
    assert caught.value.reason == "invalid_credential"

    new_script("reg-other", serial="SER-OTHER")["password"] = "rotated"
    with pytest.raises(RegistrationError) as caught:
        update_access_info(manager, storage_id, {"extra_attributes": {"script": "reg-other"}})
    assert caught.value.reason == "serial_mismatch"
    with db.engine.connect() as conn:
        assert access_infos.version_of(conn, storage_id) == 2
