"""The fake array: determinism, scale, churn, faults, alerts and performance series.

The fake is the workload of the benchmarks and the backend of most other tests, so what it
promises (consistent references, exact churn, deterministic faults) is checked here against
the framework's own validator rather than restated.
"""

from __future__ import annotations

import gc
import inspect
import json
import math
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psutil
import pytest

from storfleet.drivers import INTERFACE_METHODS, RequestContext, category_of, exception
from storfleet.drivers.fake import FakeArray, FakeConfigError, FakeStorageDriver
from storfleet.drivers.fake.faults import FaultInjector, parse_faults
from storfleet.drivers.fake.kinds import KIND_SPECS, RELATIONS
from storfleet.resources import ALERT, KINDS, KindValidator, RecordRejected

CTX = RequestContext()
LIST_KINDS = [spec.name for spec in KIND_SPECS if spec.name != "alert"]
VOCABULARY = json.loads(
    (
        __import__("pathlib").Path(__file__).resolve().parents[2]
        / "storfleet/data/delfin_metric_vocabulary.json"
    ).read_text()
)["resource_metrics"]
REFERENCES = {  # kind -> {field: referenced kind}
    kind.name: {f.name: f.ref for f in kind.references} for kind in KINDS.values()
}
REFERENCES["disk"] = {"native_disk_group_id": "storage_pool"}  # a plain id in the model
REFERENCES["port"] = {"native_parent_id": "controller"}
RELATION_KINDS = {
    "storage_host_group": "storage_host_group_host",
    "port_group": "port_group_port",
    "volume_group": "volume_group_volume",
}


def make_driver(storage_id: str = "storage-1", **extra: Any) -> FakeStorageDriver:
    return FakeStorageDriver(
        storage_id=storage_id,
        vendor="fake_storage",
        model="fake_driver",
        rest={"host": "127.0.0.1", "port": 8443, "username": "admin", "password": "secret"},
        extra_attributes=extra,
    )


def inventory(array: FakeArray, generation: int, storage_id: str = "s") -> dict[str, list]:
    """Every kind and relation of one generation, as lists."""
    out = {kind: list(array.records(kind, generation, storage_id)) for kind in LIST_KINDS}
    for rel in RELATIONS.values():
        out[rel.key] = list(array.records(rel.key, generation, storage_id))
    return out


def by_id(records: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r[f"native_{kind}_id"]: r for r in records}


# --- determinism and configuration -------------------------------------------------------


def test_same_seed_same_array_and_different_seed_different_serial():
    a, b = FakeArray({"seed": 7}), FakeArray({"seed": "7"})
    assert inventory(a, 3) == inventory(b, 3)
    assert a.storage(3) == b.storage(3)
    c = FakeArray({"seed": 8})
    assert c.serial_number != a.serial_number
    assert a.serial_number.startswith("FAKE-") and len(a.serial_number) == 17
    assert list(c.records("volume", 3)) != list(a.records("volume", 3))
    # the driver says the same as the pure array
    driver = make_driver(seed=7, generation=3)
    assert driver.get_storage(CTX) == a.storage(3, "storage-1")
    assert list(driver.list_volumes(CTX)) == list(a.records("volume", 3, "storage-1"))


def test_counts_accept_json_strings_singular_names_and_defaults():
    extra = {"counts": '{"volume": 7, "storage_pools": "2", "disk": 0}', "seed": "11"}
    driver = FakeStorageDriver(storage_id="s", extra_attributes=extra)
    assert len(list(driver.list_volumes(CTX))) == 7
    assert len(list(driver.list_storage_pools(CTX))) == 2
    assert list(driver.list_disks(CTX)) == []
    defaults = {spec.name: spec.default for spec in KIND_SPECS}
    assert len(list(driver.list_controllers(CTX))) == defaults["controller"] > 0
    assert len(list(driver.list_ports(CTX))) == defaults["port"] > 0
    assert driver.array.seed == 11
    # every value may be a JSON string, including the whole mapping
    whole = FakeArray(json.dumps({"counts": {"volumes": 3}, "churn": "0.3"}))
    assert whole.config.counts["volume"] == 3 and whole.config.churn == pytest.approx(0.3)


@pytest.mark.parametrize(
    "extra",
    [
        {"counts": {"lunz": 3}},
        {"counts": {"volumes": -1}},
        {"counts": "[1, 2]"},
        {"churn": 1.5},
        {"seed": "abc"},
        {"faults": [{"type": "explode"}]},
        {"faults": [{"type": "error", "target": "list_lunz"}]},
        {"faults": [{"type": "error", "rate": 2}]},
        {"faults": [{"type": "error", "from": "yesterday"}]},
    ],
)
def test_bad_extra_attributes_are_refused_with_the_key(extra):
    with pytest.raises(FakeConfigError):
        FakeArray(extra)
    with pytest.raises(exception.InvalidInput) as refused:
        make_driver(**extra)
    assert "extra_attributes." in str(refused.value)


def test_driver_declares_version_features_and_concurrency():
    assert FakeStorageDriver.VERSION == "1.0.0"
    assert FakeStorageDriver.supported_features() == frozenset(INTERFACE_METHODS)
    assert make_driver().max_concurrency == 4
    assert make_driver(max_concurrency="9").max_concurrency == 9
    assert inspect.isgenerator(make_driver().list_volumes(CTX))


# --- scale ---------------------------------------------------------------------------------


def test_one_hundred_thousand_volumes_are_fast():
    array = FakeArray({"counts": {"volumes": 100_000}, "seed": 1})
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        count = sum(1 for _ in array.records("volume", 0))
        best = min(best, time.perf_counter() - started)
    assert count == 100_000
    print(f"\n100,000 volume records generated in {best * 1000:.0f} ms (best of 3)")
    assert best < 2.0


def test_a_million_volumes_are_generated_lazily_in_bounded_memory():
    driver = make_driver(counts={"volumes": 1_000_000}, seed=5, churn=0.3, generation=29_000_000)
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    count = 0
    started = time.perf_counter()
    volumes = driver.list_volumes(CTX)
    assert inspect.isgenerator(volumes)
    for count, _volume in enumerate(volumes, 1):
        if count % 50_000 == 0:
            peak = max(peak, process.memory_info().rss)
    elapsed = time.perf_counter() - started
    growth_mb = (peak - before) / 1e6
    print(f"\n1,000,000 volumes in {elapsed:.2f} s, RSS growth {growth_mb:.1f} MB")
    assert count == 1_000_000
    assert growth_mb < 100


def test_memory_of_generation_is_constant_per_record():
    import tracemalloc

    array = FakeArray({"counts": {"volumes": 20_000}})
    tracemalloc.start()
    try:
        for _ in array.records("volume", 0):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\ntracemalloc peak while iterating 20,000 volumes: {peak / 1e3:.0f} kB")
    assert peak < 2_000_000  # tables and one record, not a list of 20,000


# --- the records themselves ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "churn", "generation"), [(0, 0, 0), (3, 0.3, 12_345), (42, 1.0, 29_000_000)]
)
def test_every_record_validates_without_warning_and_every_reference_resolves(
    seed, churn, generation
):
    counts = {"volumes": 500, "storage_hosts": 40, "ports": 30, "qtrees": 20, "quotas": 30}
    array = FakeArray({"seed": seed, "churn": churn, "counts": counts})
    inv = inventory(array, generation, "storage-1")
    ids = {kind: set(by_id(inv[kind], kind)) for kind in LIST_KINDS}
    for kind in LIST_KINDS:
        assert inv[kind], kind
        validator = KindValidator(KINDS[kind], "fake")
        assert len(ids[kind]) == len(inv[kind]), f"{kind}: duplicate native ids"
        for record in inv[kind]:
            assert record["storage_id"] == "storage-1"
            assert record["name"]
            assert "" not in record.values(), (kind, record)
            assert validator.validate(record).warnings == []
            for field, target in REFERENCES[kind].items():
                value = record[field]
                assert value is None or value in ids[target], (kind, field, value)
    for group, relation in RELATION_KINDS.items():
        rel = RELATIONS[group]
        rows = inv[rel.key]
        assert rows, rel.key
        validator = KindValidator(KINDS[relation], "fake")
        assert len({(r[rel.group_field], r[rel.member_field]) for r in rows}) == len(rows)
        for row in rows:
            assert row["storage_id"] == "storage-1"
            assert validator.validate(row).warnings == []
            assert row[rel.group_field] in ids[group]
            assert row[rel.member_field] in ids[rel.member]
    # references that must agree with each other, not only exist
    qtrees = by_id(inv["qtree"], "qtree")
    for record in inv["quota"] + inv["share"]:
        if record["native_qtree_id"] is not None:
            qtree = qtrees[record["native_qtree_id"]]
            assert record["native_filesystem_id"] == qtree["native_filesystem_id"]
    for view in inv["masking_view"]:
        grouped = view["native_storage_host_group_id"] is not None
        host_side = [view["native_storage_host_group_id"], view["native_storage_host_id"]]
        volume_side = [view["native_volume_group_id"], view["native_volume_id"]]
        assert sum(v is not None for v in host_side) == 1
        assert sum(v is not None for v in volume_side) == 1
        assert (view["native_volume_group_id"] is not None) is grouped


def test_capacities_are_consistent():
    array = FakeArray({"seed": 9, "counts": {"volumes": 2000, "storage_pools": 6}})
    storage = array.storage(0)
    pools = list(array.records("storage_pool", 0))
    assert KindValidator(KINDS["storage"], "fake").validate(storage).warnings == []
    for key in ("total_capacity", "used_capacity", "free_capacity", "subscribed_capacity"):
        assert storage[key] == sum(p[key] for p in pools)
    assert storage["raw_capacity"] >= storage["total_capacity"]
    for kind in ("storage_pool", "volume", "filesystem"):
        for record in array.records(kind, 0):
            assert record["used_capacity"] + record["free_capacity"] == record["total_capacity"]
            assert min(record["used_capacity"], record["free_capacity"]) >= 0
    for quota in array.records("quota", 0):
        assert quota["capacity_soft_limit"] <= quota["capacity_hard_limit"]
        assert quota["used_capacity"] <= quota["capacity_hard_limit"]
    volumes = list(array.records("volume", 0))
    assert {v["type"] for v in volumes} == {"thin", "thick"}
    assert {v["status"] for v in volumes} == {"available", "error"}
    assert len({v["wwn"] for v in volumes}) == len(volumes)


def test_group_methods_return_delfin_dict_form():
    driver = make_driver(seed=4)
    for method, (groups_key, rels_key) in {
        "list_storage_host_groups": ("storage_host_groups", "storage_host_grp_host_rels"),
        "list_port_groups": ("port_groups", "port_grp_port_rels"),
        "list_volume_groups": ("volume_groups", "vol_grp_vol_rels"),
    }.items():
        result = getattr(driver, method)(CTX)
        assert set(result) == {groups_key, rels_key}
        groups, rels = list(result[groups_key]), list(result[rels_key])
        assert groups and rels
        assert all(set(row) == {"storage_id", *row.keys()} and len(row) == 3 for row in rels)


# --- churn -----------------------------------------------------------------------------------


def direct_diff(array: FakeArray, kind: str, g1: int, g2: int) -> tuple[set, set, set]:
    if kind in {rel.key for rel in RELATIONS.values()}:
        rel = next(r for r in RELATIONS.values() if r.key == kind)
        before = {(r[rel.group_field], r[rel.member_field]) for r in array.records(kind, g1)}
        after = {(r[rel.group_field], r[rel.member_field]) for r in array.records(kind, g2)}
        return after - before, before - after, set()
    old = by_id(list(array.records(kind, g1)), kind)
    new = by_id(list(array.records(kind, g2)), kind)
    changed = {key for key in old.keys() & new.keys() if old[key] != new[key]}
    return new.keys() - old.keys(), old.keys() - new.keys(), changed


@pytest.mark.parametrize(("g1", "g2"), [(1000, 1001), (5000, 5003), (7, 7)])
def test_diff_helper_agrees_with_a_direct_comparison_for_every_kind(g1, g2):
    counts = {"volumes": 3000, "storage_hosts": 300, "qtrees": 40, "quotas": 200, "shares": 200}
    array = FakeArray({"seed": 2, "churn": 0.3, "counts": counts})
    diffs = array.diff_all(g1, g2)
    assert set(diffs) == set(LIST_KINDS) | {rel.key for rel in RELATIONS.values()}
    for kind, diff in diffs.items():
        assert (diff.added, diff.removed, diff.changed) == direct_diff(array, kind, g1, g2), kind
    if g1 != g2:
        assert all(diffs[kind].added and diffs[kind].changed for kind in ("volume", "quota"))
    assert not array.diff("volume", 7, 7)


def test_churn_changes_about_the_asked_share():
    n, churn = 6000, 0.3
    array = FakeArray({"seed": 3, "churn": churn, "counts": {"storage_hosts": n}})
    share = churn / 3
    for g in (100, 2_000, 29_000_000):
        diff = array.diff("storage_host", g, g + 1)
        for part in (diff.added, diff.removed, diff.changed):
            assert abs(len(part) / n - share) < 0.25 * share, (g, len(part))
        assert len(list(array.records("storage_host", g + 1))) == n
    # volumes: their own changes plus re-homing when their pool leaves
    volumes = FakeArray({"seed": 3, "churn": churn, "counts": {"volumes": 5000}})
    steps = [volumes.diff("volume", g, g + 1) for g in range(500, 520)]
    added = statistics.mean(len(d.added) for d in steps) / 5000
    changed = statistics.mean(len(d.changed) for d in steps) / 5000
    assert abs(added - share) < 0.1 * share
    assert share * 0.8 < changed < 2 * share * 1.3
    # no churn, no change, however far apart
    still = FakeArray({"seed": 3, "counts": {"volumes": 500}})
    assert not still.diff("volume", 0, 10**7)


def test_changed_records_change_a_non_volatile_field():
    array = FakeArray({"seed": 6, "churn": 0.6, "counts": {"volumes": 2000}})
    volatile = {"used_capacity", "free_capacity"}
    old = by_id(list(array.records("volume", 40)), "volume")
    new = by_id(list(array.records("volume", 41)), "volume")
    for key in array.diff("volume", 40, 41).changed:
        differing = {f for f in old[key] if old[key][f] != new[key][f]}
        assert differing - volatile, key


def test_one_generation_is_pinned_per_sync():
    driver = make_driver(seed=1, churn=1.0, churn_period_s=0.001, counts={"volumes": 300})
    assert driver.pinned_generation is None
    driver.get_storage(CTX)
    pinned = driver.pinned_generation
    time.sleep(0.01)
    volumes = list(driver.list_volumes(CTX))
    assert driver.pinned_generation == pinned
    assert volumes == list(driver.array.records("volume", pinned, "storage-1"))
    assert driver.array.generation_at() > pinned
    rels = list(driver.list_volume_groups(CTX)["vol_grp_vol_rels"])
    assert {r["native_volume_id"] for r in rels} <= {v["native_volume_id"] for v in volumes}
    # a new sync starts with get_storage(): a newer generation
    driver.get_storage(CTX)
    assert driver.pinned_generation > pinned
    newer = driver.pinned_generation
    driver.reset_connection(CTX)
    assert driver.pinned_generation is None
    time.sleep(0.01)
    list(driver.list_ports(CTX))  # the first call after a reset pins again
    assert driver.pinned_generation > newer


def test_forced_generation_wins_over_the_clock():
    driver = make_driver(churn=0.5, churn_period_s=0.001, generation="77")
    driver.get_storage(CTX)
    assert driver.pinned_generation == 77
    assert driver.array.generation_at() == 77


def test_reset_connection_applies_new_access_info():
    driver = make_driver(counts={"volumes": 3})
    new_extra = {"counts": {"volumes": 5}}
    driver.reset_connection(CTX, storage_id="storage-1", extra_attributes=new_extra)
    assert len(list(driver.list_volumes(CTX))) == 5
    # an outage lifted by an access-info update: the reconnect itself succeeds
    broken = make_driver(faults=[{"type": "unreachable"}])
    with pytest.raises(exception.Unreachable):
        broken.reset_connection(CTX)
    broken.reset_connection(CTX, storage_id="storage-1", extra_attributes={})
    broken.get_storage(CTX)


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault_type", "category", "delfin_name"),
    [
        ("error", "backend_error", exception.StorageBackendException),
        ("invalid_credentials", "invalid_credential", exception.InvalidCredential),
        ("unreachable", "unreachable", exception.InvalidIpOrPort),
        ("timeout", "timeout", exception.ConnectTimeout),
    ],
)
def test_fault_types_raise_the_sdk_errors(fault_type, category, delfin_name):
    faults = [{"target": "volumes", "type": fault_type, "hang_s": 0.05}]
    driver = make_driver(faults=faults)
    started = time.perf_counter()
    with pytest.raises(delfin_name) as raised:
        driver.list_volumes(CTX)  # raised by the call, not by iterating its result
    assert category_of(raised.value) == category
    if fault_type == "timeout":
        assert time.perf_counter() - started >= 0.05
    assert list(driver.list_disks(CTX))  # other targets are untouched
    driver.get_storage(CTX)


def test_star_target_and_json_string_faults():
    faults = json.dumps([{"target": "*", "type": "unreachable"}])
    driver = make_driver(faults=faults)
    for method in ("get_storage", "list_storage_pools", "list_alerts", "get_capabilities"):
        with pytest.raises(exception.Unreachable):
            getattr(driver, method)(CTX)
    with pytest.raises(exception.Unreachable):
        driver.collect_perf_metrics(CTX, "s", {"storage": ["iops"]}, 0, 1)
    # parse_alert is static: no instance, no fault
    assert FakeStorageDriver.parse_alert(CTX, {SNMP_TRAP_OID: "1.2.3"})["alert_id"] == "1.2.3"


def test_rate_fails_an_exact_deterministic_share_of_calls():
    driver = make_driver(faults=[{"target": "list_ports", "type": "error", "rate": 0.5}])
    outcomes = []
    for _ in range(10):
        try:
            driver.list_ports(CTX)
            outcomes.append("ok")
        except exception.BackendError:
            outcomes.append("fail")
    assert outcomes == ["ok", "fail"] * 5
    third = make_driver(faults=[{"target": "get_storage", "type": "error", "rate": "0.25"}])
    fails = 0
    for _ in range(40):
        try:
            third.get_storage(CTX)
        except exception.BackendError:
            fails += 1
    assert fails == 10


def test_fault_time_windows_start_and_stop_an_outage():
    now = time.time()
    iso = datetime.fromtimestamp(now - 60, UTC).isoformat()
    past = make_driver(faults=[{"type": "error", "from": now - 120, "until": now - 60}])
    past.get_storage(CTX)
    current = make_driver(faults=[{"type": "error", "from": iso, "until": now + 60}])
    with pytest.raises(exception.BackendError):
        current.get_storage(CTX)
    future = make_driver(faults=[{"type": "error", "from": str(now + 60)}])
    future.get_storage(CTX)
    # a moving clock: the outage starts at 100 and stops at 200 (until is exclusive)
    clock = [50.0]
    injector = FaultInjector(
        parse_faults([{"type": "unreachable", "from": 100, "until": "200"}]), lambda: clock[0]
    )
    fired = []
    for moment in (50, 99.9, 100, 150, 199.9, 200, 300):
        clock[0] = moment
        fired.append(injector.check("get_storage") is not None)
    assert fired == [False, False, True, True, True, False, False]
    naive = parse_faults([{"type": "error", "from": "2030-01-01T00:00:00"}])[0]
    assert naive.start == datetime(2030, 1, 1, tzinfo=UTC).timestamp()


def test_malformed_records_are_rejected_by_the_validator():
    faults = [{"target": "volume", "type": "malformed_records", "share": 0.25}]
    driver = make_driver(faults=faults, counts={"volumes": 40})
    validator = KindValidator(KINDS["volume"], "fake")
    rejected, reasons = 0, []
    for record in driver.list_volumes(CTX):
        try:
            validator.validate(record)
        except RecordRejected as bad:
            rejected += 1
            reasons.append(str(bad))
    assert rejected == 10
    assert any("native_volume_id is missing" in r for r in reasons)
    assert any("-" in r and "integer >= 0" in r for r in reasons)
    assert any("'12GB'" in r for r in reasons)
    # every kind can be broken, groups and storage included
    everything = make_driver(faults=[{"target": "*", "type": "malformed_records", "share": 1}])
    with pytest.raises(RecordRejected):
        KindValidator(KINDS["storage"]).validate(everything.get_storage(CTX))
    for kind in LIST_KINDS:
        result = getattr(everything, f"list_{KINDS[kind].collection}")(CTX)
        pairs = [(kind, result)]
        if kind in RELATIONS:
            pairs = [
                (kind, result[KINDS[kind].collection]),
                (RELATION_KINDS[kind], result[RELATIONS[kind].key]),
            ]
        for name, records in pairs:
            records = list(records)
            assert len(records) >= 2, name
            for record in records:  # share 1: every record, whatever its flavour of broken
                with pytest.raises(RecordRejected):
                    KindValidator(KINDS[name]).validate(record)
    alerts = everything.list_alerts(CTX)
    assert len(alerts) == 5
    for alert in alerts:
        with pytest.raises(RecordRejected):
            KindValidator(ALERT).validate(alert)
    caps = {"storage": ["iops"], "volume": ["iops", "responseTime"]}
    end = int(time.time() * 1000)
    broken = everything.collect_perf_metrics(CTX, "s", caps, end - 600_000, end)
    assert broken
    for metric in broken:
        values = list(metric.values.values())
        has_bad_value = any(v == "12GB" or (isinstance(v, float) and v < 0) for v in values)
        assert "resource_id" not in metric.labels or has_bad_value


def test_latency_is_paid_per_call():
    driver = make_driver(latency_ms=30)
    started = time.perf_counter()
    driver.get_storage(CTX)
    driver.list_volumes(CTX)
    assert time.perf_counter() - started >= 0.06


# --- alerts ----------------------------------------------------------------------------------

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
ENT = "1.3.6.1.4.1.32473.1"


def test_parse_alert_reads_the_enterprise_varbinds():
    trap = {
        "." + SNMP_TRAP_OID: ".1.3.6.1.4.1.32473.0.7",
        f".{ENT}.1.0": "critical",
        f"{ENT}.2": "FAKE-ABC",
        f"{ENT}.3.0": "Fault",
        f"{ENT}.4": "Disk 3 failed",
        f"{ENT}.5": "enclosure-0 slot-3",
        "1.3.6.1.2.1.1.3.0": "12345",
        "transport_address": "10.0.0.5",
        "storage_id": "storage-1",
    }
    before = int(time.time() * 1000)
    alert = FakeStorageDriver.parse_alert(CTX, trap)
    assert alert["alert_id"] == "1.3.6.1.4.1.32473.0.7"
    assert alert["severity"] == "Critical"
    assert alert["category"] == "Fault"
    assert alert["serial_number"] == "FAKE-ABC"
    assert alert["description"] == "Disk 3 failed"
    assert alert["location"] == "enclosure-0 slot-3"
    assert before <= alert["occur_time"] <= int(time.time() * 1000)
    validated = KindValidator(ALERT, "fake").validate(alert)
    assert validated.warnings == []
    assert "" not in alert.values()
    # deterministic sequence number; a Recovery of the same thing has the same match key
    assert FakeStorageDriver.parse_alert(CTX, trap)["sequence_number"] == alert["sequence_number"]
    recovery = FakeStorageDriver.parse_alert(CTX, {**trap, f"{ENT}.3.0": "Recovery"})
    assert recovery["category"] == "Recovery"
    assert recovery["match_key"] == alert["match_key"]
    assert recovery["sequence_number"] != alert["sequence_number"]
    elsewhere = FakeStorageDriver.parse_alert(CTX, {**trap, f"{ENT}.5": "slot-4"})
    assert elsewhere["match_key"] != alert["match_key"]


def test_parse_alert_turns_any_trap_into_an_alert_with_defaults():
    alert = FakeStorageDriver.parse_alert(
        CTX, {SNMP_TRAP_OID: "1.3.6.1.6.3.1.1.5.3", "transport_address": "10.0.0.9"}
    )
    assert alert["alert_id"] == "1.3.6.1.6.3.1.1.5.3"
    assert (alert["severity"], alert["category"]) == ("Major", "Fault")
    assert alert["serial_number"] is None and alert["location"] is None
    assert "10.0.0.9" in alert["description"]
    assert KindValidator(ALERT).validate(alert).warnings == []
    odd = FakeStorageDriver.parse_alert(CTX, {f"{ENT}.1": "apocalyptic", f"{ENT}.3": "x"})
    assert (odd["severity"], odd["category"]) == ("NotSpecified", "NotSpecified")
    assert odd["alert_id"]


def test_list_alerts_is_deterministic_filtered_and_clearable():
    driver = make_driver(seed=5, counts={"alerts": 8})
    alerts = driver.list_alerts(CTX)
    assert alerts == make_driver(seed=5, counts={"alerts": 8}).list_alerts(CTX)
    assert len(alerts) == 8
    assert len({a["sequence_number"] for a in alerts}) == 8
    storage = driver.get_storage(CTX)
    live = {
        kind: set(by_id(list(driver.array.records(kind, driver.pinned_generation)), kind))
        for kind in LIST_KINDS
    }
    validator = KindValidator(ALERT, "fake")
    for alert in alerts:
        assert validator.validate(alert).warnings == []
        assert alert["serial_number"] == storage["serial_number"]
        assert alert["location"] == storage["serial_number"] or any(
            alert["location"] in ids for ids in live.values()
        )
    times = sorted(a["occur_time"] for a in alerts)
    middle = times[4]
    assert [a["occur_time"] for a in driver.list_alerts(CTX, {"begin_time": middle})] == times[4:]
    assert len(driver.list_alerts(CTX, {"begin_time": str(times[0]), "end_time": middle})) == 5
    driver.clear_alert(CTX, alerts[0]["sequence_number"])
    remaining = driver.list_alerts(CTX)
    assert alerts[0] not in remaining and len(remaining) == 7
    assert len(make_driver(seed=5, counts={"alerts": 8}).list_alerts(CTX)) == 8
    assert driver.get_alert_sources(CTX) == []


def test_alerts_churn_with_the_array():
    array_extra = {"seed": 5, "churn": 0.9, "counts": {"alerts": 30}}
    old = make_driver(generation=29_000_000, **array_extra).list_alerts(CTX)
    new = make_driver(generation=29_000_001, **array_extra).list_alerts(CTX)
    old_seq, new_seq = {a["sequence_number"] for a in old}, {a["sequence_number"] for a in new}
    assert old_seq != new_seq and old_seq & new_seq
    assert max(a["occur_time"] for a in new) >= max(a["occur_time"] for a in old)


def test_trap_configs_are_recorded():
    driver = make_driver()
    config = {"host": "10.0.0.1", "port": 162, "version": "SNMPv2c"}
    driver.add_trap_config(CTX, config)
    driver.add_trap_config(CTX, config)
    assert driver.trap_configs == [config]
    driver.remove_trap_config(CTX, config)
    assert driver.trap_configs == []


# --- performance -----------------------------------------------------------------------------


def test_capabilities_are_exactly_the_vocabulary():
    caps = make_driver(retention_window_s="7200").get_capabilities(CTX)
    assert caps["is_historic"] is True
    assert caps["performance_metric_retention_window"] == 7200
    assert make_driver().get_capabilities(CTX)["performance_metric_retention_window"] == 14400
    metrics = caps["resource_metrics"]
    assert {t: {m: d["unit"] for m, d in ms.items()} for t, ms in metrics.items()} == VOCABULARY
    assert len(metrics) == 7 and sum(len(m) for m in metrics.values()) == 64
    assert all(d["description"] for ms in metrics.values() for d in ms.values())
    assert "collect_interval" not in caps
    assert make_driver(collect_interval=300).get_capabilities(CTX)["collect_interval"] == 300


def test_collect_perf_metrics_windows_labels_and_determinism():
    driver = make_driver(seed=3, counts={"volumes": 250, "disks": 10})
    caps = driver.get_capabilities(CTX)["resource_metrics"]
    step = 60_000
    end = driver.get_latest_perf_timestamp(CTX)
    assert end % step == 0 and end <= time.time() * 1000
    start = end - 30 * step + 1234  # not aligned: the first sample is the next step
    series = driver.collect_perf_metrics(CTX, "storage-9", caps, start, end)
    expected_stamps = list(range(end - 29 * step, end + 1, step))
    per_type: dict[str, set] = {}
    for metric in series:
        labels = metric.labels
        assert set(labels) == {
            "storage_id",
            "resource_type",
            "resource_id",
            "resource_name",
            "type",
            "unit",
        }
        assert labels["storage_id"] == "storage-9" and labels["type"] == "RAW"
        assert labels["unit"] == VOCABULARY[labels["resource_type"]][metric.name]
        assert sorted(metric.values) == expected_stamps
        per_type.setdefault(labels["resource_type"], set()).add(labels["resource_id"])
    assert set(per_type) == set(VOCABULARY)
    assert_plausible(series)
    assert len(per_type["volume"]) == 100  # perf_resources_max
    assert len(per_type["disk"]) == 10
    assert per_type["storage"] == {driver.get_storage(CTX)["serial_number"]}
    again = make_driver(seed=3, counts={"volumes": 250, "disks": 10}).collect_perf_metrics(
        CTX, "storage-9", caps, start, end
    )
    assert again == series
    # a subset, as lists of names; unknown names and types are ignored
    subset = driver.collect_perf_metrics(
        CTX, "storage-9", {"controller": ["iops", "bogus"], "nope": ["iops"]}, start, end
    )
    assert {m.name for m in subset} == {"iops"}
    assert len(subset) == len(list(driver.list_controllers(CTX)))
    # nothing outside the window, nothing in the future
    assert driver.collect_perf_metrics(CTX, "s", caps, end + 1, end + 10 * step) == []
    one = driver.collect_perf_metrics(CTX, "s", {"storage": ["iops"]}, end, end)
    assert list(one[0].values) == [end]
    limited = make_driver(perf_resources_max=3, perf_interval_s=300)
    few = limited.collect_perf_metrics(CTX, "s", {"volume": {"iops": {}}}, end - 3_600_000, end)
    assert len(few) == 3
    assert all(ts % 300_000 == 0 for m in few for ts in m.values)


def assert_plausible(series: list[Any]) -> None:
    """Ratios in 0..100 %, response times positive, everything else non-negative."""
    for metric in series:
        values = list(metric.values.values())
        assert all(isinstance(v, float) for v in values), metric.name
        unit = metric.labels["unit"]
        if unit == "%":
            assert all(0 <= v <= 100 for v in values), metric.name
        elif unit == "ms":
            assert all(v > 0 for v in values), metric.name
        else:
            assert all(v >= 0 for v in values), metric.name


def test_perf_series_look_like_an_array():
    driver = make_driver(seed=8, counts={"volumes": 5})
    caps = driver.get_capabilities(CTX)["resource_metrics"]
    wanted = {t: caps[t] for t in ("storage", "volume", "controller")}
    end = driver.get_latest_perf_timestamp(CTX)
    day = driver.collect_perf_metrics(CTX, "s", wanted, end - 86_400_000 + 1, end)
    by_key = {(m.labels["resource_id"], m.name): m.values for m in day}
    assert all(len(metric.values) == 1440 for metric in day)
    assert_plausible(day)
    for resource_id in {m.labels["resource_id"] for m in day}:
        iops = by_key[(resource_id, "iops")]
        for ts in list(iops)[::97]:
            total = by_key[(resource_id, "readIops")][ts] + by_key[(resource_id, "writeIops")][ts]
            assert total == pytest.approx(iops[ts], abs=0.01)
        values = list(iops.values())
        hourly = [statistics.mean(values[h * 60 : (h + 1) * 60]) for h in range(24)]
        assert max(hourly) > 1.8 * min(hourly)  # a daily cycle
        assert max(values) > 2.0 * statistics.median(values)  # occasional spikes
        assert len(set(values)) > 1400  # noise
