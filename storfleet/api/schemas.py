"""Pydantic v2 models of the API: response bodies derived from the resource declarations,
request bodies as Delfin documents them (and as its clients really send them).

Enumerated fields are documented, not enforced, in responses: a driver may report a
value Delfin does not know (it is stored with a warning) and the API must still answer.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from storfleet.api.queries import MEMBER_LISTS
from storfleet.resources import ALL_KINDS, STORAGE, FieldType, Kind
from storfleet.resources import Field as ResourceField
from storfleet.resources.fields import delfin_enums

_PYTHON_TYPES: dict[FieldType, type] = {
    FieldType.STRING: str,
    FieldType.REFERENCE: str,
    FieldType.ENUM: str,
    FieldType.INTEGER: int,
    FieldType.BOOLEAN: bool,
}


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _description(spec: ResourceField) -> str:
    text = spec.description or ""
    if spec.ref:
        text = (text + " " if text else "") + f"Native id of a {spec.ref} of the same storage."
    if spec.enum:
        values = ", ".join(delfin_enums().get(spec.enum, ()))
        text = (text + " " if text else "") + f"Delfin's {spec.enum}: {values}."
    return text


def _declared_fields(kind: Kind) -> dict[str, Any]:
    return {
        spec.name: (
            _PYTHON_TYPES[spec.type] | None,
            Field(default=None, description=_description(spec) or None),
        )
        for spec in kind.fields
    }


_FRAMEWORK = {
    "id": (str, Field(description="storfleet's id of the record")),
    "created_at": (str, Field(description="When storfleet first stored it (UTC)")),
    "updated_at": (str | None, Field(default=None, description="Last change (UTC)")),
}


@cache
def item_model(kind: Kind) -> type[BaseModel]:
    """The body of one record of ``kind``."""
    fields: dict[str, Any] = dict(_FRAMEWORK)
    if kind is STORAGE:
        fields.update(_declared_fields(kind))
        fields.update(_STORAGE_STATE)
    else:
        fields["storage_id"] = (str, Field(description="Id of the storage it belongs to"))
        fields.update(_declared_fields(kind))
    member_list = MEMBER_LISTS.get(kind.name)
    if member_list is not None:
        fields[member_list.key] = (
            list[str],
            Field(description=f"Native ids of its {member_list.key.replace('_', ' ')}"),
        )
    return create_model(_pascal(kind.name), __doc__=kind.description or None, **fields)


@cache
def list_model(kind: Kind) -> type[BaseModel]:
    """A page of ``kind``: Delfin's body, ``{collection: [...]}``."""
    return create_model(
        f"{_pascal(kind.name)}List", **{kind.collection: (list[item_model(kind)], ...)}
    )


_STORAGE_STATE: dict[str, Any] = {
    "sync_status": (
        Literal["SYNCING", "SYNCED"],
        Field(description="Delfin's two-valued sync status"),
    ),
    "sync_state": (
        str,
        Field(description="storfleet's sync state: never / syncing / synced / failed"),
    ),
    "sync_error": (str | None, Field(default=None, description="Why the last sync failed")),
    "paused": (bool, Field(description="Scheduled syncs are paused (asked-for ones run)")),
    "deleted": (bool, Field(description="Always false: removed storages are not listed")),
    "deleted_at": (str | None, Field(default=None)),
}

# Build every model once at import, so a declaration error shows at start, not on a call.
for _kind in ALL_KINDS:
    list_model(_kind)


# -- access info ---------------------------------------------------------------------------
class AccessBlock(BaseModel):
    """How to reach the array over one protocol (rest / ssh / cli / smis)."""

    model_config = ConfigDict(extra="allow")

    host: str | None = Field(default=None, examples=["10.0.0.1"])
    port: int | str | None = Field(default=None, description="1-65535, a number or its text")
    username: str | None = None
    password: str | None = Field(default=None, description="Stored encrypted, never returned")
    vendor: str | None = Field(
        default=None, description="Accepted here too, as the Delfin guide's curl sends it"
    )
    model: str | None = Field(default=None, description="Accepted here too (see vendor)")
    pub_key: str | None = None
    pub_key_type: str | None = None

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | str | None) -> int | str | None:
        if value is None:
            return None
        text = str(value).strip()
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ValueError("must be a port number, 1-65535")
        return int(text)


class StorageRegistration(BaseModel):
    """Delfin's access info: vendor and model at the top level or inside a block."""

    name: str | None = None
    description: str | None = None
    vendor: str | None = Field(default=None, examples=["fake_storage"])
    model: str | None = Field(default=None, examples=["fake_driver"])
    rest: AccessBlock | None = None
    ssh: AccessBlock | None = None
    cli: AccessBlock | None = None
    smis: AccessBlock | None = None
    extra_attributes: dict[str, Any] | None = None


class AccessInfoUpdate(BaseModel):
    """The parts of an access info to change; blocks are merged into the stored ones."""

    rest: AccessBlock | None = None
    ssh: AccessBlock | None = None
    cli: AccessBlock | None = None
    smis: AccessBlock | None = None
    extra_attributes: dict[str, Any] | None = None


class AccessInfo(BaseModel):
    """An access info as Delfin answers it: never with a secret."""

    storage_id: str
    storage_name: str | None = None
    vendor: str
    model: str
    rest: dict[str, Any]
    ssh: dict[str, Any]
    cli: dict[str, Any]
    smis: dict[str, Any]
    extra_attributes: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None


class AccessInfoList(BaseModel):
    access_infos: list[AccessInfo]


# -- SNMP alert source ----------------------------------------------------------------------
SNMP_VERSIONS = {"snmpv1": "SNMPv1", "snmpv2c": "SNMPv2c", "snmpv3": "SNMPv3"}
SECURITY_LEVELS = {
    "authpriv": "authPriv",
    "authnopriv": "authNoPriv",
    "noauthnopriv": "noAuthnoPriv",
}
AUTH_PROTOCOLS = {
    "hmacsha": "HMACSHA",
    "sha": "HMACSHA",
    "hmacmd5": "HMACMD5",
    "md5": "HMACMD5",
    "hmcsha2224": "HMCSHA2224",
    "hmcsha2256": "HMCSHA2256",
    "hmcsha2384": "HMCSHA2384",
    "hmcsha2512": "HMCSHA2512",
}
PRIVACY_PROTOCOLS = {
    "des": "DES",
    "aes": "AES",
    "aes192": "AES192",
    "aes256": "AES256",
    "3des": "3DES",
}


def _canonical(table: dict[str, str], what: str, value: str | None) -> str | None:
    if value is None:
        return None
    found = table.get(value.strip().lower())
    if found is None:
        raise ValueError(f"{what} must be one of {', '.join(dict.fromkeys(table.values()))}")
    return found


class SnmpConfigUpdate(BaseModel):
    """An SNMP alert source, as Delfin's validation accepts it (wider than its spec)."""

    version: str = Field(description="SNMPv1 / SNMPv2c / SNMPv3 (any case)")
    host: str = Field(min_length=1, description="Source address(es), comma-separated")
    community_string: str | None = Field(default=None, min_length=1, max_length=32)
    username: str | None = None
    engine_id: str | None = Field(default=None, min_length=9, max_length=64)
    security_level: str | None = Field(
        default=None, description="authPriv / authNoPriv / noAuthnoPriv"
    )
    auth_protocol: str | None = Field(default=None, description="HMACSHA, HMACMD5, HMCSHA2224...")
    auth_key: str | None = Field(default=None, min_length=8)
    privacy_protocol: str | None = Field(default=None, description="DES, AES, AES192, AES256, 3DES")
    privacy_key: str | None = Field(default=None, min_length=8)
    context_name: str | None = None
    retry_num: int | None = Field(default=None, ge=0, le=100)
    expiration: int | None = Field(default=None, ge=0, le=3600)
    port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return _canonical(SNMP_VERSIONS, "version", value)  # type: ignore[return-value]

    @field_validator("security_level")
    @classmethod
    def _level(cls, value: str | None) -> str | None:
        return _canonical(SECURITY_LEVELS, "security_level", value)

    @field_validator("auth_protocol")
    @classmethod
    def _auth(cls, value: str | None) -> str | None:
        return _canonical(AUTH_PROTOCOLS, "auth_protocol", value)

    @field_validator("privacy_protocol")
    @classmethod
    def _privacy(cls, value: str | None) -> str | None:
        return _canonical(PRIVACY_PROTOCOLS, "privacy_protocol", value)


class SnmpConfig(BaseModel):
    """A stored SNMP alert source, without its community string or keys."""

    id: str
    storage_id: str
    version: str
    host: str
    port: int | None = None
    username: str | None = None
    engine_id: str | None = None
    security_level: str | None = None
    auth_protocol: str | None = None
    privacy_protocol: str | None = None
    context_name: str | None = None
    retry_num: int | None = None
    expiration: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class SnmpConfigList(BaseModel):
    snmp_configs: list[SnmpConfig]


# -- alerts, capabilities ---------------------------------------------------------------------
class AlertSyncRequest(BaseModel):
    begin_time: int | None = Field(default=None, ge=0, le=2**63 - 1, description="epoch ms")
    end_time: int | None = Field(default=None, ge=0, le=2**63 - 1, description="epoch ms")


class LiveAlert(BaseModel):
    """An alert as the array reports it now (Delfin's alert fields)."""

    model_config = ConfigDict(extra="allow")

    alert_id: str | None = None
    alert_name: str | None = None
    severity: str | None = None
    category: str | None = None
    type: str | None = None
    sequence_number: str | None = None
    occur_time: int | None = None
    description: str | None = None
    storage_id: str


class LiveAlertList(BaseModel):
    alerts: list[LiveAlert]


class Capabilities(BaseModel):
    """Delfin's capabilities: the driver's answer under ``spec``."""

    metadata: dict[str, Any]
    spec: dict[str, Any]


# -- storfleet's own ------------------------------------------------------------------------
class KindSyncState(BaseModel):
    kind: str
    status: str
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    duration_s: float | None = None
    added: int
    changed: int
    removed: int
    total: int
    warnings: int
    rejected: int
    last_error: str | None = None
    sample_warnings: list[str] | None = None


class SyncState(BaseModel):
    storage_id: str
    sync_status: str
    sync_state: str
    sync_error: str | None = None
    paused: bool
    sync_interval_s: float
    requested: bool
    running: bool
    next_sync_at: str | None = None
    last_started_at: str | None = None
    last_finished_at: str | None = None
    last_status: str | None = None
    kinds: list[KindSyncState]


class Change(BaseModel):
    cursor: str = Field(description="Pass as ?cursor= to read what came after this change")
    storage_id: str
    kind: str
    native_id: str | None = None
    op: str = Field(description="added / changed / removed / initial_load")
    fields: dict[str, Any] | None = Field(
        default=None, description="{field: [old, new]} of a change; {count} of an initial load"
    )
    at: str


class ChangeList(BaseModel):
    changes: list[Change]
    next_cursor: str


class AuditEntry(BaseModel):
    id: int
    at: str
    actor: str
    actor_name: str | None = None
    role: str | None = None
    method: str
    path: str
    query: str | None = None
    body: Any = None
    status: int
    outcome: str | None = None
    remote: str | None = None
    duration_ms: float | None = None


class AuditList(BaseModel):
    entries: list[AuditEntry]
