"""Driver-output validation: every example record of the seed guide is accepted (with the
warnings it deserves); broken records are rejected with a message naming kind, native id
and field."""

from __future__ import annotations

import warnings

import pytest

from storfleet.resources import (
    ALERT,
    GROUP_RELATIONS,
    KINDS,
    STORAGE,
    KindValidator,
    RecordRejected,
    ReferenceChecker,
    kind_for,
    native_id_of,
    validate_record,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # the guide's "\opt\path"
    from tests.fixtures.delfin_sample_driver import SampleStorageDriver

# The storage bodies of the guide's curl example responses.
CURL_STORAGES = [
    {"created_at": "2020-09-15T14:10:10.692091", "updated_at": None,
     "id": "849e0e90-35bd-4d23-8155-53a5a583bcbf", "name": "sample", "vendor": "sample_vendor",
     "description": "sample", "model": "sample_model", "status": "normal", "serial_number": 123,
     "firmware_version": "1.0.0", "location": "HK", "total_capacity": 123, "used_capacity": 0,
     "free_capacity": 123, "raw_capacity": 123, "subscribed_capacity": 123,
     "sync_status": "SYNCED", "deleted_at": None, "deleted": False},
    {"created_at": "2020-09-15T14:11:05.611150", "updated_at": "2020-09-15T14:11:05.919163",
     "id": "2021529b-0235-4a75-b358-0779189d6463", "name": "fake_driver",
     "vendor": "fake_vendor", "description": "fake driver.", "model": "fake_model",
     "status": "normal", "serial_number": "1f8d0680-491d-4b13-9b08-996e1ef8ae6d",
     "firmware_version": "1.0.0", "location": "HK", "total_capacity": 1355,
     "used_capacity": 934, "free_capacity": 421, "raw_capacity": 2423,
     "subscribed_capacity": 3884, "sync_status": "SYNCED", "deleted_at": None, "deleted": False},
]


def _guide_records() -> dict[str, list[dict]]:
    """Every record the guide's SampleStorageDriver returns, by kind."""
    sample = SampleStorageDriver(storage_id="s-1", vendor="sample_vendor", model="sample_model")
    records: dict[str, list[dict]] = {"storage": [sample.get_storage(None), *CURL_STORAGES]}
    for kind in KINDS.values():
        if kind is STORAGE or kind.relation:
            continue
        result = getattr(sample, kind.list_method)(None)
        relation = GROUP_RELATIONS.get(kind.name)
        if relation is not None:
            records[kind.name] = list(result[kind.collection])
            records[relation.name] = list(result[relation.relation_key])
        else:
            records[kind.name] = list(result)
    return records


# What the guide's own records deserve: (kind, fragment of the warning).
EXPECTED_RECORD_WARNINGS = {
    ("volume", "status 'normal' is not a known VolumeStatus value"),
    ("filesystem", "type 'non_worm' is not a known FSType value"),
    ("storage_host_initiator", "status 'Normal' is not a known InitiatorStatus value"),
}
EXPECTED_DANGLING = {
    ("quota", "native_qtree_id"),
    ("filesystem", "native_pool_id"),
    ("share", "native_filesystem_id"),
    ("share", "native_qtree_id"),
    ("storage_host_group_host", "native_storage_host_id"),
    ("port_group_port", "native_port_id"),
    ("volume_group_volume", "native_volume_id"),
    ("masking_view", "native_port_group_id"),
    ("masking_view", "native_volume_group_id"),
    ("masking_view", "native_volume_id"),
}


def test_every_guide_record_is_accepted_with_the_right_warnings() -> None:
    records = _guide_records()
    assert len(records) == len(KINDS)  # every kind has examples in the guide
    got_warnings: set[tuple[str, str]] = set()
    clean: dict[str, list[dict]] = {}
    for name, items in records.items():
        validator = KindValidator(KINDS[name], "sample_vendor sample_model")
        assert items, name
        for item in items:
            result = validator.validate(item)
            clean.setdefault(name, []).append(result.record)
            for message in result.warnings:
                matched = [w for k, w in EXPECTED_RECORD_WARNINGS if k == name and w in message]
                assert matched, f"unexpected warning: {message}"
                got_warnings.add((name, matched[0]))
    assert got_warnings == EXPECTED_RECORD_WARNINGS

    # Coercions and canonical spellings.
    assert clean["storage"][0]["serial_number"] == "123"
    assert clean["storage_host"][0]["os_type"] == "Linux"
    assert clean["storage_host"][0]["status"] == "normal"
    assert clean["masking_view"][0]["native_storage_host_id"] is None  # "" is absent
    assert "storage_hosts" not in clean["storage_host_group"][0]  # ignored by rule

    known = {
        name: [native_id_of(KINDS[name], r) for r in items]
        for name, items in clean.items()
        if not KINDS[name].relation
    }
    checker = ReferenceChecker(known)
    dangling = set()
    for name, items in clean.items():
        for message in checker.check(KINDS[name], items):
            field = message.split(": ", 1)[1].split(" ", 1)[0]
            dangling.add((name, field))
    assert dangling == EXPECTED_DANGLING


@pytest.mark.parametrize(
    ("kind", "record", "native_id", "field", "fragment"),
    [
        ("volume", {"native_volume_id": "vol-17", "total_capacity": "12GB"}, "vol-17",
         "total_capacity", "must be an integer >= 0, got '12GB'"),
        ("volume", {"native_volume_id": "vol-18", "used_capacity": -1}, "vol-18",
         "used_capacity", "must be an integer >= 0, got -1"),
        ("storage_pool", {"native_storage_pool_id": "p1", "free_capacity": [1]}, "p1",
         "free_capacity", "got list [1]"),
        ("disk", {"native_disk_id": "d1", "capacity": True}, "d1", "capacity", "boolean"),
        ("port", {"native_port_id": "p9", "speed": float("nan")}, "p9", "speed", "nan"),
        ("volume", {"name": "orphan", "total_capacity": 1}, None, "native_volume_id",
         "is missing"),
        ("volume", {"native_volume_id": "", "name": "blank"}, None, "native_volume_id",
         "is missing"),
        ("filesystem", {"native_filesystem_id": "fs1", "compressed": "maybe"}, "fs1",
         "compressed", "must be a boolean"),
        ("controller", {"native_controller_id": "c1", "name": {"a": 1}}, "c1", "name",
         "must be a string"),
        ("port_group_port", {"native_port_group_id": "pg1"}, None, "native_port_id",
         "is missing"),
    ],
)
def test_broken_records_are_rejected_naming_kind_id_and_field(
    kind, record, native_id, field, fragment
) -> None:
    with pytest.raises(RecordRejected) as caught:
        validate_record(kind, record, driver="acme array")
    error = caught.value
    assert (error.kind, error.native_id, error.field) == (kind, native_id, field)
    message = str(error)
    assert message.startswith("driver 'acme array': ")
    assert kind in message and field in message and fragment in message
    if native_id:
        assert repr(native_id) in message


def test_the_issue_example_message() -> None:
    with pytest.raises(RecordRejected) as caught:
        validate_record("volume", {"native_volume_id": "vol-17", "total_capacity": "12GB"})
    assert str(caught.value) == (
        "volume 'vol-17': total_capacity must be an integer >= 0, got '12GB'"
    )


def test_lenient_coercions() -> None:
    result = validate_record(
        "volume",
        {
            "native_volume_id": 17,  # an integer id becomes a string
            "total_capacity": "1024",
            "used_capacity": 10.0,
            "free_capacity": 1013.6,
            "compressed": "yes",
            "deduplicated": 0,
            "status": "AVAILABLE",
            "type": "",
            "id": "framework-owned",
            "created_at": "ignored",
        },
    )
    record = result.record
    assert record["native_volume_id"] == "17"
    assert (record["total_capacity"], record["used_capacity"]) == (1024, 10)
    assert record["free_capacity"] == 1014
    assert (record["compressed"], record["deduplicated"]) == (True, False)
    assert record["status"] == "available" and record["type"] is None
    assert result.warnings == []


def test_unknown_keys_and_enums_are_warnings() -> None:
    result = validate_record(
        "port", {"native_port_id": "p1", "type": "Fibre", "native_pool_id": "x"}
    )
    assert result.record["type"] == "Fibre"  # stored as given
    assert any("type 'Fibre' is not a known PortType" in w for w in result.warnings)
    assert any("unknown field 'native_pool_id' ignored" in w for w in result.warnings)


def test_alert_records_validate_with_the_same_rules() -> None:
    ok = KindValidator(ALERT).validate(
        {"alert_id": "1.3.6.1.4.1.32473.2.1", "severity": "major", "category": "Fault",
         "occur_time": 1700000000000, "description": "disk failed"}
    )
    assert ok.record["severity"] == "Major" and ok.warnings == []
    with pytest.raises(RecordRejected, match="occur_time"):
        KindValidator(ALERT).validate({"alert_id": "x", "occur_time": "yesterday"})


def test_every_spelling_resolves_to_one_kind() -> None:
    for spelling, name in [
        ("storage-pools", "storage_pool"),
        ("storage_pools", "storage_pool"),
        ("storagePool", "storage_pool"),
        ("storage_pool", "storage_pool"),
        ("Masking-Views", "masking_view"),
        ("storage_host_grp_host_rels", "storage_host_group_host"),
        ("vol_grp_vol_rels", "volume_group_volume"),
        ("volumes", "volume"),
    ]:
        assert kind_for(spelling).name == name
    with pytest.raises(KeyError, match="unknown resource kind 'lunz'"):
        kind_for("lunz")
