"""From a received trap to an alert to store: parse_alert, never a login.

``parse_alert`` is called on the driver class when the driver declares it static (as
Delfin's base class does), otherwise on the storage's already cached driver instance;
a storage whose driver is not cached yet gets its trap stored raw rather than an array
login on the trap path. Whatever a driver returns is checked like any alert record; a
failure is counted and the trap is stored raw (its varbinds kept), never dropped.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any

from storfleet.alerts import matching, trapform
from storfleet.alerts.counters import TrapCounters
from storfleet.alerts.lifecycle import IncomingAlert
from storfleet.alerts.matching import Match
from storfleet.alerts.sources import SourceEntry
from storfleet.drivers import registry
from storfleet.drivers.context import RequestContext
from storfleet.resources import ALERT, KindValidator, RecordRejected

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReceivedTrap:
    """A trap off the wire: its Delfin form, who may have sent it, when it arrived."""

    form: dict[str, str]
    match: Match
    received_at: float  # time.monotonic()
    version: int


class ParseUnavailable(Exception):
    """parse_alert is an instance method and the storage has no cached driver."""


class TrapParser:
    """Turns ReceivedTraps into IncomingAlerts (on the writer's thread, not the loop)."""

    def __init__(self, counters: TrapCounters, manager: Any | None = None) -> None:
        self.counters = counters
        self.manager = manager  # a fleet DriverManager, for cached instances
        self._classes: dict[tuple[str, str], Any] = {}
        self._validators: dict[tuple[str, str], KindValidator] = {}
        self._last_log: dict[str, float] = {}

    def __call__(self, trap: ReceivedTrap) -> IncomingAlert:
        source = trap.form.get("transport_address")
        if trap.match.status == matching.UNKNOWN_SOURCE:
            self.counters.unmatched += 1
            return self.raw(trap, None, "no alert source has this address and credentials")
        candidates = trap.match.candidates
        tried: dict[tuple[str, str], dict[str, Any] | None] = {}
        for candidate in candidates:
            key = (candidate.vendor, candidate.model)
            if key not in tried:
                tried[key] = self._parse(candidate, trap)
            parsed = tried[key]
            if parsed is None:
                continue
            if len(candidates) == 1:
                return self._matched(candidate, parsed, trap)
            chosen = matching.resolve(candidates, parsed)
            if chosen is not None:
                return self._matched(chosen, parsed, trap)
        if len(candidates) == 1:  # parse_alert failed: stored raw, still the storage's
            self.counters.matched += 1
            return self.raw(trap, candidates[0].storage_id, "parse_alert failed")
        self.counters.unmatched += 1
        serials = ", ".join(sorted(str(c.serial_number) for c in candidates))
        self._log(f"ambiguous:{source}", "trap from %s: %d storages share this agent (%s) and "
                  "parse_alert named none of them; kept unmatched", source, len(candidates),
                  serials)
        return self.raw(trap, None, f"sent by an agent shared by storages {serials}; "
                                    "its serial number named none of them")

    def _matched(self, entry: SourceEntry, parsed: dict[str, Any],
                 trap: ReceivedTrap) -> IncomingAlert:
        self.counters.matched += 1
        return IncomingAlert(entry.storage_id, parsed, "trap", trap.form.get("transport_address"),
                             None, trap.received_at)

    def _parse(self, entry: SourceEntry, trap: ReceivedTrap) -> dict[str, Any] | None:
        form = dict(trap.form)
        form["storage_id"] = entry.storage_id
        name = f"{entry.vendor} {entry.model}"
        try:
            parse = self._parse_function(entry)
            record = parse(RequestContext(storage_id=entry.storage_id), form)
            validator = self._validators.get((entry.vendor, entry.model))
            if validator is None:
                validator = self._validators[(entry.vendor, entry.model)] = KindValidator(
                    ALERT, name)
            return validator.validate(record).record
        except ParseUnavailable as exc:
            reason = str(exc)
        except RecordRejected as exc:
            reason = f"parse_alert returned a bad alert: {exc}"
        except Exception as exc:  # a driver bug must not stop the writer
            reason = f"parse_alert failed: {type(exc).__name__}: {exc}"
        self.counters.parse_failures += 1
        self._log(f"parse:{name}", "trap from %s for storage %s stored raw: %s",
                  trap.form.get("transport_address"), entry.storage_id, reason)
        return None

    def _parse_function(self, entry: SourceEntry):
        key = (entry.vendor, entry.model)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = registry.find_driver_class(entry.vendor, entry.model)
        if isinstance(inspect.getattr_static(cls, "parse_alert", None), staticmethod):
            return cls.parse_alert
        cached = self.manager.cached(entry.storage_id) if self.manager is not None else None
        if cached is None:
            raise ParseUnavailable(
                f"{cls.__name__}.parse_alert is not static and storage {entry.storage_id} has "
                "no cached driver in this process (no login on the trap path)")
        return cached.driver.parse_alert

    def raw(self, trap: ReceivedTrap, storage_id: str | None, why: str) -> IncomingAlert:
        """The trap as an alert without a driver: its trap OID is the alert id."""
        form = trap.form
        source = form.get("transport_address")
        oid = form.get(trapform.SNMP_TRAP_OID) or "unknown-trap"
        varbinds = trapform.varbinds_of(form)
        content = "\x1e".join(f"{k}={v}" for k, v in sorted(varbinds.items()))
        fields = {
            "alert_id": oid,
            "alert_name": f"SNMP trap {oid}",
            "severity": "NotSpecified",
            "category": "NotSpecified",
            "type": "NotSpecified",
            "sequence_number": hashlib.blake2b(content.encode(), digest_size=8).hexdigest(),
            "occur_time": int(time.time() * 1000),
            "description": f"SNMP trap {oid} from {source}: {why}",
            "resource_type": "storage",
            "location": None,
        }
        return IncomingAlert(storage_id, fields, "trap", source, varbinds, trap.received_at)

    def _log(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= 60:
            self._last_log[key] = now
            log.warning(message, *args)

