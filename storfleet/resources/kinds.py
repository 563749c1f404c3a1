"""The inventory kinds of storfleet, declared once.

Each :class:`Kind` lists its fields (Delfin's names and enumerations), its identifier (the
native id, unique within a storage), its references to other kinds and its volatile fields.
The store's tables, the API schemas, driver-output validation and the sync keys are all
derived from these declarations; nothing else restates a field.

Inside storfleet a kind has one spelling, singular snake_case (``storage_pool``). Delfin's
spellings (``storage-pools`` in paths, ``storage_pools`` in bodies, ``storagePool`` in
metrics) are attributes of the declaration and are used only at the API and driver boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from storfleet.resources.fields import (
    Field,
    FieldType,
    boolean,
    capacity,
    enumeration,
    integer,
    reference,
    string,
)

# Keys a driver may send that belong to the framework: ignored by rule, never stored from
# driver output.
FRAMEWORK_KEYS = frozenset(
    {"id", "storage_id", "created_at", "updated_at", "deleted", "deleted_at"}
)


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    collection: str  # Delfin's plural body key: "storage_pools"
    path: str | None = None  # Delfin's URL segment: "storage-pools"
    list_method: str | None = None  # driver method that returns it
    relation_key: str | None = None  # for relations: key inside the group method's dict
    metric_type: str | None = None  # Delfin's resource type in metrics: "storagePool"
    relation: bool = False
    # Driver keys this kind ignores by declared rule (e.g. a host group's "storage_hosts"
    # string, which Delfin derives from the membership relation instead).
    ignored: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    @cached_property
    def field_map(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def native_id(self) -> str:
        """The identifier field of a non-relation kind (``native_volume_id``)."""
        return self.key[0]

    @cached_property
    def references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type is FieldType.REFERENCE)

    @cached_property
    def volatile(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.volatile)

    @cached_property
    def filters(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.filter)

    @cached_property
    def delfin_spellings(self) -> frozenset[str]:
        names = {self.name, self.collection}
        if self.path:
            names.add(self.path)
        if self.metric_type:
            names.add(self.metric_type)
        if self.relation_key:
            names.add(self.relation_key)
        return frozenset(names)


def _name(**kw) -> Field:
    return string("name", filter=True, index=True, **kw)


def _status(enum_name: str) -> Field:
    # A filter, but not indexed: few distinct values, and every index slows each sync.
    return enumeration("status", enum_name, filter=True)


def _description() -> Field:
    return string("description")


STORAGE = Kind(
    name="storage",
    collection="storages",
    path="storages",
    list_method="get_storage",
    metric_type="storage",
    key=("serial_number",),
    # Delfin's own state of a storage, present in its API bodies, never a driver's to set.
    ignored=frozenset({"sync_status"}),
    fields=(
        _name(),
        _description(),
        string("vendor", filter=True),
        string("model", filter=True),
        _status("StorageStatus"),
        string("serial_number", filter=True, index=True),
        string("firmware_version"),
        string("location"),
        capacity("total_capacity"),
        capacity("used_capacity", volatile=True),
        capacity("free_capacity", volatile=True),
        capacity("raw_capacity"),
        capacity("subscribed_capacity", volatile=True),
    ),
    description="A registered storage array.",
)

STORAGE_POOL = Kind(
    name="storage_pool",
    collection="storage_pools",
    path="storage-pools",
    list_method="list_storage_pools",
    metric_type="storagePool",
    key=("native_storage_pool_id",),
    fields=(
        _name(),
        string("native_storage_pool_id", filter=True),
        _description(),
        _status("StoragePoolStatus"),
        enumeration("storage_type", "StorageType"),
        capacity("total_capacity"),
        capacity("used_capacity", volatile=True),
        capacity("free_capacity", volatile=True),
        capacity("subscribed_capacity", volatile=True),
    ),
)

VOLUME = Kind(
    name="volume",
    collection="volumes",
    path="volumes",
    list_method="list_volumes",
    metric_type="volume",
    key=("native_volume_id",),
    fields=(
        _name(),
        string("native_volume_id", filter=True),
        _description(),
        _status("VolumeStatus"),
        reference("native_storage_pool_id", "storage_pool", filter=True),
        string("wwn"),
        enumeration("type", "VolumeType"),
        capacity("total_capacity"),
        capacity("used_capacity", volatile=True),
        capacity("free_capacity", volatile=True),
        boolean("compressed"),
        boolean("deduplicated"),
    ),
)

CONTROLLER = Kind(
    name="controller",
    collection="controllers",
    path="controllers",
    list_method="list_controllers",
    metric_type="controller",
    key=("native_controller_id",),
    fields=(
        _name(),
        string("native_controller_id", filter=True),
        _status("ControllerStatus"),
        string("location"),
        string("soft_version"),
        string("cpu_info"),
        integer("cpu_count"),
        capacity("memory_size"),
        string("mgmt_ip"),
    ),
)

PORT = Kind(
    name="port",
    collection="ports",
    path="ports",
    list_method="list_ports",
    metric_type="port",
    key=("native_port_id",),
    fields=(
        _name(),
        string("native_port_id", filter=True),
        reference("native_parent_id", "controller"),
        string("location"),
        enumeration("connection_status", "PortConnectionStatus", filter=True),
        enumeration("health_status", "PortHealthStatus", filter=True),
        enumeration("type", "PortType"),
        enumeration("logical_type", "PortLogicalType"),
        integer("speed"),
        integer("max_speed"),
        string("wwn"),
        string("mac_address"),
        string("ipv4"),
        string("ipv4_mask"),
        string("ipv6"),
        string("ipv6_mask"),
    ),
)

DISK = Kind(
    name="disk",
    collection="disks",
    path="disks",
    list_method="list_disks",
    metric_type="disk",
    key=("native_disk_id",),
    fields=(
        _name(),
        string("native_disk_id", filter=True),
        string("serial_number"),
        string("manufacturer"),
        string("model"),
        string("firmware"),
        integer("speed"),
        capacity("capacity"),
        _status("DiskStatus"),
        enumeration("physical_type", "DiskPhysicalType"),
        enumeration("logical_type", "DiskLogicalType"),
        integer("health_score", volatile=True),
        # A disk group is not always a pool on real arrays: kept as a plain id.
        string("native_disk_group_id", filter=True),
        string("location"),
    ),
)

FILESYSTEM = Kind(
    name="filesystem",
    collection="filesystems",
    path="filesystems",
    list_method="list_filesystems",
    metric_type="filesystem",
    key=("native_filesystem_id",),
    fields=(
        _name(),
        string("native_filesystem_id", filter=True),
        reference("native_pool_id", "storage_pool", filter=True),
        enumeration("status", "FilesystemStatus", filter=True),
        enumeration("type", "FSType"),
        enumeration("security_mode", "NASSecurityMode", filter=True),
        capacity("total_capacity"),
        capacity("used_capacity", volatile=True),
        capacity("free_capacity", volatile=True),
        enumeration("worm", "WORMType"),
        boolean("deduplicated"),
        boolean("compressed"),
    ),
)

QTREE = Kind(
    name="qtree",
    collection="qtrees",
    path="qtrees",
    list_method="list_qtrees",
    key=("native_qtree_id",),
    fields=(
        _name(),
        string("native_qtree_id", filter=True),
        reference("native_filesystem_id", "filesystem", filter=True),
        string("path"),
        enumeration("security_mode", "NASSecurityMode", filter=True),
    ),
)

QUOTA = Kind(
    name="quota",
    collection="quotas",
    path="quotas",
    list_method="list_quotas",
    key=("native_quota_id",),
    fields=(
        string("native_quota_id", filter=True),
        _name(),
        enumeration("type", "QuotaType", filter=True),
        reference("native_filesystem_id", "filesystem", filter=True),
        reference("native_qtree_id", "qtree", filter=True),
        capacity("capacity_hard_limit"),
        capacity("capacity_soft_limit"),
        integer("file_hard_limit"),
        integer("file_soft_limit"),
        capacity("used_capacity", volatile=True),
        integer("file_count", volatile=True),
        string("user_group_name"),
    ),
)

SHARE = Kind(
    name="share",
    collection="shares",
    path="shares",
    list_method="list_shares",
    metric_type="share",
    key=("native_share_id",),
    fields=(
        _name(),
        string("native_share_id", filter=True),
        reference("native_filesystem_id", "filesystem", filter=True),
        reference("native_qtree_id", "qtree", filter=True),
        enumeration("protocol", "ShareProtocol", filter=True),
        string("path"),
    ),
)

STORAGE_HOST_INITIATOR = Kind(
    name="storage_host_initiator",
    collection="storage_host_initiators",
    path="storage-host-initiators",
    list_method="list_storage_host_initiators",
    key=("native_storage_host_initiator_id",),
    fields=(
        _name(),
        _description(),
        string("alias", filter=True),
        string("wwn", filter=True),
        string("native_storage_host_initiator_id", filter=True),
        reference("native_storage_host_id", "storage_host", filter=True),
        enumeration("type", "InitiatorType"),
        _status("InitiatorStatus"),
    ),
)

STORAGE_HOST = Kind(
    name="storage_host",
    collection="storage_hosts",
    path="storage-hosts",
    list_method="list_storage_hosts",
    key=("native_storage_host_id",),
    fields=(
        _name(),
        _description(),
        string("native_storage_host_id", filter=True),
        _status("HostStatus"),
        string("ip_address", filter=True),
        enumeration("os_type", "HostOSTypes", filter=True),
    ),
)

STORAGE_HOST_GROUP = Kind(
    name="storage_host_group",
    collection="storage_host_groups",
    path="storage-host-groups",
    list_method="list_storage_host_groups",
    key=("native_storage_host_group_id",),
    ignored=frozenset({"storage_hosts"}),
    fields=(
        _name(),
        _description(),
        string("native_storage_host_group_id", filter=True),
    ),
)

PORT_GROUP = Kind(
    name="port_group",
    collection="port_groups",
    path="port-groups",
    list_method="list_port_groups",
    key=("native_port_group_id",),
    ignored=frozenset({"ports"}),
    fields=(
        _name(),
        _description(),
        string("native_port_group_id", filter=True),
    ),
)

VOLUME_GROUP = Kind(
    name="volume_group",
    collection="volume_groups",
    path="volume-groups",
    list_method="list_volume_groups",
    key=("native_volume_group_id",),
    ignored=frozenset({"volumes"}),
    fields=(
        _name(),
        _description(),
        string("native_volume_group_id", filter=True),
    ),
)

MASKING_VIEW = Kind(
    name="masking_view",
    collection="masking_views",
    path="masking-views",
    list_method="list_masking_views",
    key=("native_masking_view_id",),
    fields=(
        _name(),
        _description(),
        string("native_masking_view_id", filter=True),
        reference("native_storage_host_group_id", "storage_host_group", filter=True),
        reference("native_volume_group_id", "volume_group", filter=True),
        reference("native_port_group_id", "port_group", filter=True),
        reference("native_storage_host_id", "storage_host", filter=True),
        reference("native_volume_id", "volume", filter=True),
        reference("native_port_id", "port", filter=True),
    ),
)

STORAGE_HOST_GROUP_HOST = Kind(
    name="storage_host_group_host",
    collection="storage_host_grp_host_rels",
    relation_key="storage_host_grp_host_rels",
    list_method="list_storage_host_groups",
    relation=True,
    key=("native_storage_host_group_id", "native_storage_host_id"),
    fields=(
        reference("native_storage_host_group_id", "storage_host_group", filter=True),
        reference("native_storage_host_id", "storage_host", filter=True),
    ),
    description="Membership of a storage host in a storage host group.",
)

PORT_GROUP_PORT = Kind(
    name="port_group_port",
    collection="port_grp_port_rels",
    relation_key="port_grp_port_rels",
    list_method="list_port_groups",
    relation=True,
    key=("native_port_group_id", "native_port_id"),
    fields=(
        reference("native_port_group_id", "port_group", filter=True),
        reference("native_port_id", "port", filter=True),
    ),
    description="Membership of a port in a port group.",
)

VOLUME_GROUP_VOLUME = Kind(
    name="volume_group_volume",
    collection="vol_grp_vol_rels",
    relation_key="vol_grp_vol_rels",
    list_method="list_volume_groups",
    relation=True,
    key=("native_volume_group_id", "native_volume_id"),
    fields=(
        reference("native_volume_group_id", "volume_group", filter=True),
        reference("native_volume_id", "volume", filter=True),
    ),
    description="Membership of a volume in a volume group.",
)

ALL_KINDS: tuple[Kind, ...] = (
    STORAGE,
    STORAGE_POOL,
    VOLUME,
    CONTROLLER,
    PORT,
    DISK,
    QUOTA,
    FILESYSTEM,
    QTREE,
    SHARE,
    STORAGE_HOST_INITIATOR,
    STORAGE_HOST,
    STORAGE_HOST_GROUP,
    PORT_GROUP,
    VOLUME_GROUP,
    MASKING_VIEW,
    STORAGE_HOST_GROUP_HOST,
    PORT_GROUP_PORT,
    VOLUME_GROUP_VOLUME,
)

KINDS: dict[str, Kind] = {k.name: k for k in ALL_KINDS}

# Everything below the storage itself: what a sync fetches per storage.
INVENTORY_KINDS: tuple[Kind, ...] = tuple(k for k in ALL_KINDS if k is not STORAGE)

# For a group method: the group kind and its membership relation, in Delfin's dict form.
GROUP_RELATIONS: dict[str, Kind] = {
    "storage_host_group": STORAGE_HOST_GROUP_HOST,
    "port_group": PORT_GROUP_PORT,
    "volume_group": VOLUME_GROUP_VOLUME,
}

_SPELLINGS: dict[str, Kind] = {}
for _kind in ALL_KINDS:
    for _spelling in _kind.delfin_spellings:
        _SPELLINGS[_spelling.lower()] = _kind
        _SPELLINGS[_spelling.lower().replace("-", "_")] = _kind
del _kind, _spelling


def kind_for(spelling: str) -> Kind:
    """Resolve any spelling (storfleet's, Delfin's path, body or metric one) to a kind."""
    key = spelling.strip().lower()
    found = _SPELLINGS.get(key) or _SPELLINGS.get(key.replace("-", "_"))
    if found is None:
        known = ", ".join(sorted(KINDS))
        raise KeyError(f"unknown resource kind {spelling!r} (known: {known})")
    return found


def _check_declarations() -> None:
    """Fail at import if a declaration is inconsistent (a typo in a ref or a key)."""
    for kind in ALL_KINDS:
        for name in kind.key:
            if name not in kind.field_map:
                raise AssertionError(f"{kind.name}: key field {name!r} is not declared")
        for ref in kind.references:
            if ref.ref not in KINDS:
                raise AssertionError(f"{kind.name}.{ref.name}: unknown kind {ref.ref!r}")
        clash = FRAMEWORK_KEYS & set(kind.field_names)
        if clash:
            raise AssertionError(f"{kind.name}: framework-owned names declared: {clash}")


_check_declarations()
