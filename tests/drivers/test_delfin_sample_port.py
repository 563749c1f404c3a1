"""The Delfin guide's SampleStorageDriver, ported by changing its imports only, runs.

The expected values are the guide's own (seeds/delfin-driver-developer-guide.md),
quirks included: a `return` inside most loops yields one record, not the range.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import storfleet
from storfleet.drivers import constants, driver
from storfleet.drivers.context import RequestContext
from storfleet.drivers.driver import INTERFACE_METHODS, StorageDriver

STORAGE_ID = "849e0e90-35bd-4d23-8155-53a5a583bcbf"  # the guide's example response id
CURL_BODY = json.loads(
    """
  {
    "rest": {
      "host": "127.0.0.1",
      "port": "22",
      "username": "username",
      "password": "password",
      "vendor": "sample_vendor",
      "model": "sample_model"
    }
  }"""
)
ACCESS_INFO: dict[str, Any] = {
    "storage_id": STORAGE_ID,
    "vendor": "sample_vendor",
    "model": "sample_model",
    "rest": {k: v for k, v in CURL_BODY["rest"].items() if k not in ("vendor", "model")},
    "extra_attributes": {},
}
CTX = RequestContext(storage_id=STORAGE_ID)


@pytest.fixture(scope="module")
def sample_module() -> ModuleType:
    with warnings.catch_warnings():
        # the guide writes "\opt\path": an invalid escape Delfin lived with; kept as is
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return importlib.import_module("tests.fixtures.delfin_sample_driver")


@pytest.fixture
def sample(sample_module: ModuleType) -> Any:
    return sample_module.SampleStorageDriver(**ACCESS_INFO)


def test_imports_were_the_only_change(sample_module: ModuleType) -> None:
    source = Path(sample_module.__file__ or "").read_text()
    assert "from storfleet.drivers import driver\n" in source
    assert "from storfleet.drivers import constants\n" in source
    assert "delfin" not in source.split("class SampleStorageDriver")[1]
    assert issubclass(sample_module.SampleStorageDriver, StorageDriver)


def test_instantiated_from_access_info(sample: Any, sample_module: ModuleType) -> None:
    assert sample.storage_id == STORAGE_ID
    assert sample.access_info["rest"]["host"] == "127.0.0.1"
    # the guide's literal curl body (vendor/model inside "rest") is accepted too
    raw = sample_module.SampleStorageDriver(**CURL_BODY)
    assert raw.storage_id is None
    assert sample.reset_connection(CTX, **ACCESS_INFO) is None


def test_get_storage_as_in_the_guide(sample: Any) -> None:
    assert sample.get_storage(CTX) == {
        "name": "sample", "description": "sample", "vendor": "sample_vendor",
        "model": "sample_model", "status": "normal", "serial_number": 123,
        "firmware_version": "1.0.0", "location": "HK", "total_capacity": 123,
        "used_capacity": 0, "free_capacity": 123, "raw_capacity": 123,
        "subscribed_capacity": 123,
    }


def test_storage_pools(sample: Any) -> None:
    pools = sample.list_storage_pools(CTX)
    assert [p["native_storage_pool_id"] for p in pools] == [
        "sample_original_id_0", "sample_original_id_1", "sample_original_id_2"
    ]
    assert all(p["storage_id"] == STORAGE_ID and p["status"] == "normal" for p in pools)


@pytest.mark.parametrize(
    ("method", "id_key", "first_id"),
    [
        ("list_volumes", "native_volume_id", "sample_original_id_1"),
        ("list_controllers", "native_controller_id", "sample_original_id_1"),
        ("list_ports", "native_port_id", "sample_original_id_1"),
        ("list_disks", "native_disk_id", "sample_original_id_1"),
        ("list_quotas", "native_quota_id", "sample_original_id_1"),
        ("list_filesystems", "native_filesystem_id", "sample_original_id_1"),
        ("list_qtrees", "native_qtree_id", "sample_original_id_1"),
        ("list_shares", "native_share_id", "sample_original_id_1"),
    ],
)
def test_lists_with_return_inside_the_loop(
    sample: Any, method: str, id_key: str, first_id: str
) -> None:
    records = getattr(sample, method)(CTX)
    assert [r[id_key] for r in records] == [first_id]
    assert records[0]["storage_id"] == STORAGE_ID


def test_volume_record(sample: Any) -> None:
    assert sample.list_volumes(CTX) == [{
        "name": "sample_vol_1", "storage_id": STORAGE_ID, "description": "Sample Volume",
        "status": "normal", "native_volume_id": "sample_original_id_1", "wwn": "fake_wwn_1",
        "total_capacity": 12, "used_capacity": 2, "free_capacity": 10,
    }]
    assert sample.list_ports(CTX)[0]["type"] == constants.PortType.FC


def test_hosts_initiators_and_masking_views(sample: Any) -> None:
    initiators = sample.list_storage_host_initiators(CTX)
    assert [i["native_storage_host_initiator_id"] for i in initiators] == [
        "storage_host_initiator_1", "storage_host_initiator_2"
    ]
    hosts = sample.list_storage_hosts(CTX)
    assert [h["native_storage_host_id"] for h in hosts] == ["storage_host_1", "storage_host_2"]
    views = sample.list_masking_views(CTX)
    assert [v["native_masking_view_id"] for v in views] == ["masking_view_1", "masking_view_2"]


@pytest.mark.parametrize(
    ("method", "group_count", "relation_count"),
    [("list_storage_host_groups", 2, 4), ("list_port_groups", 1, 2),
     ("list_volume_groups", 1, 2)],
)
def test_group_methods_return_delfins_dict_form(
    sample: Any, method: str, group_count: int, relation_count: int
) -> None:
    result = getattr(sample, method)(CTX)
    groups_key, relations_key = driver.GROUP_RESULT_KEYS[method]
    assert set(result) == {groups_key, relations_key}
    assert len(result[groups_key]) == group_count
    assert len(result[relations_key]) == relation_count


def test_alert_methods_return_what_the_guide_returns(sample: Any) -> None:
    assert sample.add_trap_config(CTX, {"host": "10.0.0.1"}) is None
    assert sample.remove_trap_config(CTX, {"host": "10.0.0.1"}) is None
    assert sample.parse_alert(CTX, {"1.3.6.1.2.1.1.3.0": "0"}) is None
    assert sample.list_alerts(CTX) is None
    assert sample.clear_alert(CTX, "seq-1") is None
    assert sample.get_alert_sources(CTX) == []
    assert sample.get_latest_perf_timestamp(CTX) is None


def test_collect_perf_metrics_uses_constants_metric_struct(sample: Any) -> None:
    metrics = sample.collect_perf_metrics(CTX, STORAGE_ID, {"storage": ["iops"]},
                                          1566550000000, 1566990000000)
    assert len(metrics) == 4
    assert all(isinstance(m, constants.metric_struct) for m in metrics)
    assert [m.labels["resource_type"] for m in metrics] == [
        "storage", "storagePool", "controller", "port"
    ]
    assert metrics[0].name == "iops" and metrics[0].values == {1566550500000: 417.42667}
    assert set(m.labels["resource_type"] for m in metrics) <= set(constants.ResourceType.ALL)


def test_get_capabilities_without_self_still_answers(sample: Any) -> None:
    # The guide forgot `self`: the instance binds to `context`, CTX to `filters`.
    capabilities = sample.get_capabilities(CTX)
    assert capabilities["is_historic"] is False
    assert capabilities["performance_metric_retention_window"] == 4500
    vocabulary = json.loads(
        (Path(storfleet.__file__).parent / "data" / "delfin_metric_vocabulary.json").read_text()
    )["resource_metrics"]
    for resource_type, metrics in capabilities["resource_metrics"].items():
        for name, spec in metrics.items():
            assert vocabulary[resource_type][name] == spec["unit"], (resource_type, name)


def test_features_derived_from_the_overrides(sample_module: ModuleType) -> None:
    cls = sample_module.SampleStorageDriver
    assert cls.FEATURES is None
    assert cls.VERSION == "0.0.0" and cls.max_concurrency == 1  # base defaults
    assert cls.supported_features() == frozenset(INTERFACE_METHODS)  # it overrides them all
