"""The driver SDK's contract: base class, constants, errors, context, cryptor."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storfleet
from storfleet.drivers import constants, cryptor, driver, exception
from storfleet.drivers.context import RequestContext
from storfleet.drivers.driver import INTERFACE_METHODS, StorageDriver

DATA = Path(storfleet.__file__).parent / "data"
ENUMS: dict[str, list[str]] = json.loads((DATA / "delfin_enums.json").read_text())["enums"]
VOCABULARY: dict[str, dict[str, str]] = json.loads(
    (DATA / "delfin_metric_vocabulary.json").read_text()
)["resource_metrics"]

# Delfin's driver interface (delfin/drivers/driver.py), parameters after self.
DELFIN_SIGNATURES: dict[str, list[str]] = {
    "get_storage": ["context"],
    "reset_connection": ["context", "kwargs"],
    "list_storage_pools": ["context"],
    "list_volumes": ["context"],
    "list_controllers": ["context"],
    "list_ports": ["context"],
    "list_disks": ["context"],
    "list_quotas": ["context"],
    "list_filesystems": ["context"],
    "list_qtrees": ["context"],
    "list_shares": ["context"],
    "list_storage_host_initiators": ["context"],
    "list_storage_hosts": ["context"],
    "list_storage_host_groups": ["context"],
    "list_port_groups": ["context"],
    "list_volume_groups": ["context"],
    "list_masking_views": ["context"],
    "add_trap_config": ["context", "trap_config"],
    "remove_trap_config": ["context", "trap_config"],
    "parse_alert": ["context", "alert"],
    "list_alerts": ["context", "query_para"],
    "clear_alert": ["context", "sequence_number"],
    "get_capabilities": ["context", "filters"],
    "collect_perf_metrics": ["context", "storage_id", "resource_metrics", "start_time",
                             "end_time"],
    "get_alert_sources": ["context"],
    "get_latest_perf_timestamp": ["context"],
}

CTX = RequestContext(storage_id="s-1")


def _call(obj: Any, name: str) -> Any:
    """Call an interface method with placeholder arguments for its required parameters."""
    method = getattr(obj, name)
    args = [
        CTX if p.name == "context" else object()
        for p in inspect.signature(method).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return method(*args)


# --- base class ---------------------------------------------------------------------

def test_interface_is_delfins() -> None:
    assert set(INTERFACE_METHODS) == set(DELFIN_SIGNATURES)
    for name, params in DELFIN_SIGNATURES.items():
        signature = inspect.signature(getattr(StorageDriver, name))
        names = [p for p in signature.parameters if p != "self"]
        assert names == params, name


def test_parse_alert_is_a_staticmethod_as_in_delfin() -> None:
    assert isinstance(inspect.getattr_static(StorageDriver, "parse_alert"), staticmethod)
    with pytest.raises(exception.NotSupported):
        StorageDriver.parse_alert(CTX, {})


@pytest.mark.parametrize("name", INTERFACE_METHODS)
def test_base_methods_raise_not_supported(name: str) -> None:
    with pytest.raises(exception.NotSupported) as info:
        _call(StorageDriver(storage_id="s-1"), name)
    assert info.value.kwargs["feature"] == name
    assert name in str(info.value)
    assert exception.category_of(info.value) == "not_supported"


def test_constructor_keeps_access_info() -> None:
    access_info = {"storage_id": "s-9", "vendor": "v", "model": "m",
                   "rest": {"host": "h", "password": "p"}, "extra_attributes": {"a": 1}}
    instance = StorageDriver(**access_info)
    assert instance.storage_id == "s-9"
    assert instance.access_info == access_info
    assert StorageDriver().storage_id is None


def test_class_attribute_defaults() -> None:
    assert StorageDriver.VERSION == "0.0.0"
    assert StorageDriver.max_concurrency == 1
    assert StorageDriver.FEATURES is None
    assert StorageDriver.supported_features() == frozenset()


class PortedDriver(StorageDriver):
    """A Delfin-style driver: no FEATURES, features derived from overrides."""

    def get_storage(self, context: Any) -> dict[str, Any]:
        return {"name": "x"}

    def list_volumes(self, context: Any) -> Iterator[dict[str, Any]]:
        for i in range(3):
            yield {"native_volume_id": str(i)}

    @staticmethod
    def parse_alert(context: Any, alert: Any) -> Any:
        return None


class PortedChild(PortedDriver):
    def list_ports(self, context: Any) -> list[dict[str, Any]]:
        return []


class DeclaringDriver(StorageDriver):
    VERSION = "2.1.0"
    max_concurrency = 4
    FEATURES = ["get_storage", "list_volumes", "collect_perf_metrics"]  # any iterable

    def get_storage(self, context: Any) -> dict[str, Any]:
        return {}


def test_features_derived_from_overrides() -> None:
    assert PortedDriver.supported_features() == {"get_storage", "list_volumes", "parse_alert"}
    assert PortedChild.supported_features() == {
        "get_storage", "list_volumes", "parse_alert", "list_ports"
    }


def test_list_method_may_stream() -> None:
    volumes = PortedDriver().list_volumes(CTX)
    assert inspect.isgenerator(volumes)
    assert [v["native_volume_id"] for v in volumes] == ["0", "1", "2"]


def test_features_declared_win_over_derivation() -> None:
    expected = frozenset({"get_storage", "list_volumes", "collect_perf_metrics"})
    assert expected == DeclaringDriver.FEATURES
    assert DeclaringDriver.supported_features() == DeclaringDriver.FEATURES
    assert DeclaringDriver.VERSION == "2.1.0" and DeclaringDriver.max_concurrency == 4


def test_declared_feature_typo_rejected() -> None:
    with pytest.raises(TypeError, match="list_volume"):
        type("Typo", (StorageDriver,), {"FEATURES": {"list_volume"}})


def test_bad_max_concurrency_rejected() -> None:
    with pytest.raises(TypeError, match="max_concurrency"):
        type("Zero", (StorageDriver,), {"max_concurrency": 0})


def test_group_result_keys_are_delfins() -> None:
    assert driver.GROUP_RESULT_KEYS == {
        "list_storage_host_groups": ("storage_host_groups", "storage_host_grp_host_rels"),
        "list_port_groups": ("port_groups", "port_grp_port_rels"),
        "list_volume_groups": ("volume_groups", "vol_grp_vol_rels"),
    }
    assert set(driver.GROUP_RESULT_KEYS) <= set(driver.INVENTORY_METHODS)


def test_alert_fields() -> None:
    assert driver.ALERT_FIELDS == (
        "alert_id", "alert_name", "severity", "category", "type", "sequence_number",
        "occur_time", "description", "recovery_advice", "resource_type", "location",
        "match_key", "serial_number", "storage_name", "vendor", "model", "clear_type",
    )
    assert driver.Alert.__required_keys__ == {
        "alert_id", "alert_name", "severity", "category", "type", "sequence_number",
        "occur_time", "description", "resource_type", "location",
    }


def test_metric_struct() -> None:
    metric = driver.metric_struct(name="iops", labels={"resource_type": "storage"},
                                  values={1566550500000: 417.42667})
    assert metric._fields == ("name", "labels", "values")
    assert type(metric).__name__ == "Metric"
    assert constants.metric_struct is driver.metric_struct


def test_sdk_imports_nothing_else_of_storfleet() -> None:
    """HARD RULE: storfleet/drivers/ (all of it, built-in drivers too) stands alone."""
    root = Path(storfleet.__file__).parent / "drivers"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                depth = len(path.relative_to(root).parts) - 1  # dirs below drivers/
                modules = ["storfleet"] if node.level > depth + 1 else []
            else:
                continue
            for module in modules:
                if (module == "storfleet" or module.startswith("storfleet.")) and not (
                    module == "storfleet.drivers" or module.startswith("storfleet.drivers.")
                ):
                    offenders.append(f"{path.relative_to(root)}: {module}")
    assert offenders == []


# --- constants ----------------------------------------------------------------------

@pytest.mark.parametrize("enum_name", sorted(ENUMS))
def test_every_json_value_is_a_constant(enum_name: str) -> None:
    cls = getattr(constants, enum_name)
    assert isinstance(cls, type)
    values = ENUMS[enum_name]
    assert tuple(values) == cls.ALL
    for value in values:
        assert getattr(cls, constants.attribute_name(value)) == value
    uppercase = {k: v for k, v in vars(cls).items() if k.isupper() and k != "ALL"}
    assert set(uppercase.values()) == set(values)  # aliases point at real values only


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("normal", "NORMAL"), ("fc", "FC"), ("Linux", "LINUX"), ("VMware ESX", "VMWARE_ESX"),
        ("HP-UX", "HP_UX"), ("Major", "MAJOR"), ("EquipmentAlarm", "EQUIPMENT_ALARM"),
        ("storagePool", "STORAGE_POOL"), ("nl-ssd", "NL_SSD"), ("XenServer", "XEN_SERVER"),
        ("Windows Server 2012", "WINDOWS_SERVER_2012"), ("NotSpecified", "NOT_SPECIFIED"),
        ("LINUX_VIS", "LINUX_VIS"), ("MB/s", "MB_S"), ("%", "PERCENT"),
        ("SecurityServiceOrMechanismViolation", "SECURITY_SERVICE_OR_MECHANISM_VIOLATION"),
    ],
)
def test_attribute_name_rule(value: str, expected: str) -> None:
    assert constants.attribute_name(value) == expected


def test_delfin_spellings() -> None:
    assert constants.StorageStatus.NORMAL == "normal"
    assert constants.PortType.FC == "fc"
    assert constants.HostOSTypes.LINUX == "Linux"
    assert constants.HostOSTypes.VMWARE_ESX == "VMware ESX"
    assert constants.HostOSTypes.HP_UX == "HP-UX"
    assert constants.Severity.MAJOR == "Major"
    assert constants.Category.FAULT == "Fault"
    assert constants.ClearType.AUTOMATIC == "Automatic"
    assert constants.EventType.EQUIPMENT_ALARM == "EquipmentAlarm"
    assert constants.EventType.SECURITY_MECHANISM_VIOLATION == (
        "SecurityServiceOrMechanismViolation"
    )
    assert constants.ResourceType.STORAGE_POOL == "storagePool"
    assert constants.DiskPhysicalType.NL_SSD == "nl-ssd"
    assert constants.InitiatorType.NVME_OVER_FABRIC == "nvme-of"
    assert constants.InitiatorType.NVME_OVER_ROCE == "roce"
    assert constants.MetricUnit.MBS == "MB/s"
    assert constants.MetricUnit.PERCENTAGE == "%"
    assert constants.SecurityLevel.AUTHPRIV == "authPriv"
    assert constants.SecurityLevel.AUTHNOPRIV == "authNoPriv"
    assert constants.SecurityLevel.NOAUTHNOPRIV == "noAuthnoPriv"
    assert (constants.SNMP_V1, constants.SNMP_V2C, constants.SNMP_V3) == (
        "SNMPv1", "SNMPv2c", "SNMPv3"
    )


def test_enumeration_classes_are_not_instantiable() -> None:
    with pytest.raises(TypeError):
        constants.StorageStatus()


def test_metric_description_classes_cover_the_vocabulary() -> None:
    classes = {
        "storage": constants.StorageMetric, "storagePool": constants.StoragePoolMetric,
        "volume": constants.VolumeMetric, "controller": constants.ControllerMetric,
        "port": constants.PortMetric, "disk": constants.DiskMetric,
        "filesystem": constants.FileSystemMetric,
    }
    assert set(classes) == set(VOCABULARY)
    for resource_type, metrics in VOCABULARY.items():
        cls = classes[resource_type]
        described = {
            v.name: v.unit for k, v in vars(cls).items() if isinstance(v, constants.Metric)
        }
        assert described == metrics, resource_type
        for name, unit in metrics.items():
            assert getattr(constants.Metrics, constants.attribute_name(name)).unit == unit
    assert constants.VolumeMetric.IOPS.description


# --- exceptions ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Unreachable", "unreachable"),
        ("InvalidIpOrPort", "unreachable"),
        ("InvalidCredential", "invalid_credential"),
        ("InvalidUsernameOrPassword", "invalid_credential"),
        ("NotAuthorized", "invalid_credential"),
        ("SSLCertificateFailed", "invalid_credential"),
        ("SSHHostKeyRejected", "invalid_credential"),
        ("UnsupportedVersion", "unsupported_version"),
        ("NotSupported", "not_supported"),
        ("NotImplementedException", "not_supported"),
        ("BackendError", "backend_error"),
        ("StorageBackendException", "backend_error"),
        ("StorageBackendNotFound", "backend_error"),
        ("SSHException", "backend_error"),
        ("BadResponse", "backend_error"),
        ("InvalidResults", "backend_error"),
        ("StorageListAlertFailed", "backend_error"),
        ("StorageClearAlertFailed", "backend_error"),
        ("DriverTimeout", "timeout"),
        ("ConnectTimeout", "timeout"),
        ("SSHConnectTimeout", "timeout"),
        ("InvalidInput", "error"),
        ("Invalid", "error"),
        ("BadRequest", "error"),
        ("NotFound", "error"),
        ("StorageNotFound", "error"),
        ("StorageDriverNotFound", "error"),
        ("StorageSerialNumberMismatch", "error"),
        ("StorageAlreadyExists", "error"),
        ("SSHInjectionThreat", "error"),
        ("IncompleteTrapInformation", "error"),
        ("InvalidSNMPConfig", "error"),
        ("TrapInformationNotMatch", "error"),
    ],
)
def test_exception_categories(name: str, category: str) -> None:
    cls = getattr(exception, name)
    assert issubclass(cls, exception.DelfinException)
    error = cls("detail")
    assert exception.category_of(error) == category
    if category != "error":
        assert isinstance(error, exception.CATEGORIES[category])
    assert error.error_code == name


def test_invalid_credential_is_also_delfins_invalid() -> None:
    assert issubclass(exception.InvalidCredential, exception.Invalid)


def test_category_of_plain_python_errors() -> None:
    assert exception.category_of(NotImplementedError()) == "not_supported"
    assert exception.category_of(TimeoutError()) == "timeout"
    assert exception.category_of(ConnectionRefusedError()) == "unreachable"
    assert exception.category_of(KeyError("x")) == "error"


def test_message_formatting() -> None:
    assert str(exception.StorageBackendException("disk 3")) == (
        "Exception from Storage Backend: disk 3."
    )
    assert str(exception.StorageBackendException()) == "Exception from Storage Backend."
    assert str(exception.InvalidUsernameOrPassword()) == "Invalid username or password."
    # a placeholder-less message keeps what the driver passed (Delfin dropped it)
    assert str(exception.InvalidCredential("token expired")) == (
        "The credentials are invalid. token expired"
    )
    assert str(exception.Unreachable(message="10.0.0.1:443 refused")) == "10.0.0.1:443 refused"
    error = exception.BackendError("boom", status=503)
    assert error.kwargs == {"status": 503}
    assert error.msg == str(error) == "Exception from storage backend: boom"
    assert error.error_args == ("boom",)
    assert exception.DelfinException is exception.DriverError


# --- context and cryptor ------------------------------------------------------------

def test_request_context() -> None:
    plain = RequestContext()
    assert plain.request_id.startswith("req-") and plain.deadline is None
    assert plain.remaining() is None and not plain.expired and plain.timeout(5.0) == 5.0
    timed = RequestContext.with_timeout(2.0, storage_id="s-1")
    assert 1.0 < (timed.remaining() or 0) <= 2.0
    assert timed.timeout(60.0) <= 2.0 and timed.timeout(0.5) == 0.5
    past = RequestContext(deadline=time.time() - 1)
    assert past.expired and past.remaining() == 0.0
    moved = plain.for_storage("s-2")
    assert moved.storage_id == "s-2" and moved.request_id == plain.request_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.storage_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize("value", ["p@ss", b"bytes", None, ""])
def test_cryptor_is_identity(value: object) -> None:
    assert cryptor.encode(value) is value
    assert cryptor.decode(value) is value
