"""Real traps from net-snmp's snmptrap, every version and security level, stored against
the right storage; wrong credentials rejected and counted; shared agents told apart."""

from __future__ import annotations

import subprocess

import pytest

from tests.alerts.conftest import (
    ENTERPRISE,
    fake_storage,
    send_trap,
    set_source,
    stored_alerts,
    wait_for,
)

ENGINE_ID = "8000000001020304"


def _ready(service, storages: int) -> None:
    wait_for(lambda: len(service.receiver.table) == storages, what="alert sources loaded")


def test_v2c_trap_is_parsed_and_stored_against_its_storage(db, manager, trap_service,
                                                           snmptrap_bin):
    storage = fake_storage(manager, 1)
    other = fake_storage(manager, 2)
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1",
               community_string="public-one")
    set_source(db, other["id"], version="snmpv2c", host="127.0.0.2",
               community_string="public-one")
    _ready(trap_service, 2)
    send_trap(snmptrap_bin, trap_service.address[1], ["-c", "public-one"],
              severity="critical", description="disk 7 failed", location="shelf-0/disk-7")
    rows = wait_for(lambda: stored_alerts(db), what="a stored alert")
    assert len(rows) == 1
    row = rows[0]
    assert row["storage_id"] == storage["id"]
    assert (row["severity"], row["category"]) == ("Critical", "Fault")
    assert row["description"] == "disk 7 failed"
    assert row["location"] == "shelf-0/disk-7"
    assert row["alert_id"] == f"{ENTERPRISE}.0.1"
    assert (row["source"], row["state"], row["count"]) == ("trap", "open", 1)
    assert row["transport_address"] == "127.0.0.1"
    snapshot = trap_service.snapshot()
    assert (snapshot["received"], snapshot["matched"], snapshot["stored"]) == (1, 1, 1)
    assert snapshot["rejected"] == 0


def test_v1_trap_is_translated_to_the_v2_form(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 3)
    set_source(db, storage["id"], version="SNMPv1", host="127.0.0.1", community_string="v1c")
    _ready(trap_service, 1)
    send_trap(snmptrap_bin, trap_service.address[1], ["-c", "v1c"], version="1",
              severity="Minor", location="fan-2")
    row = wait_for(lambda: stored_alerts(db, storage_id=storage["id"]), what="v1 alert")[0]
    # RFC 3584: enterprise-specific trap 1 of ENTERPRISE is ENTERPRISE.0.1
    assert row["alert_id"] == f"{ENTERPRISE}.0.1"
    assert (row["severity"], row["location"]) == ("Minor", "fan-2")


V3_CASES = {
    "noAuthNoPriv": ({"security_level": "noAuthnoPriv"}, ["-l", "noAuthNoPriv"]),
    "authNoPriv-SHA": (
        {"security_level": "authNoPriv", "auth_protocol": "HMACSHA", "auth_key": "authkey-123"},
        ["-l", "authNoPriv", "-a", "SHA", "-A", "authkey-123"],
    ),
    "authPriv-SHA-AES": (
        {"security_level": "authPriv", "auth_protocol": "SHA", "auth_key": "authkey-123",
         "privacy_protocol": "AES", "privacy_key": "privkey-123"},
        ["-l", "authPriv", "-a", "SHA", "-A", "authkey-123", "-x", "AES", "-X", "privkey-123"],
    ),
    "authPriv-SHA256-AES256": (
        {"security_level": "authPriv", "auth_protocol": "HMCSHA2256",
         "auth_key": "authkey-256", "privacy_protocol": "AES256", "privacy_key": "privkey-256"},
        ["-l", "authPriv", "-a", "SHA-256", "-A", "authkey-256", "-x", "AES-256",
         "-X", "privkey-256"],
    ),
    "authPriv-MD5-DES": (
        {"security_level": "authPriv", "auth_protocol": "MD5", "auth_key": "authkey-md5",
         "privacy_protocol": "DES", "privacy_key": "privkey-des"},
        ["-l", "authPriv", "-a", "MD5", "-A", "authkey-md5", "-x", "DES", "-X", "privkey-des"],
    ),
    "authPriv-SHA512-AES192": (
        {"security_level": "authPriv", "auth_protocol": "HMCSHA2512",
         "auth_key": "authkey-512", "privacy_protocol": "AES192", "privacy_key": "privkey-192"},
        ["-l", "authPriv", "-a", "SHA-512", "-A", "authkey-512", "-x", "AES-192",
         "-X", "privkey-192"],
    ),
    "authNoPriv-SHA224": (
        {"security_level": "authNoPriv", "auth_protocol": "HMCSHA2224",
         "auth_key": "authkey-224"},
        ["-l", "authNoPriv", "-a", "SHA-224", "-A", "authkey-224"],
    ),
    "authNoPriv-SHA384": (
        {"security_level": "authNoPriv", "auth_protocol": "HMCSHA2384",
         "auth_key": "authkey-384"},
        ["-l", "authNoPriv", "-a", "SHA-384", "-A", "authkey-384"],
    ),
}


@pytest.mark.parametrize("case", sorted(V3_CASES))
def test_v3_trap_every_security_level(case, db, manager, trap_service, snmptrap_bin):
    source, args = V3_CASES[case]
    storage = fake_storage(manager, 4)
    set_source(db, storage["id"], version="SNMPv3", host="127.0.0.1", username="trapper",
               engine_id=ENGINE_ID, **source)
    _ready(trap_service, 1)
    auth = ["-e", "0x" + ENGINE_ID, "-u", "trapper", *args]
    send_trap(snmptrap_bin, trap_service.address[1], auth, version="3", severity="Major",
              location=f"port-{case}")
    row = wait_for(lambda: stored_alerts(db, storage_id=storage["id"]), what="v3 alert")[0]
    assert (row["severity"], row["location"]) == ("Major", f"port-{case}")
    assert trap_service.snapshot()["rejected"] == 0


def test_wrong_community_and_wrong_v3_keys_are_rejected_and_counted(
        db, manager, trap_service, snmptrap_bin, caplog):
    v2 = fake_storage(manager, 5)
    v3 = fake_storage(manager, 6)
    set_source(db, v2["id"], version="SNMPv2c", host="127.0.0.1", community_string="right")
    set_source(db, v3["id"], version="SNMPv3", host="127.0.0.1", username="u3",
               engine_id=ENGINE_ID, security_level="authPriv", auth_protocol="SHA",
               auth_key="auth-right", privacy_protocol="AES", privacy_key="priv-right")
    _ready(trap_service, 2)
    port = trap_service.address[1]
    send_trap(snmptrap_bin, port, ["-c", "wrong"])
    base = ["-e", "0x" + ENGINE_ID, "-u", "u3", "-l", "authPriv", "-a", "SHA", "-x", "AES"]
    send_trap(snmptrap_bin, port, [*base, "-A", "auth-wrong", "-X", "priv-right"], version="3")
    send_trap(snmptrap_bin, port, [*base, "-A", "auth-right", "-X", "priv-wrong"], version="3")
    send_trap(snmptrap_bin, port, ["-e", "0x" + ENGINE_ID, "-u", "nobody", "-l", "authPriv",
                                   "-a", "SHA", "-x", "AES", "-A", "auth-right",
                                   "-X", "priv-right"], version="3")
    wait_for(lambda: trap_service.snapshot()["rejected"] == 4, what="4 rejections")
    snapshot = trap_service.snapshot()
    assert snapshot["rejected_by"]["unknown_community"] == 1
    assert snapshot["rejected_by"]["v3_wrong_digest"] == 1
    assert snapshot["rejected_by"]["v3_decryption_error"] == 1
    assert snapshot["rejected_by"]["v3_unknown_user"] == 1
    # the right credentials still work afterwards
    send_trap(snmptrap_bin, port, [*base, "-A", "auth-right", "-X", "priv-right"], version="3")
    wait_for(lambda: stored_alerts(db, storage_id=v3["id"]), what="the good v3 trap")
    assert stored_alerts(db, storage_id=v2["id"]) == []
    assert "trap from 127.0.0.1 rejected: unknown community" in caplog.text
    assert "right" not in caplog.text.replace("rejected", "")  # no secret logged


def test_two_storages_behind_one_agent_are_told_apart_by_serial_number(
        db, manager, trap_service, snmptrap_bin):
    first = fake_storage(manager, 7)
    second = fake_storage(manager, 8)
    for storage in (first, second):
        set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1",
                   community_string="shared")
    _ready(trap_service, 2)
    port = trap_service.address[1]
    send_trap(snmptrap_bin, port, ["-c", "shared"], serial=second["serial_number"],
              location="for-second")
    send_trap(snmptrap_bin, port, ["-c", "shared"], serial=first["serial_number"],
              location="for-first")
    send_trap(snmptrap_bin, port, ["-c", "shared"], serial="NOT-A-KNOWN-SERIAL",
              location="for-nobody")
    wait_for(lambda: len(stored_alerts(db)) == 3, what="three alerts")
    assert [r["location"] for r in stored_alerts(db, storage_id=first["id"])] == ["for-first"]
    assert [r["location"] for r in stored_alerts(db, storage_id=second["id"])] == ["for-second"]
    unmatched = stored_alerts(db, storage_id=None)
    assert len(unmatched) == 1
    assert "NOT-A-KNOWN" not in unmatched[0]["description"]
    assert unmatched[0]["varbinds"][f"{ENTERPRISE}.1.2"] == "NOT-A-KNOWN-SERIAL"
    snapshot = trap_service.snapshot()
    assert (snapshot["matched"], snapshot["unmatched"]) == (2, 1)


def test_unknown_source_is_kept_unmatched(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 9)
    # the source is configured for another address: exact matching, no substring
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.11", community_string="c")
    _ready(trap_service, 1)
    send_trap(snmptrap_bin, trap_service.address[1], ["-c", "c"], location="anywhere")
    row = wait_for(lambda: stored_alerts(db), what="unmatched alert")[0]
    assert row["storage_id"] is None
    assert row["transport_address"] == "127.0.0.1"
    assert row["severity"] == "NotSpecified"  # no driver parsed it
    assert row["varbinds"][f"{ENTERPRISE}.1.5"] == "anywhere"
    assert "1.3.6.1.6.3.18.1.4.0" not in row["varbinds"]  # never the community
    assert trap_service.snapshot()["unmatched"] == 1


def test_source_changes_apply_without_restart(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 10)
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1", community_string="old")
    _ready(trap_service, 1)
    port = trap_service.address[1]
    reloads = trap_service.watcher.reloads
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1", community_string="new")
    wait_for(lambda: trap_service.watcher.reloads > reloads, what="reload")
    send_trap(snmptrap_bin, port, ["-c", "old"])
    send_trap(snmptrap_bin, port, ["-c", "new"], location="after-change")
    row = wait_for(lambda: stored_alerts(db, storage_id=storage["id"]), what="alert")[0]
    assert row["location"] == "after-change"
    assert trap_service.snapshot()["rejected_by"]["unknown_community"] == 1


def test_v2c_inform_is_answered(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 11)
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1", community_string="inf")
    _ready(trap_service, 1)
    # snmpinform (snmptrap -Ci) waits for the Response and fails without one
    args = [snmptrap_bin, "-Ci", "-r", "0", "-t", "3", "-v2c", "-c", "inf",
            f"udp:127.0.0.1:{trap_service.address[1]}", "", "1.3.6.1.4.1.32473.0.1",
            f"{ENTERPRISE}.1.5", "s", "informed"]
    subprocess.run(args, check=True, capture_output=True, timeout=20)
    assert trap_service.snapshot()["informs_answered"] == 1
    row = wait_for(lambda: stored_alerts(db, storage_id=storage["id"]), what="alert")[0]
    assert row["location"] == "informed"


def test_duplicates_count_and_recovery_clears(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 12)
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1", community_string="d")
    _ready(trap_service, 1)
    port = trap_service.address[1]
    for description in ("first", "second", "third"):
        send_trap(snmptrap_bin, port, ["-c", "d"], location="disk-3", description=description)
    wait_for(lambda: trap_service.snapshot()["stored"] == 3, what="three traps stored")
    rows = stored_alerts(db, storage_id=storage["id"])
    assert len(rows) == 1
    assert rows[0]["count"] == 3
    assert len(rows[0]["sequence_numbers"]) == 3
    send_trap(snmptrap_bin, port, ["-c", "d"], location="disk-3", category="Recovery")
    wait_for(lambda: trap_service.snapshot()["stored"] == 4, what="recovery stored")
    rows = stored_alerts(db, storage_id=storage["id"])
    fault, recovery = rows
    assert fault["state"] == "cleared" and fault["cleared_by"].startswith("recovery")
    assert recovery["category"] == "Recovery" and recovery["state"] == "cleared"
    # the same fault again opens a new alert
    send_trap(snmptrap_bin, port, ["-c", "d"], location="disk-3", description="again")
    wait_for(lambda: len(stored_alerts(db, storage_id=storage["id"])) == 3, what="new alert")
    assert stored_alerts(db, storage_id=storage["id"], state="open")[0]["count"] == 1
