"""The database schema.

Inventory tables are derived from the resource declarations (storfleet.resources.kinds):
one table per kind, named after it, with the framework's columns (id, storage_id,
created_at, updated_at, fingerprint) plus one column per declared field. The framework's
own records (access info, alert sources, alerts, changes, sync state) are ordinary tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from storfleet.resources import ALL_KINDS, STORAGE, FieldType, Kind
from storfleet.store.types import ByteText, JSONText, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_COLUMN_TYPES = {
    FieldType.STRING: ByteText,
    FieldType.REFERENCE: ByteText,
    FieldType.ENUM: ByteText,
    FieldType.INTEGER: sa.BigInteger,
    FieldType.BOOLEAN: sa.Boolean,
}


def _field_columns(kind: Kind) -> list[sa.Column]:
    return [sa.Column(f.name, _COLUMN_TYPES[f.type]()) for f in kind.fields]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime()),
    ]


def _storage_table() -> sa.Table:
    """The storage table: the declared fields plus the framework's state of the storage."""
    return sa.Table(
        STORAGE.name,
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        *_timestamps(),
        *_field_columns(STORAGE),
        # Delfin's two-valued status (SYNCING / SYNCED) beside storfleet's richer state.
        sa.Column("sync_status", sa.String(16), nullable=False, server_default="SYNCING"),
        sa.Column("sync_state", sa.String(16), nullable=False, server_default="never"),
        sa.Column("sync_error", sa.Text()),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("deleting", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("sync_interval_s", sa.Integer()),
        sa.Index(None, "serial_number", unique=True),
        sa.Index(None, "created_at", "id"),
        sa.Index(None, "name"),
    )


def _inventory_table(kind: Kind) -> sa.Table:
    columns: list[sa.Column | sa.Index | sa.Constraint] = [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("storage_id", sa.String(36), nullable=False),
        *_timestamps(),
        # Stable hash of the declared fields: a re-sync compares it instead of every column.
        sa.Column("fingerprint", sa.BigInteger(), nullable=False),
        *_field_columns(kind),
        sa.UniqueConstraint("storage_id", *kind.key),
        # Covers a sync's read of a stored kind (native key -> id, fingerprint): an
        # index-only scan instead of a table lookup per row (3x faster at 100k rows).
        sa.Index(None, "storage_id", *kind.key, "fingerprint", "id"),
        sa.Index(None, "created_at", "id"),
        sa.Index(None, "storage_id", "created_at", "id"),
    ]
    # Sorting by an indexed field (name) is served per storage; a fleet-wide sort by name
    # is a sort, not an index: every index slows every sync's writes.
    for f in kind.fields:
        if f.index:
            columns.append(sa.Index(None, "storage_id", f.name, "id"))
    if not kind.relation:  # a relation's unique constraint already serves its references
        for ref in kind.references:
            columns.append(sa.Index(None, "storage_id", ref.name))
    return sa.Table(kind.name, metadata, *columns)


storage = _storage_table()
inventory: dict[str, sa.Table] = {
    kind.name: _inventory_table(kind) for kind in ALL_KINDS if kind is not STORAGE
}

access_info = sa.Table(
    "access_info",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    *_timestamps(),
    sa.Column("vendor", sa.Text(), nullable=False),
    sa.Column("model", sa.Text(), nullable=False),
    # Connection blocks without their secrets; the secrets are in ``secret`` (encrypted).
    sa.Column("rest", JSONText()),
    sa.Column("ssh", JSONText()),
    sa.Column("cli", JSONText()),
    sa.Column("smis", JSONText()),
    sa.Column("extra_attributes", JSONText()),
    sa.Column("secret", sa.Text(), nullable=False),
    # Bumped on every change: cached drivers built from an older version are rebuilt.
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
)

alert_source = sa.Table(
    "alert_source",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    *_timestamps(),
    sa.Column("version", sa.String(16), nullable=False),
    # Source addresses of the array's agents (several for dual controllers).
    sa.Column("hosts", JSONText(), nullable=False),
    sa.Column("port", sa.Integer()),
    sa.Column("username", sa.Text()),
    sa.Column("engine_id", sa.Text()),
    sa.Column("security_level", sa.String(16)),
    sa.Column("auth_protocol", sa.String(16)),
    sa.Column("privacy_protocol", sa.String(16)),
    sa.Column("context_name", sa.Text()),
    sa.Column("retry_num", sa.Integer()),
    sa.Column("expiration", sa.Integer()),
    # community_string / auth_key / privacy_key, encrypted together.
    sa.Column("secret", sa.Text(), nullable=False),
)

alert = sa.Table(
    "alert",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("storage_id", sa.String(36)),  # NULL: a trap that matched no storage
    sa.Column("alert_id", ByteText(), nullable=False),
    sa.Column("alert_name", sa.Text()),
    sa.Column("severity", sa.String(16)),
    sa.Column("category", sa.String(16)),
    sa.Column("type", sa.String(48)),
    sa.Column("description", sa.Text()),
    sa.Column("recovery_advice", sa.Text()),
    sa.Column("resource_type", sa.String(32)),
    sa.Column("location", ByteText()),
    sa.Column("match_key", ByteText()),
    sa.Column("serial_number", sa.Text()),
    sa.Column("sequence_numbers", JSONText()),
    sa.Column("source", sa.String(16), nullable=False),  # trap / poll / rule
    sa.Column("transport_address", sa.Text()),
    sa.Column("state", sa.String(16), nullable=False),  # open / acknowledged / cleared
    sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("occur_time", UTCDateTime()),
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("cleared_at", UTCDateTime()),
    sa.Column("cleared_by", sa.Text()),
    sa.Index(None, "storage_id", "state", "alert_id"),
    sa.Index(None, "last_seen", "id"),
)

change = sa.Table(
    "change",
    metadata,
    # The cursor of the change feed.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("storage_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(48), nullable=False),
    sa.Column("native_id", ByteText()),
    sa.Column("op", sa.String(16), nullable=False),  # added / changed / removed / initial_load
    sa.Column("fields", JSONText()),  # {field: [old, new]}
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "storage_id", "id"),
    sa.Index(None, "at"),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(48), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # synced / failed / not_supported
    sa.Column("last_attempt_at", UTCDateTime()),
    sa.Column("last_success_at", UTCDateTime()),
    sa.Column("duration_s", sa.Float()),
    sa.Column("added", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("changed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("removed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("warnings", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("rejected", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text()),
    sa.Column("sample_warnings", JSONText()),
)


def table_for(kind: Kind | str) -> sa.Table:
    name = kind if isinstance(kind, str) else kind.name
    return storage if name == STORAGE.name else inventory[name]

# A lease is held by whoever runs a job on a storage (a sync, a collection...). It is the
# one mechanism that keeps two runs of the same job apart, in the embedded mode and on
# Celery alike; it expires if its holder dies.
lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(96), primary_key=True),  # "sync:<storage id>"
    sa.Column("owner", sa.String(96), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# Due times of the periodic jobs, per storage and job kind: the database decides what is
# due, so the embedded pool and Celery workers run the same schedule.
job = sa.Table(
    "job",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # sync / collect / poll
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("requested_at", UTCDateTime()),  # an operator asked for a run now
    sa.Column("last_started_at", UTCDateTime()),
    sa.Column("last_finished_at", UTCDateTime()),
    sa.Column("last_status", sa.String(16)),  # ok / failed / skipped
    sa.Column("last_error", sa.Text()),
    sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "due_at"),
)

# API bearer tokens. Only a hash of the secret part is stored; the token itself is shown
# once, when it is created.
api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the public part of the token
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # admin / reader
    sa.Column("secret_hash", sa.String(64), nullable=False),  # sha256 hex of the secret
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.Text()),
    sa.Column("last_used_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
)

# Every mutating API call: who, what, when, result. Bodies are stored redacted.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.Text(), nullable=False),  # token id, or anonymous / insecure
    sa.Column("actor_name", sa.Text()),
    sa.Column("role", sa.String(16)),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("query", sa.Text()),
    sa.Column("body", JSONText()),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("outcome", sa.Text()),
    sa.Column("remote", sa.Text()),
    sa.Column("duration_ms", sa.Float()),
    sa.Index(None, "at", "id"),
    sa.Index(None, "actor", "id"),
)

# ---------------------------------------------------------------------------------------
# Performance metrics (storfleet.metrics; owned by the metrics work).
#
# History is kept under a row budget per series: raw samples for the recent hours
# (metric_sample), then 5-minute and 1-hour rollups (metric_rollup). Rows are narrow
# (integer series id, epoch-ms time, value); the labels live once in metric_series.

# One row per storage: what is collected, how often, and how collection is going.
metric_collection = sa.Table(
    "metric_collection",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    # Operator's choices: interval (seconds; NULL: the driver's or the default), resource
    # types whose every series /metrics shows (else a top-N), metric names to collect.
    sa.Column("interval_s", sa.Integer()),
    sa.Column("detail", JSONText()),
    sa.Column("metrics", JSONText()),
    # The driver's last get_capabilities answer and what is wrong with it.
    sa.Column("capabilities", JSONText()),
    sa.Column("capability_problems", JSONText()),
    sa.Column("capabilities_at", UTCDateTime()),
    sa.Column("capabilities_version", sa.Integer()),  # access-info version asked
    # Everything up to collected_until_ms (epoch ms) is collected or counted as lost.
    sa.Column("collected_until_ms", sa.BigInteger()),
    sa.Column("last_sample_ms", sa.BigInteger()),
    sa.Column("last_attempt_at", UTCDateTime()),
    sa.Column("last_success_at", UTCDateTime()),
    sa.Column("retry_at", UTCDateTime()),
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),  # in a row
    sa.Column("failures_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text()),
    sa.Column("windows_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("samples_total", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("rejected_series_total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("sample_problems", JSONText()),  # the last collection's, a few
    # Windows that fell out of the driver's retention before they could be collected.
    sa.Column("lost_windows", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("lost_ms", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("lost_ranges", JSONText()),  # the latest [start_ms, end_ms] ranges
    sa.Column("rolled_until_ms", JSONText()),  # {rollup step seconds: epoch ms}
    sa.Column("pruned_at", UTCDateTime()),
)

# One row per collected series: its labels, once.
metric_series = sa.Table(
    "metric_series",
    metadata,
    # Clustered by storage like the samples: the first collection of a storage appends its
    # thousands of series in one place. Keyed by a hash of the labels, a table clustered by
    # id alone took one random page per new series (8x slower on a fleet's first contact,
    # measured at 1,000,000 series); an index on storage_id cost the same again.
    sa.Column("storage_key", sa.BigInteger(), primary_key=True, autoincrement=False),
    # A 64-bit hash of the labels (storfleet.metrics.batch.series_id): "one row per series"
    # needs no unique index over the label columns.
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("storage_id", sa.String(36), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),  # storfleet's kind spelling
    sa.Column("resource_id", ByteText(), nullable=False),
    sa.Column("resource_name", sa.Text()),
    sa.Column("metric", sa.String(48), nullable=False),  # Delfin's metric name
    sa.Column("unit", sa.String(16)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sqlite_with_rowid=False,
)

# Raw samples of the recent hours, clustered by storage, then time: a collected window is
# appended where its storage's rows end (a handful of pages per commit, where clustering
# by series would touch one page per series), and a storage's rollups, pruning and latest
# values are range scans. storage_key is a 64-bit hash of the storage id.
metric_sample = sa.Table(
    "metric_sample",
    metadata,
    sa.Column("storage_key", sa.BigInteger(), primary_key=True),
    sa.Column("ts", sa.BigInteger(), primary_key=True),  # epoch ms
    sa.Column("series_id", sa.BigInteger(), primary_key=True),
    sa.Column("value", sa.Float(), nullable=False),
    sqlite_with_rowid=False,
)

# Rollups: one row per storage, step (300 or 3600 s), bucket start and series.
metric_rollup = sa.Table(
    "metric_rollup",
    metadata,
    sa.Column("storage_key", sa.BigInteger(), primary_key=True),
    sa.Column("step_s", sa.Integer(), primary_key=True),
    sa.Column("ts", sa.BigInteger(), primary_key=True),  # bucket start, epoch ms
    sa.Column("series_id", sa.BigInteger(), primary_key=True),
    sa.Column("avg", sa.Float(), nullable=False),
    sa.Column("min", sa.Float(), nullable=False),
    sa.Column("max", sa.Float(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sqlite_with_rowid=False,
)

# ---------------------------------------------------------------------------------------
# Alerts (storfleet.alerts; owned by the alerts work). Appended so concurrent edits above
# never collide: extra columns of the alert table, its event outbox and exporter cursors.

# Identity of "the same alert" while it is not cleared: a hash of storage (or, for an
# unmatched trap, its source address), alert id, resource type and location. A duplicate
# finds its open row through the index below instead of comparing four columns.
alert.append_column(sa.Column("dedup_key", sa.String(40)))
alert.append_column(sa.Column("acknowledged_at", UTCDateTime()))
alert.append_column(sa.Column("acknowledged_by", sa.Text()))
alert.append_column(sa.Column("clear_type", sa.String(16)))
# The trap as received (OID -> value) when no driver could parse it (unmatched source,
# parse failure): what an operator needs to configure the source or fix the driver.
alert.append_column(sa.Column("varbinds", JSONText()))
alert.append_column(sa.Column("updated_at", UTCDateTime()))
sa.Index(None, alert.c.dedup_key, alert.c.state)
sa.Index(None, alert.c.state, alert.c.id)

# Every change of a stored alert (raised, repeated, acknowledged, cleared, reopened),
# written in the transaction that made it: exporters (webhook, Kafka) read from here, so
# one that is down delays only itself and misses nothing when it comes back.
alert_event = sa.Table(
    "alert_event",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("alert_ref", sa.BigInteger(), nullable=False),  # alert.id
    sa.Column("storage_id", sa.String(36)),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
    sa.Index(None, "at"),
)

# How far each exporter has read the event outbox (and when it last sent everything).
alert_export = sa.Table(
    "alert_export",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime()),
    sa.Column("last_error", sa.Text()),
)

# Memory of the rules between syncs: consecutive unreachable syncs of a storage.
alert_rule_state = sa.Table(
    "alert_rule_state",
    metadata,
    sa.Column("storage_id", sa.String(36), primary_key=True),
    sa.Column("rule", sa.String(48), primary_key=True),
    sa.Column("value", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime()),
)
