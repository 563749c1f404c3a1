"""The collections the fake array serves, with the spellings a config may use for them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KindSpec:
    name: str  # singular snake_case: "storage_pool"
    collection: str  # Delfin's plural: "storage_pools"
    method: str  # driver method that returns it
    prefix: str  # native id prefix: "pool-000001"
    default: int  # count when the config does not name it
    salt: int  # per-kind hash salt; fixed forever so seeds keep their arrays


KIND_SPECS: tuple[KindSpec, ...] = (
    KindSpec("storage_pool", "storage_pools", "list_storage_pools", "pool", 4, 1),
    KindSpec("volume", "volumes", "list_volumes", "vol", 20, 2),
    KindSpec("controller", "controllers", "list_controllers", "ctrl", 2, 3),
    KindSpec("port", "ports", "list_ports", "port", 8, 4),
    KindSpec("disk", "disks", "list_disks", "disk", 24, 5),
    KindSpec("filesystem", "filesystems", "list_filesystems", "fs", 4, 6),
    KindSpec("qtree", "qtrees", "list_qtrees", "qtree", 8, 7),
    KindSpec("quota", "quotas", "list_quotas", "quota", 8, 8),
    KindSpec("share", "shares", "list_shares", "share", 8, 9),
    KindSpec("storage_host", "storage_hosts", "list_storage_hosts", "host", 6, 10),
    KindSpec(
        "storage_host_initiator",
        "storage_host_initiators",
        "list_storage_host_initiators",
        "init",
        12,
        11,
    ),
    KindSpec("storage_host_group", "storage_host_groups", "list_storage_host_groups", "hg", 2, 12),
    KindSpec("port_group", "port_groups", "list_port_groups", "pg", 2, 13),
    KindSpec("volume_group", "volume_groups", "list_volume_groups", "vg", 3, 14),
    KindSpec("masking_view", "masking_views", "list_masking_views", "mv", 4, 15),
    KindSpec("alert", "alerts", "list_alerts", "alert", 5, 16),
)

SPECS: dict[str, KindSpec] = {spec.name: spec for spec in KIND_SPECS}


@dataclass(frozen=True, slots=True)
class RelationSpec:
    """A group membership relation, returned beside its group in Delfin's dict form."""

    key: str  # Delfin's dict key: "storage_host_grp_host_rels"
    group: str  # group kind: "storage_host_group"
    member: str  # member kind: "storage_host"
    group_field: str
    member_field: str
    salt: int


RELATIONS: dict[str, RelationSpec] = {
    "storage_host_group": RelationSpec(
        "storage_host_grp_host_rels",
        "storage_host_group",
        "storage_host",
        "native_storage_host_group_id",
        "native_storage_host_id",
        17,
    ),
    "port_group": RelationSpec(
        "port_grp_port_rels",
        "port_group",
        "port",
        "native_port_group_id",
        "native_port_id",
        18,
    ),
    "volume_group": RelationSpec(
        "vol_grp_vol_rels",
        "volume_group",
        "volume",
        "native_volume_group_id",
        "native_volume_id",
        19,
    ),
}
RELATION_BY_KEY: dict[str, RelationSpec] = {rel.key: rel for rel in RELATIONS.values()}

_ALIASES: dict[str, str] = {}
for _spec in KIND_SPECS:
    for _spelling in (_spec.name, _spec.collection, _spec.method):
        _ALIASES[_spelling] = _spec.name
        _ALIASES[_spelling.replace("_", "-")] = _spec.name
_ALIASES.update({"pool": "storage_pool", "pools": "storage_pool", "host": "storage_host"})
_ALIASES.update({"hosts": "storage_host", "initiator": "storage_host_initiator"})
_ALIASES.update({"initiators": "storage_host_initiator", "storagePool": "storage_pool"})
del _spec, _spelling


def canonical_kind(spelling: str) -> str:
    """Resolve a kind's spelling (singular, plural, method, dashed) to its singular name."""
    name = _ALIASES.get(spelling.strip()) or _ALIASES.get(spelling.strip().lower())
    if name is None:
        known = ", ".join(spec.collection for spec in KIND_SPECS)
        raise KeyError(f"unknown fake-array collection {spelling!r} (known: {known})")
    return name
