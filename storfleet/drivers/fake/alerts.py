"""Alerts: the array's current alerts, and any SNMP trap turned into an alert.

Current alerts are a churned window like every other kind (the newest ``counts.alerts``),
each about a live resource of the same generation. Traps use the documentation
enterprise 1.3.6.1.4.1.32473 (RFC 5612) for the fields a test wants to set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from storfleet.drivers import constants, exception
from storfleet.drivers.fake.generator import Snapshot
from storfleet.drivers.fake.mixing import hex_digest

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
_TRAP_OID_NAMES = ("snmpTrapOID.0", "SNMPv2-MIB::snmpTrapOID.0")
ENTERPRISE = "1.3.6.1.4.1.32473.1"
# varbind under ENTERPRISE -> alert field
TRAP_FIELDS = {"1": "severity", "2": "serial_number", "3": "category", "4": "description"}
TRAP_FIELDS["5"] = "location"
_NOT_VARBINDS = frozenset({"transport_address", "storage_id"})

# (alert_id, name, severity, category, event type, resource type, kind, advice)
TEMPLATES: tuple[tuple[str, str, str, str, str, str, str | None, str], ...] = (
    (
        "0x0F000001",
        "Disk failure",
        "Critical",
        "Fault",
        "EquipmentAlarm",
        "disk",
        "disk",
        "Replace the failed disk; the pool rebuilds onto a hot spare meanwhile.",
    ),
    (
        "0x0F000002",
        "Storage pool usage above threshold",
        "Major",
        "Fault",
        "QualityOfServiceAlarm",
        "storagePool",
        "storage_pool",
        "Expand the pool or free capacity.",
    ),
    (
        "0x0F000003",
        "Port link down",
        "Major",
        "Fault",
        "CommunicationsAlarm",
        "port",
        "port",
        "Check the cable, the SFP and the switch port.",
    ),
    (
        "0x0F000004",
        "Controller fan degraded",
        "Minor",
        "Fault",
        "EnvironmentalAlarm",
        "controller",
        "controller",
        "Replace the fan module of the controller.",
    ),
    (
        "0x0F000005",
        "Volume went offline",
        "Critical",
        "Fault",
        "ProcessingErrorAlarm",
        "volume",
        "volume",
        "Check the pool of the volume and bring the volume online.",
    ),
    (
        "0x0F000006",
        "Filesystem nearly full",
        "Warning",
        "Fault",
        "QualityOfServiceAlarm",
        "filesystem",
        "filesystem",
        "Grow the filesystem or delete snapshots.",
    ),
    (
        "0x0F000007",
        "Share access denied",
        "Informational",
        "Event",
        "SecurityServiceOrMechanismViolation",
        "share",
        "share",
        "Review the share's access rules.",
    ),
    (
        "0x0F000008",
        "Configuration changed",
        "Informational",
        "Event",
        "OperationalViolation",
        "storage",
        None,
        "No action needed.",
    ),
)
# A churn-less array's alerts keep fixed times: deterministic, if not recent.
_STATIC_EPOCH_MS = 1_700_000_000_000


def match_key(alert_id: str, location: str | None) -> str:
    """The same fault on the same part: a Recovery with the same key clears the Fault."""
    return hex_digest("alert", alert_id, location or "", size=8)


def _occur_time(snap: Snapshot, index: int, h0: int, period_s: float) -> int:
    """When alert ``index`` was raised: the generation it entered the window, in ms."""
    start, n = snap.window("alert")
    p_fx = snap.array.p_fx
    spread = h0 >> 40
    if not p_fx:
        return _STATIC_EPOCH_MS - (n - index) * 600_000 + spread % 600_000
    born = max(0, -(-((index - n + 1) << 32) // (n * p_fx)))
    period_ms = int(period_s * 1000)
    return born * period_ms + spread % max(1, period_ms)


def current_alerts(snap: Snapshot, serial_number: str, period_s: float) -> Iterator[dict[str, Any]]:
    """The alerts standing on the array in this generation, oldest first."""
    hasher = snap.hasher("alert")
    for index in snap.indices("alert"):
        h0 = hasher(index)
        template = TEMPLATES[(h0 >> 32) % len(TEMPLATES)]
        alert_id, name, severity, category, event_type, resource_type, kind, advice = template
        if kind is not None and snap.count(kind) == 0:
            alert_id, name, severity, category, event_type, resource_type, kind, advice = TEMPLATES[
                -1
            ]
        location = snap.member_id(kind, (h0 >> 8) % snap.count(kind)) if kind else serial_number
        yield {
            "alert_id": alert_id,
            "alert_name": name,
            "severity": severity,
            "category": category,
            "type": event_type,
            "sequence_number": str(index),
            "occur_time": _occur_time(snap, index, h0, period_s),
            "description": f"{name} on {location}",
            "recovery_advice": advice,
            "resource_type": resource_type,
            "location": location,
            "match_key": match_key(alert_id, location),
            "serial_number": serial_number,
        }


def in_window(alert: Mapping[str, Any], query_para: Mapping[str, Any] | None) -> bool:
    """Delfin's query_para: begin_time / end_time in epoch ms, both inclusive."""
    if not query_para:
        return True
    begin, end = query_para.get("begin_time"), query_para.get("end_time")
    occur = alert["occur_time"]
    if begin not in (None, "") and occur < int(begin):
        return False
    return end in (None, "") or occur <= int(end)


def _canonical(value: Any, allowed: tuple[str, ...], default: str) -> str:
    text = str(value).strip().lower()
    for candidate in allowed:
        if candidate.lower() == text:
            return candidate
    return default


def _oid(key: Any) -> str:
    text = str(key).strip().lstrip(".")
    return SNMP_TRAP_OID if text in _TRAP_OID_NAMES else text


def parse_trap(trap: Mapping[str, Any]) -> dict[str, Any]:
    """Any trap becomes an alert: its snmpTrapOID is the alert id; the enterprise
    varbinds .1 .. .5 (with or without a trailing .0) set severity, the storage's serial
    number, category, description and location; Major / Fault when absent. Input
    that is not a mapping of varbinds is refused with the SDK's error."""
    if not isinstance(trap, Mapping):
        kind = type(trap).__name__
        raise exception.InvalidInput(f"a trap must be a mapping of varbinds, got {kind}")
    varbinds: dict[str, str] = {}
    for key, value in trap.items():
        if key in _NOT_VARBINDS:
            continue
        varbinds[_oid(key)] = "" if value is None else str(value).strip()
    fields: dict[str, str] = {}
    prefix = ENTERPRISE + "."
    for oid, value in varbinds.items():
        if oid.startswith(prefix) and value:
            sub = oid[len(prefix) :]
            sub = sub[:-2] if sub.endswith(".0") else sub
            if sub in TRAP_FIELDS:
                fields[TRAP_FIELDS[sub]] = value
    alert_id = varbinds.get(SNMP_TRAP_OID, "").lstrip(".") or "unknown-trap"
    location = fields.get("location")
    content = "\x1e".join(f"{oid}={value}" for oid, value in sorted(varbinds.items()))
    source = trap.get("transport_address")
    return {
        "alert_id": alert_id,
        "alert_name": f"SNMP trap {alert_id}",
        "severity": _canonical(
            fields.get("severity", "Major"), constants.Severity.ALL, "NotSpecified"
        ),
        "category": _canonical(
            fields.get("category", "Fault"), constants.Category.ALL, "NotSpecified"
        ),
        "type": "NotSpecified",
        "sequence_number": hex_digest("trap", content, size=8),
        "occur_time": int(time.time() * 1000),
        "description": fields.get("description")
        or f"SNMP trap {alert_id}" + (f" from {source}" if source else ""),
        "recovery_advice": None,
        "resource_type": "storage",
        "location": location,
        "match_key": match_key(alert_id, location),
        "serial_number": fields.get("serial_number"),
    }
