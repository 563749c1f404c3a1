"""Alert sources: the values a real Delfin accepts (its code's spellings and its spec's),
secrets encrypted at rest, the receiver's view, and change detection."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storfleet.alerts import sources
from storfleet.store.schema import alert_source
from tests.alerts.conftest import fake_storage

V3_BODY = {
    "version": "SNMPv3",
    "host": "192.0.2.10, 192.0.2.11",
    "username": "trapper",
    "engine_id": "800000d30300000e112245",
    "security_level": "authPriv",
    "auth_protocol": "HMACSHA",
    "auth_key": "authkey-123",
    "privacy_protocol": "AES",
    "privacy_key": "privkey-123",
}


@pytest.mark.parametrize(
    ("field", "given", "canonical"),
    [
        ("version", "snmpv2c", "SNMPv2c"),
        ("version", "SNMPV2C", "SNMPv2c"),  # the spec's spelling
        ("version", "SNMPv3", "SNMPv3"),
        ("auth_protocol", "HMCSHA2256", "HMCSHA2256"),  # Delfin's code, "HMC" sic
        ("auth_protocol", "HMACSHA2512", "HMCSHA2512"),
        ("auth_protocol", "MD5", "HMACMD5"),  # the spec's spelling
        ("auth_protocol", "sha", "HMACSHA"),
        ("privacy_protocol", "3DES", "3DES"),
        ("privacy_protocol", "aes256", "AES256"),
        ("privacy_protocol", "AES192", "AES192"),
        ("security_level", "noAuthNoPriv", "noAuthnoPriv"),
        ("security_level", "authPriv", "authPriv"),
    ],
)
def test_both_spellings_are_accepted(field, given, canonical):
    body = dict(V3_BODY, **{field: given})
    if field == "version" and canonical != "SNMPv3":
        body["community_string"] = "public"
    assert getattr(sources.validate(body), field) == canonical


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "SNMPv4"}, "version"),
        ({"version": None}, "version"),
        ({"host": ""}, "host"),
        ({"host": "array.example.com"}, "host"),  # an exact address, not a name
        ({"engine_id": "12345678"}, "engine_id"),  # 9..64 characters
        ({"engine_id": "not-hex-at-all"}, "engine_id"),
        ({"auth_key": "short"}, "auth_key"),  # at least 8
        ({"privacy_key": "short"}, "privacy_key"),
        ({"auth_protocol": "SHA3"}, "auth_protocol"),
        ({"privacy_protocol": "AES512"}, "privacy_protocol"),
        ({"security_level": "authAndPriv"}, "security_level"),
        ({"username": None}, "username"),
        ({"auth_protocol": None}, "auth_protocol"),
        ({"privacy_key": None}, "privacy_key"),
        ({"port": 70000}, "port"),
    ],
)
def test_what_delfin_refuses_is_refused_naming_the_field(change, field):
    with pytest.raises(sources.InvalidAlertSource) as caught:
        sources.validate({**V3_BODY, **change})
    assert caught.value.field == field


def test_v2c_needs_a_community_of_at_most_32_characters():
    with pytest.raises(sources.InvalidAlertSource, match="community_string"):
        sources.validate({"version": "SNMPv2c", "host": "192.0.2.1"})
    with pytest.raises(sources.InvalidAlertSource, match="community_string"):
        sources.validate({"version": "SNMPv2c", "host": "192.0.2.1", "community_string": "x" * 33})
    config = sources.validate({"version": "SNMPv2c", "host": "::ffff:192.0.2.1,2001:db8::1",
                               "community_string": "x" * 32})
    assert config.hosts == ("192.0.2.1", "2001:db8::1")


def test_levels_below_auth_priv_need_no_privacy_key():
    body = {k: v for k, v in V3_BODY.items() if k not in ("privacy_protocol", "privacy_key")}
    assert sources.validate({**body, "security_level": "authNoPriv"}).privacy_key is None
    bare = {k: v for k, v in body.items() if k not in ("auth_protocol", "auth_key")}
    assert sources.validate({**bare, "security_level": "noAuthnoPriv"}).auth_key is None


def test_saved_secrets_are_encrypted_and_decrypted_for_the_receiver(db, manager):
    storage = fake_storage(manager, 30)
    before = _fingerprint(db)
    sources.save(db.engine, db.keyring, storage["id"], sources.validate(V3_BODY))
    assert _fingerprint(db) != before
    with db.engine.connect() as conn:
        raw = conn.execute(sa.select(alert_source)).one()._mapping
        assert "authkey-123" not in raw["secret"] and "privkey-123" not in raw["secret"]
        assert raw["hosts"] == ["192.0.2.10", "192.0.2.11"]
        (entry,) = sources.entries(conn, db.keyring)
        loaded = sources.load(conn, db.keyring, storage["id"])
    assert entry.storage_id == storage["id"]
    assert entry.serial_number == storage["serial_number"]
    assert (entry.auth_key, entry.privacy_key) == ("authkey-123", "privkey-123")
    assert entry.engine_id == bytes.fromhex("800000d30300000e112245")
    assert loaded == sources.validate(V3_BODY)
    assert sources.delete(db.engine, storage["id"]) is True
    assert sources.delete(db.engine, storage["id"]) is False


def test_saving_for_an_unknown_storage_is_refused(db):
    with pytest.raises(sources.UnknownStorage):
        sources.save(db.engine, db.keyring, "no-such-storage", sources.validate(V3_BODY))


def test_notify_reaches_listeners(db, manager):
    calls = []
    remove = sources.on_change(lambda: calls.append(1))
    try:
        storage = fake_storage(manager, 31)
        sources.save(db.engine, db.keyring, storage["id"], sources.validate(V3_BODY))
    finally:
        remove()
    sources.notify_changed()
    assert calls == [1]


def _fingerprint(db) -> str:
    with db.engine.connect() as conn:
        return sources.fingerprint(conn)


def test_a_stored_host_that_is_no_address_is_ignored_not_fatal(db, manager, caplog):
    storage = fake_storage(manager, 32)
    sources.save(db.engine, db.keyring, storage["id"], sources.validate(
        {"version": "SNMPv2c", "host": "192.0.2.5", "community_string": "c"}))
    with db.engine.begin() as conn:  # as a laxer writer might have stored it
        conn.execute(sa.update(alert_source).values(hosts=["array.example.com", "192.0.2.5"]))
    with db.engine.connect() as conn:
        (entry,) = sources.entries(conn, db.keyring)
    assert entry.hosts == ("192.0.2.5",)
    assert "array.example.com" in caplog.text
