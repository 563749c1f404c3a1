"""Rules: alert conditions declared per resource kind, evaluated after every sync, in the
spirit of the Chroma plugin guide's alert conditions.

A rule only declares what is wrong (a used-capacity threshold, a bad status, a storage
not reachable for N syncs in a row). ``evaluate_after_sync`` turns the synced inventory
into the set of conditions that hold now and reconciles it with the open rule alerts of
the storage: a new condition raises an alert (through the same lifecycle as traps and
polls), a condition that no longer holds clears its alert. A kind that failed to sync
keeps its alerts as they were: stale data neither raises nor clears anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storfleet.alerts.lifecycle import NOT_CLEARED, AlertStore, IncomingAlert, dedup_key
from storfleet.alerts.settings import AlertSettings
from storfleet.resources import KINDS
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import alert, alert_rule_state, table_for
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

PREFIX = "storfleet.rule."
CLEARED_BY = "rule: the condition no longer holds"
# storfleet's kind name -> Delfin's alert resource type
RESOURCE_TYPES = {"storage": "storage", "storage_pool": "storagePool", "volume": "volume",
                  "controller": "controller", "port": "port", "disk": "disk",
                  "filesystem": "filesystem"}


@dataclass(frozen=True)
class Condition:
    """One condition that holds now: what the alert it raises says."""

    rule: str
    kind: str
    native_id: str
    name: str | None
    severity: str
    description: str
    advice: str

    def fields(self, serial: str | None) -> dict[str, Any]:
        return {
            "alert_id": PREFIX + self.rule,
            "alert_name": self.rule.replace("_", " "),
            "severity": self.severity,
            "category": "Fault",
            "type": "QualityOfServiceAlarm" if "capacity" in self.rule else "EquipmentAlarm",
            "sequence_number": f"{self.rule}:{self.native_id}",
            "occur_time": int(time.time() * 1000),
            "description": self.description,
            "recovery_advice": self.advice,
            "resource_type": RESOURCE_TYPES.get(self.kind, self.kind),
            "location": self.native_id,
            "serial_number": serial,
        }


@dataclass(frozen=True)
class CapacityRule:
    """Used capacity of a kind's resources above a warning / critical percentage."""

    kind: str

    @property
    def rules(self) -> tuple[str, str]:
        return (f"{self.kind}_capacity_warning", f"{self.kind}_capacity_critical")

    def conditions(self, conn: sa.Connection, storage_id: str,
                   settings: AlertSettings) -> Iterator[Condition]:
        table = table_for(self.kind)
        native = KINDS[self.kind].native_id
        warning = settings.capacity_warning_pct
        critical = settings.capacity_critical_pct
        rows = conn.execute(sa.select(table.c[native], table.c.name, table.c.total_capacity,
                                      table.c.used_capacity).where(
            _owned(table, self.kind, storage_id), table.c.total_capacity > 0,
            table.c.used_capacity * 100 >= table.c.total_capacity * warning))
        for native_id, name, total, used in rows:
            pct = 100.0 * used / total
            level, rule = ("Critical", self.rules[1]) if pct >= critical else (
                "Warning", self.rules[0])
            limit = critical if level == "Critical" else warning
            what = self.kind.replace("_", " ")
            yield Condition(
                rule, self.kind, str(native_id), name, level,
                f"{what} {name or native_id} is {pct:.1f}% full (threshold {limit:g}%)",
                f"Grow the {what} or free capacity.")


@dataclass(frozen=True)
class StatusRule:
    """A resource whose status field holds one of ``bad`` (value -> severity)."""

    kind: str
    field: str
    bad: tuple[tuple[str, str], ...]

    @property
    def rules(self) -> tuple[str]:
        return (f"{self.kind}_{self.field}",)

    def conditions(self, conn: sa.Connection, storage_id: str,
                   settings: AlertSettings) -> Iterator[Condition]:
        table = table_for(self.kind)
        native = KINDS[self.kind].native_id
        severity = dict(self.bad)
        rows = conn.execute(sa.select(table.c[native], table.c.name, table.c[self.field]).where(
            _owned(table, self.kind, storage_id), table.c[self.field].in_(list(severity))))
        for native_id, name, value in rows:
            what = self.kind.replace("_", " ")
            yield Condition(
                self.rules[0], self.kind, str(native_id), name, severity[value],
                f"{what} {name or native_id} is {value}",
                f"Check the {what} on the array.")


def _owned(table: sa.Table, kind: str, storage_id: str) -> sa.ColumnElement:
    return table.c.id == storage_id if kind == "storage" else table.c.storage_id == storage_id


_OFFLINE = ("offline", "Critical")
_ABNORMAL = ("abnormal", "Major")
_DEGRADED = ("degraded", "Major")
RULES: tuple[CapacityRule | StatusRule, ...] = (
    CapacityRule("storage_pool"),
    CapacityRule("filesystem"),
    StatusRule("storage", "status", (_OFFLINE, _ABNORMAL, _DEGRADED)),
    StatusRule("storage_pool", "status", (_OFFLINE, _ABNORMAL, _DEGRADED)),
    StatusRule("disk", "status", (_OFFLINE, _ABNORMAL, _DEGRADED)),
    StatusRule("controller", "status", (_OFFLINE, ("fault", "Critical"), _DEGRADED)),
    StatusRule("port", "health_status", (_ABNORMAL,)),
    StatusRule("filesystem", "status", (("faulty", "Critical"),)),
    StatusRule("volume", "status", (("error", "Major"),)),
)
UNREACHABLE = "storage_unreachable"


def _synced_kinds(sync_result: Any) -> set[str]:
    """Kinds whose inventory is fresh; the storage record is fresh when the sync got
    past get_storage (it then reports per-kind outcomes)."""
    if sync_result is None:
        return set()
    kinds = {name for name, o in (sync_result.kinds or {}).items() if o.status == "synced"}
    if sync_result.kinds:
        kinds.add("storage")
    return kinds


def _reachable(sync_result: Any) -> bool:
    return sync_result is not None and (sync_result.state == "synced" or
                                        bool(sync_result.kinds))


def evaluate_after_sync(db: Database, storage_id: str, sync_result: Any,
                        settings: AlertSettings | None = None) -> None:
    """Raise and clear the storage's rule alerts from its sync. Never raises: a rule
    failure is logged and must not fail the sync job."""
    try:
        evaluate(db, storage_id, sync_result, settings or AlertSettings())
    except Exception:
        log.exception("evaluating alert rules of storage %s failed", storage_id)


def evaluate(db: Database, storage_id: str, sync_result: Any,
             settings: AlertSettings) -> tuple[int, int]:
    """(raised, cleared) after reconciling every rule of the storage."""
    fresh = _synced_kinds(sync_result)
    store = AlertStore()
    with write(db.engine) as conn:
        serial = conn.execute(sa.select(table_for("storage").c.serial_number).where(
            table_for("storage").c.id == storage_id)).scalar()
        if serial is None:
            return 0, 0  # the storage is gone
        holds: list[Condition] = []
        evaluated: set[str] = set()
        for rule in RULES:
            if rule.kind in fresh:
                holds.extend(rule.conditions(conn, storage_id, settings))
                evaluated.update(rule.rules)
        failures = _count_unreachable(conn, storage_id, _reachable(sync_result))
        evaluated.add(UNREACHABLE)
        if failures >= settings.unreachable_syncs:
            holds.append(Condition(
                UNREACHABLE, "storage", serial, None, "Critical",
                f"storage {serial} was not reachable for {failures} syncs in a row"
                + (f": {sync_result.error}" if sync_result is not None and
                   sync_result.error else ""),
                "Check the array's network, credentials and management service."))
        return _reconcile(conn, store, storage_id, serial, holds, evaluated)


def _reconcile(conn: sa.Connection, store: AlertStore, storage_id: str, serial: str,
               holds: Iterable[Condition], evaluated: set[str]) -> tuple[int, int]:
    wanted = {}
    for condition in holds:
        fields = condition.fields(serial)
        wanted[dedup_key(storage_id, None, fields)] = fields
    open_rows = conn.execute(sa.select(alert.c.id, alert.c.dedup_key, alert.c.alert_id).where(
        alert.c.storage_id == storage_id, alert.c.source == "rule",
        alert.c.state.in_(NOT_CLEARED))).all()
    present = {r.dedup_key for r in open_rows}
    stale = [r.id for r in open_rows if r.dedup_key not in wanted
             and r.alert_id.removeprefix(PREFIX) in evaluated]
    new = [IncomingAlert(storage_id, f, "rule") for k, f in wanted.items() if k not in present]
    result = store.ingest(conn, new)
    cleared = store.clear_rows(conn, stale, CLEARED_BY)
    return len(result.raised), len(cleared)


def _count_unreachable(conn: sa.Connection, storage_id: str, reachable: bool) -> int:
    """Consecutive unreachable syncs, remembered between syncs."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        alert_rule_state)
    now = utcnow()
    if reachable:
        value = 0
        stmt = insert.values(storage_id=storage_id, rule=UNREACHABLE, value=0, updated_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["storage_id", "rule"],
                                          set_={"value": 0, "updated_at": now})
        conn.execute(stmt)
        return value
    stmt = insert.values(storage_id=storage_id, rule=UNREACHABLE, value=1, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["storage_id", "rule"],
        set_={"value": alert_rule_state.c.value + 1, "updated_at": now})
    conn.execute(stmt)
    return int(conn.execute(sa.select(alert_rule_state.c.value).where(
        alert_rule_state.c.storage_id == storage_id,
        alert_rule_state.c.rule == UNREACHABLE)).scalar() or 0)
