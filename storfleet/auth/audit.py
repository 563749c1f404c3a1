"""The audit log: every mutating API call, who made it, when, and how it ended.

Request bodies are stored, with every secret replaced by ``***``: values are redacted by
key name (as Home Assistant's diagnostics do), at any depth, so a new secret field only
needs its name added to ``SECRET_KEYS``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa

from storfleet.store import write
from storfleet.store.schema import audit_log
from storfleet.store.types import utcnow

log = logging.getLogger(__name__)

REDACTED = "***"
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "private_key",
        "secret",
        "token",
        "api_key",
        "community_string",
        "auth_key",
        "privacy_key",
        "authorization",
    }
)
MAX_BODY_BYTES = 64 * 1024
MAX_OUTCOME_CHARS = 500


def _is_secret(key: str) -> bool:
    return key.lower() in SECRET_KEYS


def redact(value: Any) -> Any:
    """A copy of ``value`` with the value of every secret key replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _is_secret(str(k)) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_body(raw: bytes) -> Any:
    """What the log keeps of a request body: redacted JSON, or a note saying what it was
    (a body that is not JSON may hold anything, so it is never stored as such)."""
    if not raw:
        return None
    if len(raw) > MAX_BODY_BYTES:
        return {"_not_stored": f"{len(raw)} bytes (too large)"}
    try:
        # NaN / Infinity are not JSON: kept as the words, so the log stays valid JSON
        return redact(json.loads(raw, parse_constant=str))
    except (ValueError, UnicodeDecodeError):
        return {"_not_stored": f"{len(raw)} bytes, not JSON"}


def redact_query(query: str) -> str | None:
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if _is_secret(k) else v) for k, v in pairs])


def record(engine: sa.Engine, **values: Any) -> None:
    """Write one entry; a failure is logged, never raised (the call itself is done)."""
    values.setdefault("at", utcnow())
    outcome = values.get("outcome")
    if outcome and len(outcome) > MAX_OUTCOME_CHARS:
        values["outcome"] = outcome[: MAX_OUTCOME_CHARS - 3] + "..."
    try:
        with write(engine) as conn:
            conn.execute(sa.insert(audit_log).values(**values))
    except Exception:
        log.exception("could not write the audit entry of %s %s", values["method"], values["path"])


def entries(
    conn: sa.Connection,
    *,
    limit: int,
    before: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first; ``before`` is the id of the last entry already seen."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    return [dict(r._mapping) for r in conn.execute(query)]
