"""Enumerations a driver fills resource fields and alerts with (Delfin's ``constants``).

The values come from ``storfleet/data/delfin_enums.json`` (the one list the framework
validates against too), so a driver and the validator can never disagree. Each class
below is a real class, filled at import: attribute name = value upper-cased, CamelCase
split and non-alphanumerics turned into ``_`` (``'storagePool'`` -> ``STORAGE_POOL``,
``'VMware ESX'`` -> ``VMWARE_ESX``), plus ``ALL`` (every value, in order). Where Delfin
spelled a name differently (``InitiatorType.NVME_OVER_FABRIC``) the class body keeps
Delfin's spelling as an alias, so ported drivers run unchanged.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple
from importlib import resources
from typing import Any, ClassVar

# Re-exported: Delfin drivers build metrics with constants.metric_struct.
from storfleet.drivers.driver import metric_struct as metric_struct


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("storfleet").joinpath("data", name).read_text("utf-8"))


ENUMS: dict[str, list[str]] = _load("delfin_enums.json")["enums"]
"""Enumeration name -> values, as in ``delfin_enums.json``."""

METRIC_VOCABULARY: dict[str, dict[str, str]] = _load("delfin_metric_vocabulary.json")[
    "resource_metrics"
]
"""Resource type -> metric name -> unit, as in ``delfin_metric_vocabulary.json``."""

_SYMBOLS = {"%": "PERCENT"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def attribute_name(value: str) -> str:
    """The attribute name a value gets: ``'EquipmentAlarm'`` -> ``'EQUIPMENT_ALARM'``."""
    text = _SYMBOLS.get(value, value)
    text = _CAMEL.sub("_", text)
    return _NON_ALNUM.sub("_", text).strip("_").upper()


class _Enumeration:
    """Base of the enumeration classes: fills attributes from ``ENUMS[cls.__name__]``.

    Values stay plain strings (not ``enum.Enum`` members) because drivers put them in
    dicts that are compared, serialised and stored as strings, as in Delfin.
    """

    ALL: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, enum_name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        values = ENUMS[enum_name or cls.__name__]
        for alias, value in list(vars(cls).items()):
            if alias.isupper() and isinstance(value, str) and value not in values:
                raise ValueError(f"{cls.__name__}.{alias}={value!r} is not in delfin_enums.json")
        for value in values:
            name = attribute_name(value)
            if not name.isidentifier():
                raise ValueError(f"{cls.__name__}: no attribute name for {value!r}")
            setattr(cls, name, value)
        cls.ALL = tuple(values)

    def __new__(cls, *args: Any, **kwargs: Any) -> _Enumeration:
        raise TypeError(f"{cls.__name__} is a namespace of constants, not instantiable")


# Resource field enumerations ----------------------------------------------------------
class StorageStatus(_Enumeration):
    """``storage.status``."""


class StoragePoolStatus(_Enumeration):
    """``storage_pool.status``."""


class StorageType(_Enumeration):
    """``storage_pool.storage_type`` and friends: block / file / unified."""


class VolumeStatus(_Enumeration):
    """``volume.status``."""


class VolumeType(_Enumeration):
    """``volume.type``: thick / thin provisioning."""


class ControllerStatus(_Enumeration):
    """``controller.status``."""


class PortType(_Enumeration):
    """``port.type``."""


class PortLogicalType(_Enumeration):
    """``port.logical_type``."""


class PortConnectionStatus(_Enumeration):
    """``port.connection_status``."""


class PortHealthStatus(_Enumeration):
    """``port.health_status``."""


class DiskStatus(_Enumeration):
    """``disk.status``."""


class DiskPhysicalType(_Enumeration):
    """``disk.physical_type``."""


class DiskLogicalType(_Enumeration):
    """``disk.logical_type``."""


class FilesystemStatus(_Enumeration):
    """``filesystem.status``."""


class FSType(_Enumeration):
    """``filesystem.type``: thick / thin."""


class WORMType(_Enumeration):
    """``filesystem.worm``."""


class NASSecurityMode(_Enumeration):
    """``filesystem.security_mode`` / ``qtree.security_mode``."""


class QuotaType(_Enumeration):
    """``quota.type``."""


class ShareProtocol(_Enumeration):
    """``share.protocol``."""


class HostStatus(_Enumeration):
    """``storage_host.status``."""


class HostOSTypes(_Enumeration):
    """``storage_host.os_type``."""


class InitiatorStatus(_Enumeration):
    """``storage_host_initiator.status``."""


class InitiatorType(_Enumeration):
    """``storage_host_initiator.type``."""

    NVME_OVER_ROCE = "roce"  # Delfin's spelling
    NVME_OVER_FABRIC = "nvme-of"  # Delfin's spelling


class ResourceType(_Enumeration):
    """Resource types in metric labels, capabilities and alerts (Delfin's camelCase)."""


class MetricUnit(_Enumeration):
    """Units of performance metrics."""

    MBS = "MB/s"  # Delfin's spelling
    PERCENTAGE = "%"  # Delfin's spelling


# Alert enumerations -------------------------------------------------------------------
class Severity(_Enumeration):
    """``alert.severity``."""


class Category(_Enumeration):
    """``alert.category``: a fault, an event, or the recovery that clears a fault."""


class ClearType(_Enumeration):
    """``alert.clear_type``: cleared by the array itself or by an operator."""


class EventType(_Enumeration):
    """``alert.type``, after ITU X.733."""

    SECURITY_MECHANISM_VIOLATION = "SecurityServiceOrMechanismViolation"  # Delfin's spelling


# Any enumeration added to the JSON later still gets a class, without an edit here.
for _name in ENUMS:
    if _name not in globals():
        globals()[_name] = type(_name, (_Enumeration,), {"__module__": __name__})


# SNMP (alert sources) -----------------------------------------------------------------
class SecurityLevel:
    """SNMPv3 security level of an alert source."""

    AUTHPRIV = "authPriv"
    AUTHNOPRIV = "authNoPriv"
    NOAUTHNOPRIV = "noAuthnoPriv"
    ALL = (AUTHPRIV, AUTHNOPRIV, NOAUTHNOPRIV)


class SNMPVersion:
    """SNMP version of an alert source (Delfin's API accepts these and lower case)."""

    SNMP_V1 = "SNMPv1"
    SNMP_V2C = "SNMPv2c"
    SNMP_V3 = "SNMPv3"
    ALL = (SNMP_V1, SNMP_V2C, SNMP_V3)


SNMP_V1 = SNMPVersion.SNMP_V1
SNMP_V2C = SNMPVersion.SNMP_V2C
SNMP_V3 = SNMPVersion.SNMP_V3


class AuthProtocol:
    """SNMPv3 authentication protocols, spelled as Delfin accepts them ("HMC" sic)."""

    HMACSHA = "HMACSHA"
    HMACMD5 = "HMACMD5"
    HMCSHA2224 = "HMCSHA2224"
    HMCSHA2256 = "HMCSHA2256"
    HMCSHA2384 = "HMCSHA2384"
    HMCSHA2512 = "HMCSHA2512"
    ALL = (HMACSHA, HMACMD5, HMCSHA2224, HMCSHA2256, HMCSHA2384, HMCSHA2512)


class PrivacyProtocol:
    """SNMPv3 privacy protocols."""

    DES = "DES"
    AES = "AES"
    AES192 = "AES192"
    AES256 = "AES256"
    DES3 = "3DES"
    ALL = (DES, AES, AES192, AES256, DES3)


DEFAULT_SNMP_CONNECT_PORT = 161
DEFAULT_SNMP_RETRY_NUM = 1
DEFAULT_SNMP_EXPIRATION_TIME = 2
SNMP_QUERY_OID = "1.3.6.1.2.1.1.1.0"  # sysDescr
DEFAULT_RESOURCE_TYPE = "Storage"
ACCESS_TYPE = ["rest", "ssh", "cli", "smis"]
DB_MAX_INT = 0x7FFFFFFF


# Performance metrics ------------------------------------------------------------------
Metric = namedtuple("Metric", "name unit description")
"""Describes a metric for ``get_capabilities`` (Delfin's ``constants.Metric``).

Not to be confused with :data:`metric_struct`, which carries collected values.
"""

_DESCRIPTIONS = {
    "iops": "Read/write operations per second",
    "readIops": "Read operations per second",
    "writeIops": "Write operations per second",
    "throughput": "Total data transferred per second",
    "readThroughput": "Total read data transferred per second",
    "writeThroughput": "Total write data transferred per second",
    "responseTime": "Average time taken for an IO operation in ms",
    "readResponseTime": "Read average time taken for an IO operation in ms",
    "writeResponseTime": "Write average time taken for an IO operation in ms",
    "ioSize": "The average size of IO requests in KB",
    "readIoSize": "The average size of read IO requests in KB",
    "writeIoSize": "The average size of write IO requests in KB",
    "cacheHitRatio": "Percentage of ops that are cache hits",
    "readCacheHitRatio": "Percentage of read ops that are cache hits",
    "writeCacheHitRatio": "Percentage of write ops that are cache hits",
    "cpuUsage": "Percentage of cpu usage",
}


def _metric(name: str, unit: str) -> Metric:
    return Metric(name=name, unit=unit, description=_DESCRIPTIONS.get(name, name))


class Metrics:
    """Every metric of the vocabulary, as :class:`Metric` (``Metrics.IOPS.unit``)."""


for _resource_metrics in METRIC_VOCABULARY.values():
    for _metric_name, _unit in _resource_metrics.items():
        setattr(Metrics, attribute_name(_metric_name), _metric(_metric_name, _unit))


def _metric_class(resource_type: str, class_name: str) -> type:
    attrs: dict[str, Any] = {
        attribute_name(name): _metric(name, unit)
        for name, unit in METRIC_VOCABULARY[resource_type].items()
    }
    attrs["__doc__"] = f"Metrics a driver may report for resource type {resource_type!r}."
    attrs["__module__"] = __name__
    attrs["RESOURCE_TYPE"] = resource_type
    return type(class_name, (), attrs)


StorageMetric = _metric_class("storage", "StorageMetric")
StoragePoolMetric = _metric_class("storagePool", "StoragePoolMetric")
VolumeMetric = _metric_class("volume", "VolumeMetric")
ControllerMetric = _metric_class("controller", "ControllerMetric")
PortMetric = _metric_class("port", "PortMetric")
DiskMetric = _metric_class("disk", "DiskMetric")
FileSystemMetric = _metric_class("filesystem", "FileSystemMetric")
