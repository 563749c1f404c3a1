"""Delfin's trap form: the dict a driver's ``parse_alert`` receives.

Varbind OID (dotted string) -> value text, plus ``transport_address`` (the sender's IP)
and ``storage_id``. A v1 trap is first translated to its v2 form (RFC 3584 section 3.1:
sysUpTime.0, snmpTrapOID.0, then its varbinds, snmpTrapAddress.0, snmpTrapEnterprise.0),
so a driver parses one shape whatever version the array sends. The community never
enters the form: it is a secret, and the form may be stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from storfleet.alerts.ber import TRAP_V1, Notification

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
SNMP_TRAP_COMMUNITY = "1.3.6.1.6.3.18.1.4.0"
SNMP_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"
GENERIC_TRAPS = "1.3.6.1.6.3.1.1.5"
NOT_VARBINDS = ("transport_address", "storage_id")


def v1_trap_oid(enterprise: str, generic: int, specific: int) -> str:
    if generic == 6:  # enterpriseSpecific
        return f"{enterprise}.0.{specific}"
    return f"{GENERIC_TRAPS}.{generic + 1}"


def from_varbinds(varbinds: Iterable[tuple[str, str]], source: str) -> dict[str, str]:
    form = {oid: value for oid, value in varbinds if oid != SNMP_TRAP_COMMUNITY}
    form["transport_address"] = source
    return form


def from_notification(message: Notification, source: str) -> dict[str, str]:
    """The trap form of a decoded v1 / v2c notification from ``source``."""
    if message.pdu_type != TRAP_V1:
        return from_varbinds(message.varbinds, source)
    form = {
        SYS_UPTIME: str(message.time_stamp),
        SNMP_TRAP_OID: v1_trap_oid(
            message.enterprise, message.generic_trap, message.specific_trap
        ),
    }
    for oid, value in message.varbinds:
        form[oid] = value
    form[SNMP_TRAP_ADDRESS] = message.agent_address
    form[SNMP_TRAP_ENTERPRISE] = message.enterprise
    form.pop(SNMP_TRAP_COMMUNITY, None)
    form["transport_address"] = source
    return form


def varbinds_of(form: dict[str, str]) -> dict[str, str]:
    """The varbinds alone (what is kept of a trap no driver parsed)."""
    return {k: v for k, v in form.items() if k not in NOT_VARBINDS}
