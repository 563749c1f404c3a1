"""Per-kind record builders: one record as a pure function of its index and generation.

A builder gets the generation's :class:`~storfleet.drivers.fake.generator.Snapshot`, the
record's index ``i``, its static hash ``h0`` (fixed for the record's life: type, parent
class...) and its version ``v`` (bumped when churn "changes" it; the mutable hash derives
from it). References are resolved by the snapshot's ``refs`` so that a record can only
differ between two generations when its version or its references do.

Only Delfin's canonical enumeration values and integer byte capacities appear here; absent
values are None, never "".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from storfleet.drivers.fake.mixing import LOW_DIGITS, MASK64, mix64

if TYPE_CHECKING:
    from storfleet.drivers.fake.generator import Snapshot

GiB = 1024**3
TiB = 1024**4
GB = 1000**3
TB = 1000**4
Gbit = 1_000_000_000

Builder = Callable[["Snapshot", int, int, int, Any], dict[str, Any]]


def _pick(table: tuple[Any, ...], bits: int) -> Any:
    return table[bits % len(table)]


# Weighted tables: a value repeated is a value more likely.
POOL_TYPES = ("block",) * 6 + ("unified",) * 3 + ("file",)
VOLUME_SIZES_GIB = (1, 2, 4, 8, 10, 16, 20, 32, 50, 64, 100, 128, 200, 256, 500, 1024)
CPU_INFO = ("Intel Xeon Gold 6248R @ 3.00GHz", "Intel Xeon Silver 4216 @ 2.10GHz", "AMD EPYC 7452")
CPU_COUNTS = (16, 24, 32, 48)
MEMORY_GIB = (128, 256, 512)
# (type, logical type, speed, max speed): front-end fc/iscsi/eth, back-end sas.
PORT_MODELS = (
    ("fc", "frontend", 16 * Gbit, 32 * Gbit),
    ("fc", "frontend", 32 * Gbit, 32 * Gbit),
    ("fc", "frontend", 32 * Gbit, 32 * Gbit),
    ("iscsi", "frontend", 10 * Gbit, 25 * Gbit),
    ("iscsi", "frontend", 25 * Gbit, 25 * Gbit),
    ("eth", "frontend", 25 * Gbit, 100 * Gbit),
    ("eth", "management", 1 * Gbit, 1 * Gbit),
    ("sas", "backend", 12 * Gbit, 12 * Gbit),
)
# (manufacturer, model, physical type, rpm or None, capacity in bytes)
DISK_MODELS = (
    ("Samsung", "MZWLR3T8HBLS", "nvme-ssd", None, 3_840 * GB),
    ("Samsung", "MZILT1T9HBJR", "ssd", None, 1_920 * GB),
    ("Micron", "MTFDDAK1T9TDS", "ssd", None, 1_920 * GB),
    ("Seagate", "ST8000NM0055", "nl-sas", 7200, 8 * TB),
    ("HGST", "HUC101818CS4200", "sas", 10000, 1_800 * GB),
    ("Toshiba", "AL15SEB24EQ", "sas", 10000, 2_400 * GB),
)
DISK_LOGICAL = ("member",) * 18 + ("hotspare", "free")
SECURITY_MODES = ("unix",) * 10 + ("ntfs",) * 5 + ("mixed",) * 4 + ("native",)
WORM_TYPES = ("non_worm",) * 17 + ("compliance", "enterprise", "audit_log")
QUOTA_TYPES = ("tree",) * 5 + ("user",) * 3 + ("group",) * 2
SHARE_PROTOCOLS = ("nfs",) * 10 + ("cifs",) * 8 + ("ftp", "hdfs")
HOST_OS = (
    ("Linux",) * 8
    + ("Windows",) * 3
    + ("VMware ESX",) * 3
    + ("Windows Server 2012", "AIX", "Solaris", "HP-UX", "XenServer", "Oracle VM")
)
INITIATOR_TYPES = ("fc",) * 10 + ("iscsi",) * 8 + ("nvme-of", "sas")
INITIATOR_STATUS = ("online",) * 18 + ("offline", "unknown")


def build_storage_pool(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    total = (16 + (h1 >> 8) % 257) * TiB
    used = total * (50 + (h1 >> 20) % 900) // 1000
    return {
        "name": f"pool_{i:06d}",
        "storage_id": sid,
        "native_storage_pool_id": f"pool-{i:06d}",
        "description": f"Fake storage pool, revision {v}",
        "status": "degraded" if (h1 >> 40) % 100 < 3 else "normal",
        "storage_type": _pick(POOL_TYPES, h0 >> 32),
        "total_capacity": total,
        "used_capacity": used,
        "free_capacity": total - used,
        "subscribed_capacity": total * (50 + (h1 >> 48) % 200) // 100,
    }


# Volume attributes by table: a record's bits pick a row instead of computing each field.
_VOLUME_SHAPES = tuple(
    (thin, "thin" if thin else "thick", thin and c, thin and d)
    for thin in (True,) * 7 + (False,) * 3
    for c in (False, True)
    for d in (False, True)
)  # 40 rows: (thin, type, compressed, deduplicated); 70% thin


def _volume_sizes(thin: bool) -> tuple[tuple[int, int, int, str], ...]:
    rows = []
    for m in range(4096):
        total = VOLUME_SIZES_GIB[m & 15] * GiB
        used = total * ((m * 2654435761 >> 4) & 1023) // 1077 if thin else total
        status = "error" if (m * 40503 >> 3) % 512 < 2 else "available"
        rows.append((total, used, total - used, status))
    return tuple(rows)


_THIN_SIZES = _volume_sizes(True)
_THICK_SIZES = _volume_sizes(False)


def iter_volumes(snap: Snapshot, start: int, stop: int, sid: Any) -> Iterator[dict[str, Any]]:
    """Volumes, inlined: the one kind counted in millions, so every 100 ns shows.

    Static choices (thin, compression, pool class) come from the static hash, mutable ones
    (size, usage, status) from the static hash xor a per-version constant.
    """
    hasher = snap.hasher("volume")
    low = hasher.low
    gp_fx = snap.gp_fx
    n_pools = snap.count("storage_pool")
    pools = snap.class_ids("storage_pool") if n_pools else None
    member_id = snap.member_id
    wwn_prefix = snap.wwn_prefix
    digits = LOW_DIGITS
    shapes = _VOLUME_SHAPES
    n_shapes = len(shapes)
    versions: dict[int, tuple[int, str]] = {}
    for block, base, lows in hasher.walk(start, stop):
        head = f"{block:03d}"
        wwn_head = wwn_prefix + f"{block:013d}"
        for j in lows:
            h0 = base ^ low[j]
            v = (gp_fx + (h0 & 0xFFFFFFFF)) >> 32
            known = versions.get(v)
            if known is None:
                known = versions[v] = (
                    (v * 0x9E3779B97F4A7C15) & MASK64,
                    f"Fake volume, revision {v}",
                )
            flip, description = known
            thin, kind, compressed, deduplicated = shapes[(h0 >> 44) % n_shapes]
            total, used, free, status = (_THIN_SIZES if thin else _THICK_SIZES)[
                ((h0 ^ flip) >> 20) & 4095
            ]
            if pools is not None:
                pool = pools[(h0 >> 32) % n_pools]
            else:
                pool = member_id("storage_pool", h0 >> 32) if n_pools else None
            tail = digits[j]
            yield {
                "name": "lun_" + head + tail,
                "storage_id": sid,
                "native_volume_id": "vol-" + head + tail,
                "description": description,
                "status": status,
                "native_storage_pool_id": pool,
                "wwn": wwn_head + tail,
                "type": kind,
                "total_capacity": total,
                "used_capacity": used,
                "free_capacity": free,
                "compressed": compressed,
                "deduplicated": deduplicated,
            }


def build_controller(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    return {
        "name": f"controller_{i:06d}",
        "storage_id": sid,
        "native_controller_id": f"ctrl-{i:06d}",
        "status": "degraded" if (h1 >> 40) % 100 < 2 else "normal",
        "location": f"enclosure-{i // 2:02d} slot-{'AB'[i % 2]}",
        "soft_version": f"9.{(h0 >> 44) % 4}.{v}",  # an upgrade is the change it sees
        "cpu_info": _pick(CPU_INFO, h0 >> 32),
        "cpu_count": _pick(CPU_COUNTS, h0 >> 36),
        "memory_size": _pick(MEMORY_GIB, h0 >> 40) * GiB,
        "mgmt_ip": f"10.{snap.net_octet}.{(i // 254) % 256}.{i % 254 + 1}",
    }


def build_port(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    (parent,) = snap.refs("port", i, h0)
    kind, logical, speed, max_speed = _pick(PORT_MODELS, h0 >> 40)
    ip = kind in ("iscsi", "eth")
    return {
        "name": f"port_{i:06d}",
        "storage_id": sid,
        "native_port_id": f"port-{i:06d}",
        "native_parent_id": parent,
        "location": f"{parent or 'chassis'}/{kind}{i % 8}",
        "connection_status": "disconnected" if (h1 >> 8) % 100 < 8 else "connected",
        "health_status": "abnormal" if (h1 >> 16) % 100 < 3 else "normal",
        "type": kind,
        "logical_type": logical,
        "speed": speed,
        "max_speed": max_speed,
        "wwn": f"5000{snap.seed_hex[:6]}{i:06x}" if kind == "fc" else None,
        "mac_address": f"00:a0:98:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
        if ip
        else None,
        "ipv4": f"172.{16 + snap.net_octet % 16}.{(i // 254) % 256}.{i % 254 + 1}" if ip else None,
        "ipv4_mask": "255.255.255.0" if ip else None,
        "ipv6": f"fd00:{snap.net_octet:x}::{i:x}" if ip else None,
        "ipv6_mask": "64" if ip else None,
    }


def build_disk(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    (pool,) = snap.refs("disk", i, h0)
    maker, model, physical, rpm, capacity = _pick(DISK_MODELS, h0 >> 40)
    status_roll = (h1 >> 40) % 200
    return {
        "name": f"disk_{i:06d}",
        "storage_id": sid,
        "native_disk_id": f"disk-{i:06d}",
        "serial_number": f"S{h0 >> 16:012X}",
        "manufacturer": maker,
        "model": model,
        "firmware": f"{model[:2].upper()}{10 + v % 90:02d}",
        "speed": rpm,
        "capacity": capacity,
        "status": "abnormal" if status_roll < 2 else "degraded" if status_roll < 4 else "normal",
        "physical_type": physical,
        "logical_type": _pick(DISK_LOGICAL, h0 >> 48),
        "health_score": 70 + (h1 >> 16) % 31,
        "native_disk_group_id": pool,
        "location": f"enclosure-{i // 24:02d} slot-{i % 24:02d}",
    }


def build_filesystem(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    (pool,) = snap.refs("filesystem", i, h0)
    thin = (h0 >> 36) % 3 != 0
    total = (100 + (h1 >> 8) % 10141) * GiB
    used = total * ((h1 >> 24) % 1000) // 1000
    return {
        "name": f"fs_{i:06d}",
        "storage_id": sid,
        "native_filesystem_id": f"fs-{i:06d}",
        "native_pool_id": pool,
        "status": "faulty" if (h1 >> 40) % 100 < 1 else "normal",
        "type": "thin" if thin else "thick",
        "security_mode": _pick(SECURITY_MODES, h0 >> 40),
        "total_capacity": total,
        "used_capacity": used,
        "free_capacity": total - used,
        "worm": _pick(WORM_TYPES, h0 >> 44),
        "deduplicated": (h0 >> 50) & 1 == 1,
        "compressed": (h0 >> 51) & 1 == 1,
    }


def build_qtree(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    (fs,) = snap.refs("qtree", i, h0)
    h1 = mix64(h0 ^ v)
    return {
        "name": f"qtree_{i:06d}",
        "storage_id": sid,
        "native_qtree_id": f"qtree-{i:06d}",
        "native_filesystem_id": fs,
        "path": f"/{fs or 'vol0'}/qtree_{i:06d}",
        "security_mode": _pick(SECURITY_MODES, h1 >> 40),
    }


def build_quota(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    fs, qtree = snap.refs("quota", i, h0)
    kind = _pick(QUOTA_TYPES, h0 >> 40)
    hard = (10 + (h1 >> 8) % 1015) * GiB
    files = (10 + (h1 >> 20) % 990) * 1000
    return {
        "native_quota_id": f"quota-{i:06d}",
        "name": f"quota_{i:06d}",
        "storage_id": sid,
        "type": kind,
        "native_filesystem_id": fs,
        "native_qtree_id": qtree,
        "capacity_hard_limit": hard,
        "capacity_soft_limit": hard * 4 // 5,
        "file_hard_limit": files,
        "file_soft_limit": files * 4 // 5,
        "used_capacity": hard * ((h1 >> 32) % 1000) // 1000,
        "file_count": files * ((h1 >> 44) % 1000) // 1000,
        "user_group_name": None if kind == "tree" else f"{kind}{(h0 >> 48) % 5000:04d}",
    }


def build_share(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    fs, qtree = snap.refs("share", i, h0)
    h1 = mix64(h0 ^ v)
    path = f"/{fs or 'vol0'}" + (f"/{qtree}" if qtree else "")
    return {
        "name": f"share_{i:06d}",
        "storage_id": sid,
        "native_share_id": f"share-{i:06d}",
        "native_filesystem_id": fs,
        "native_qtree_id": qtree,
        "protocol": _pick(SHARE_PROTOCOLS, h1 >> 40),
        "path": path,
    }


def build_storage_host(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    return {
        "name": f"host_{i:06d}",
        "storage_id": sid,
        "native_storage_host_id": f"host-{i:06d}",
        "description": f"Fake host, revision {v}",
        "status": "offline" if (h1 >> 40) % 100 < 3 else "normal",
        "ip_address": f"192.168.{(i // 254) % 256}.{i % 254 + 1}",
        "os_type": _pick(HOST_OS, h0 >> 40),
    }


def build_storage_host_initiator(
    snap: Snapshot, i: int, h0: int, v: int, sid: Any
) -> dict[str, Any]:
    h1 = mix64(h0 ^ v)
    (host,) = snap.refs("storage_host_initiator", i, h0)
    kind = _pick(INITIATOR_TYPES, h0 >> 40)
    if kind == "fc" or kind == "sas":
        wwn = f"2100{snap.seed_hex[:6]}{i:06x}"
    elif kind == "iscsi":
        wwn = f"iqn.1994-05.com.redhat:{snap.seed_hex[:8]}-{i:x}"
    else:
        wwn = f"nqn.2014-08.org.nvmexpress:uuid:{snap.seed_hex[:8]}-{i:012x}"
    return {
        "name": f"initiator_{i:06d}",
        "storage_id": sid,
        "native_storage_host_initiator_id": f"init-{i:06d}",
        "native_storage_host_id": host,
        "alias": f"{kind}-initiator-{i}",
        "description": f"Fake {kind} initiator, revision {v}",
        "type": kind,
        "status": _pick(INITIATOR_STATUS, h1 >> 40),
        "wwn": wwn,
    }


def _group_builder(kind: str, prefix: str, label: str) -> Builder:
    def build(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
        return {
            "name": f"{kind}_{i:06d}",
            "storage_id": sid,
            f"native_{kind}_id": f"{prefix}-{i:06d}",
            "description": f"Fake {label}, revision {v}",
        }

    build.__name__ = f"build_{kind}"
    return build


def build_masking_view(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    host_group, volume_group, port_group, host, volume, port = snap.refs("masking_view", i, h0)
    return {
        "name": f"masking_view_{i:06d}",
        "storage_id": sid,
        "native_masking_view_id": f"mv-{i:06d}",
        "description": f"Fake masking view, revision {v}",
        "native_storage_host_group_id": host_group,
        "native_volume_group_id": volume_group,
        "native_port_group_id": port_group,
        "native_storage_host_id": host,
        "native_volume_id": volume,
        "native_port_id": port,
    }


def build_volume(snap: Snapshot, i: int, h0: int, v: int, sid: Any) -> dict[str, Any]:
    """One volume (the same as :func:`iter_volumes` yields; used by record lookups)."""
    return next(iter_volumes(snap, i, i + 1, sid))


BUILDERS: dict[str, Builder] = {
    "storage_pool": build_storage_pool,
    "volume": build_volume,
    "controller": build_controller,
    "port": build_port,
    "disk": build_disk,
    "filesystem": build_filesystem,
    "qtree": build_qtree,
    "quota": build_quota,
    "share": build_share,
    "storage_host": build_storage_host,
    "storage_host_initiator": build_storage_host_initiator,
    "storage_host_group": _group_builder("storage_host_group", "hg", "host group"),
    "port_group": _group_builder("port_group", "pg", "port group"),
    "volume_group": _group_builder("volume_group", "vg", "volume group"),
    "masking_view": build_masking_view,
}
