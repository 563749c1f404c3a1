"""Registering a storage and updating its access info (Delfin's discover_storage /
update_access_info): the driver verifies reachability, credentials and version first, and
only on success is anything saved. On failure nothing is saved and the caller gets the
reason."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.drivers.context import RequestContext
from storfleet.fleet.access import InvalidAccessInfo, driver_name, normalize
from storfleet.fleet.calls import call_with_timeout
from storfleet.fleet.manager import DriverManager
from storfleet.jobs import schedule
from storfleet.resources import STORAGE, KindValidator, RecordRejected
from storfleet.store import access_infos, write
from storfleet.store.schema import storage as storage_table
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)


class RegistrationError(Exception):
    """Why a registration or an access-info update was refused.

    ``reason`` is stable for scripts: invalid_access_info, unknown_driver, unreachable,
    invalid_credential, unsupported_version, timeout, backend_error, invalid_storage,
    already_registered, serial_mismatch, not_found.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


_REASONS = {
    "unreachable": "unreachable",
    "invalid_credential": "invalid_credential",
    "unsupported_version": "unsupported_version",
    "timeout": "timeout",
    "not_supported": "backend_error",
    "backend_error": "backend_error",
}


def _driver_failure(exc: BaseException, name: str, step: str) -> RegistrationError:
    if isinstance(exc, exception.StorageDriverNotFound):
        return RegistrationError("unknown_driver", str(exc))
    category = exception.category_of(exc)
    reason = _REASONS.get(category, "backend_error")
    detail = str(exc) or type(exc).__name__
    if category == "error" and not isinstance(exc, exception.DriverError):
        detail = f"driver bug: {type(exc).__name__}: {detail}"
    return RegistrationError(reason, f"{name}: {step} failed ({reason}): {detail}")


@dataclass
class Verified:
    driver: Any
    storage: dict[str, Any]
    warnings: list[str]


def _verify(manager: DriverManager, info: dict[str, Any]) -> Verified:
    """Build the driver and read the storage: proves host, port, credentials, version."""
    name = driver_name(info)
    try:
        driver = manager.build(info)
    except Exception as exc:
        raise _driver_failure(exc, name, "connecting") from exc
    try:
        record = call_with_timeout(
            driver.get_storage,
            RequestContext(storage_id=info.get("storage_id")),
            timeout=manager.call_timeout_s,
            what=f"{name} get_storage",
        )
    except Exception as exc:
        raise _driver_failure(exc, name, "get_storage") from exc
    try:
        validated = KindValidator(STORAGE, name).validate(record)
    except RecordRejected as exc:
        raise RegistrationError("invalid_storage", str(exc)) from exc
    if not validated.record.get("serial_number"):
        raise RegistrationError("invalid_storage", f"{name}: get_storage gave no serial number")
    return Verified(driver, validated.record, validated.warnings)


def register_storage(manager: DriverManager, body: dict[str, Any]) -> dict[str, Any]:
    """Verify, then save the storage and its encrypted access info; return the storage row."""
    db = manager.db
    try:
        info = normalize(body)
    except InvalidAccessInfo as exc:
        raise RegistrationError("invalid_access_info", str(exc)) from exc
    storage_id = str(uuid.uuid4())
    info["storage_id"] = storage_id
    verified = _verify(manager, info)
    for warning in verified.warnings:
        log.warning("registering %s: %s", driver_name(info), warning)
    record = dict(verified.storage)
    record["vendor"] = record.get("vendor") or info["vendor"]
    record["model"] = record.get("model") or info["model"]
    for key in ("name", "description"):
        if info.get(key):
            record[key] = info[key]
    serial = record["serial_number"]
    try:
        with write(db.engine) as conn:
            existing = conn.execute(
                sa.select(storage_table.c.id).where(storage_table.c.serial_number == serial)
            ).scalar_one_or_none()
            if existing is not None:
                raise RegistrationError(
                    "already_registered",
                    f"a storage with serial number {serial!r} is already registered as {existing}",
                )
            conn.execute(
                sa.insert(storage_table).values(
                    id=storage_id,
                    created_at=utcnow(),
                    sync_status="SYNCING",
                    sync_state="never",
                    **record,
                )
            )
            access_infos.insert(conn, db.keyring, storage_id, info)
            schedule.ensure_jobs(conn, storage_id, run_now=True)
    except sa.exc.IntegrityError as exc:  # a concurrent registration of the same array
        raise RegistrationError(
            "already_registered", f"a storage with serial number {serial!r} is already registered"
        ) from exc
    manager.put(storage_id, 1, verified.driver, driver_name(info))
    log.info("registered storage %s (%s, serial %s)", storage_id, driver_name(info), serial)
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(storage_table).where(storage_table.c.id == storage_id)).one()
    return dict(row._mapping)


def _merge(old: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in update.items():
        if key in ("storage_id", "version", "vendor", "model"):
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def update_access_info(
    manager: DriverManager, storage_id: str, update: dict[str, Any]
) -> dict[str, Any]:
    """Re-verify the changed access info and save it; refuse a different array."""
    db = manager.db
    with db.engine.connect() as conn:
        current = access_infos.load(conn, db.keyring, storage_id)
        serial = conn.execute(
            sa.select(storage_table.c.serial_number).where(storage_table.c.id == storage_id)
        ).scalar_one_or_none()
    if current is None:
        raise RegistrationError("not_found", f"storage {storage_id} is not registered")
    merged = _merge(current, update)
    merged.pop("version", None)
    try:
        info = normalize(merged)
    except InvalidAccessInfo as exc:
        raise RegistrationError("invalid_access_info", str(exc)) from exc
    info["storage_id"] = storage_id
    verified = _verify(manager, info)
    if verified.storage["serial_number"] != serial:
        raise RegistrationError(
            "serial_mismatch",
            f"the new access info reaches serial number {verified.storage['serial_number']!r},"
            f" not {serial!r}: register that array separately",
        )
    with write(db.engine) as conn:
        version = access_infos.update(conn, db.keyring, storage_id, info)
    manager.put(storage_id, version, verified.driver, driver_name(info))
    log.info("access info of storage %s updated (version %s)", storage_id, version)
    with db.engine.connect() as conn:
        public = access_infos.load_public(conn, storage_id)
    assert public is not None
    return public
