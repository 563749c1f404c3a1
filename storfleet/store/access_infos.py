"""Access info: how storfleet reaches an array. Secrets are split off and encrypted.

A stored access info is the connection blocks (rest / ssh / cli / smis) and
extra_attributes with every secret field removed, plus one encrypted blob holding those
secret fields. ``version`` increases on every update so cached drivers can notice.
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from storfleet.secrets import Keyring
from storfleet.store.schema import access_info as table
from storfleet.store.types import utcnow

BLOCKS = ("rest", "ssh", "cli", "smis")
# Field names that hold secrets, in any block or in extra_attributes (by declared name, as
# Home Assistant's diagnostics redact them).
SECRET_FIELDS = frozenset({"password", "private_key", "passphrase", "api_key", "token", "secret"})


def split_secrets(access_info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public part, secret part) of an access info; neither shares objects with the input."""
    public = copy.deepcopy(access_info)
    secret: dict[str, Any] = {}
    for section in (*BLOCKS, "extra_attributes"):
        block = public.get(section)
        if not isinstance(block, dict):
            continue
        hidden = {k: block.pop(k) for k in list(block) if k in SECRET_FIELDS}
        if hidden:
            secret[section] = hidden
    return public, secret


def merge_secrets(public: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(public)
    for section, values in secret.items():
        merged.setdefault(section, {})
        if merged[section] is None:
            merged[section] = {}
        merged[section].update(values)
    return merged


def _row_values(access_info: dict[str, Any], keyring: Keyring) -> dict[str, Any]:
    public, secret = split_secrets(access_info)
    values = {section: public.get(section) or None for section in BLOCKS}
    values.update(
        vendor=public["vendor"],
        model=public["model"],
        extra_attributes=public.get("extra_attributes") or None,
        secret=keyring.encrypt_json(secret),
    )
    return values


def insert(conn: sa.Connection, keyring: Keyring, storage_id: str, info: dict[str, Any]) -> None:
    values = _row_values(info, keyring)
    conn.execute(
        sa.insert(table).values(storage_id=storage_id, created_at=utcnow(), version=1, **values)
    )


def update(conn: sa.Connection, keyring: Keyring, storage_id: str, info: dict[str, Any]) -> int:
    """Replace the access info; returns the new version."""
    values = _row_values(info, keyring)
    result = conn.execute(
        sa.update(table)
        .where(table.c.storage_id == storage_id)
        .values(updated_at=utcnow(), version=table.c.version + 1, **values)
        .returning(table.c.version)
    )
    return result.scalar_one()


def _public_dict(row: sa.Row) -> dict[str, Any]:
    info = {"storage_id": row.storage_id, "vendor": row.vendor, "model": row.model}
    for section in BLOCKS:
        info[section] = row._mapping[section]
    info["extra_attributes"] = row.extra_attributes or {}
    return info


def load(conn: sa.Connection, keyring: Keyring, storage_id: str) -> dict[str, Any] | None:
    """The access info with its secrets decrypted, as a driver is built from it."""
    row = conn.execute(sa.select(table).where(table.c.storage_id == storage_id)).first()
    if row is None:
        return None
    secret = keyring.decrypt_json(row.secret, f"the access info of storage {storage_id}")
    info = merge_secrets(_public_dict(row), secret)
    info["version"] = row.version
    return info


def load_public(conn: sa.Connection, storage_id: str) -> dict[str, Any] | None:
    """The access info without any secret (what the API may return)."""
    row = conn.execute(sa.select(table).where(table.c.storage_id == storage_id)).first()
    if row is None:
        return None
    info = _public_dict(row)
    info.update(created_at=row.created_at, updated_at=row.updated_at, version=row.version)
    return info


def version_of(conn: sa.Connection, storage_id: str) -> int | None:
    return conn.execute(
        sa.select(table.c.version).where(table.c.storage_id == storage_id)
    ).scalar_one_or_none()
