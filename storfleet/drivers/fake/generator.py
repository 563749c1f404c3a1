"""The fake array's inventory as a pure function of (seed, counts, churn, generation).

Churn without history: with ``p = churn / 3`` each kind's live records are the index window
``[floor(g * n * p), floor(g * n * p) + n)``, so each generation step removes the oldest
~``p * n`` records and adds ~``p * n`` new ones; a live record's version is
``floor(g * p + u_i)`` (``u_i`` uniform per record), so ~``p * n`` of them change per step.
A reference picks a residue class of its target kind; the class's live member is unique in
every generation, so when a parent leaves, its dependants follow its replacement (they
count as changed). Everything is O(1) per record, for any generation, in any process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from storfleet.drivers.fake import records as builders
from storfleet.drivers.fake.config import FakeConfig
from storfleet.drivers.fake.kinds import (
    RELATION_BY_KEY,
    RELATIONS,
    SPECS,
    RelationSpec,
    canonical_kind,
)
from storfleet.drivers.fake.mixing import (
    BLOCK,
    LOW_DIGITS,
    BlockHasher,
    block_hasher,
    digest64,
    hex_digest,
    mix64,
)

_CLASS_TABLE_MAX = 1 << 16  # parents up to this many get a precomputed class -> id table


class Snapshot:
    """One generation of one fake array: windows, versions and references."""

    def __init__(self, array: FakeArray, generation: int) -> None:
        self.array = array
        self.generation = generation
        # p = churn / 3 in 32-bit fixed point: exact integer arithmetic in every process
        p_fx = array.p_fx
        self.gp_fx = generation * p_fx
        self._windows: dict[str, tuple[int, int]] = {
            kind: ((generation * n * p_fx) >> 32, n) for kind, n in array.config.counts.items()
        }
        self.seed_hex = array.seed_hex
        self.wwn_prefix = array.wwn_prefix
        self.net_octet = array.net_octet
        self._class_tables: dict[str, list[str] | None] = {}

    # windows and classes -------------------------------------------------------------
    def hasher(self, kind: str) -> BlockHasher:
        return block_hasher(self.array.salts[kind])

    def window(self, kind: str) -> tuple[int, int]:
        """(first live index, count) of a kind."""
        return self._windows[kind]

    def count(self, kind: str) -> int:
        return self._windows[kind][1]

    def indices(self, kind: str) -> range:
        start, n = self._windows[kind]
        return range(start, start + n)

    def is_live(self, kind: str, index: int) -> bool:
        start, n = self._windows[kind]
        return start <= index < start + n

    def static_hash(self, kind: str, index: int) -> int:
        """The hash fixed for a record's life (its type, its parents' classes...)."""
        return block_hasher(self.array.salts[kind])(index)

    def version(self, h0: int) -> int:
        """floor(g * p + u): bumped in ~p of the records at each generation step."""
        return (self.gp_fx + (h0 & 0xFFFFFFFF)) >> 32

    def member_index(self, kind: str, cls: int) -> int:
        """The live index of residue class ``cls`` (mod the kind's count)."""
        start, n = self._windows[kind]
        return start + (cls - start) % n

    def native_id(self, kind: str, index: int) -> str:
        return f"{SPECS[kind].prefix}-{index:06d}"

    def member_id(self, kind: str, cls: int) -> str:
        start, n = self._windows[kind]
        return f"{SPECS[kind].prefix}-{start + (cls - start) % n:06d}"

    def class_ids(self, kind: str) -> list[str] | None:
        """Class -> native id for a small kind (None if too large to tabulate)."""
        if kind not in self._class_tables:
            n = self.count(kind)
            table = None
            if n <= _CLASS_TABLE_MAX:
                table = [self.member_id(kind, cls) for cls in range(n)]
            self._class_tables[kind] = table
        return self._class_tables[kind]

    def _ref(self, kind: str, bits: int) -> str | None:
        n = self._windows[kind][1]
        return self.member_id(kind, bits % n) if n else None

    def qtree_filesystem(self, qtree_index: int) -> str | None:
        return self._ref("filesystem", self.static_hash("qtree", qtree_index) >> 32)

    def refs(self, kind: str, index: int, h0: int) -> tuple[str | None, ...]:
        """The native ids a record refers to, in this generation."""
        if kind in ("volume", "disk", "filesystem"):
            return (self._ref("storage_pool", h0 >> 32),)
        if kind == "port":
            return (self._ref("controller", h0 >> 32),)
        if kind == "qtree":
            return (self._ref("filesystem", h0 >> 32),)
        if kind == "storage_host_initiator":
            return (self._ref("storage_host", h0 >> 32),)
        if kind in ("quota", "share"):
            on_qtree = kind == "quota" or (h0 >> 48) & 1 == 1
            if on_qtree and self.count("qtree"):
                qtree = self.member_index("qtree", (h0 >> 32) % self.count("qtree"))
                return (self.qtree_filesystem(qtree), self.native_id("qtree", qtree))
            return (self._ref("filesystem", h0 >> 32), None)
        if kind == "masking_view":
            hb = mix64(h0)
            if (h0 >> 60) & 1:  # a view of groups
                return (
                    self._ref("storage_host_group", hb),
                    self._ref("volume_group", hb >> 16),
                    self._ref("port_group", hb >> 32),
                    None,
                    None,
                    None,
                )
            return (
                None,
                None,
                None,
                self._ref("storage_host", hb),
                self._ref("volume", hb >> 16),
                self._ref("port", hb >> 40),
            )
        return ()

    # records --------------------------------------------------------------------------
    def records(self, kind: str, storage_id: Any = None) -> Iterator[dict[str, Any]]:
        """A kind's live records, lazily (a generator, never a list)."""
        start, n = self._windows[kind]
        if kind == "volume":  # no extra generator layer on the hot path
            return builders.iter_volumes(self, start, start + n, storage_id)
        return self._records(kind, start, n, storage_id)

    def _records(self, kind: str, start: int, n: int, storage_id: Any) -> Iterator[dict[str, Any]]:
        build = builders.BUILDERS[kind]
        hasher = self.hasher(kind)
        low = hasher.low
        gp_fx = self.gp_fx
        for block, base, lows in hasher.walk(start, start + n):
            first = block * BLOCK
            for j in lows:
                h0 = base ^ low[j]
                yield build(self, first + j, h0, (gp_fx + (h0 & 0xFFFFFFFF)) >> 32, storage_id)

    def record(self, kind: str, index: int, storage_id: Any = None) -> dict[str, Any]:
        h0 = self.static_hash(kind, index)
        return builders.BUILDERS[kind](self, index, h0, self.version(h0), storage_id)

    def relations(self, rel: RelationSpec, storage_id: Any = None) -> Iterator[dict[str, Any]]:
        """Membership rows: each member sits in at most one group (or none)."""
        n_groups = self.count(rel.group)
        if not n_groups:
            return
        groups = self.class_ids(rel.group)
        member_prefix = SPECS[rel.member].prefix + "-"
        # membership is a static choice of the member: its own hash of the relation
        hasher = block_hasher(self.array.salts[rel.key])
        low = hasher.low
        # share of members in a group: 3/4 of hosts, 1/2 of ports, 1/4 of volumes
        keep = {"storage_host": (1, 2, 3), "port": (0, 2), "volume": (0,)}[rel.member]
        start, n = self._windows[rel.member]
        for block, base, lows in hasher.walk(start, start + n):
            head = f"{block:03d}"
            for j in lows:
                hr = base ^ low[j]
                if hr & 3 not in keep:
                    continue
                cls = (hr >> 8) % n_groups
                yield {
                    "storage_id": storage_id,
                    rel.group_field: groups[cls]
                    if groups is not None
                    else self.member_id(rel.group, cls),
                    rel.member_field: member_prefix + head + LOW_DIGITS[j],
                }


@dataclass
class KindDiff:
    """What changed in one kind between two generations (sets of native ids)."""

    added: set[Any] = field(default_factory=set)
    removed: set[Any] = field(default_factory=set)
    changed: set[Any] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class FakeArray:
    """A simulated array: ``FakeArray(extra_attributes).records(kind, generation)``."""

    def __init__(self, extra_attributes: Mapping[str, Any] | FakeConfig | str | None = None):
        if isinstance(extra_attributes, FakeConfig):
            self.config = extra_attributes
        else:
            self.config = FakeConfig.from_extra_attributes(extra_attributes)
        seed = self.config.seed
        self.seed = seed
        self.seed_hex = hex_digest("fake-array", seed, size=8)
        self.serial_number = "FAKE-" + self.seed_hex[:12].upper()
        self.wwn_prefix = "6" + hex_digest("wwn", seed, size=8)[:15]
        self.net_octet = digest64("net", seed) % 250 + 1
        self.salts: dict[str, int] = {
            name: digest64("kind", seed, spec.salt) for name, spec in SPECS.items()
        }
        self.salts.update(
            {rel.key: digest64("relation", seed, rel.salt) for rel in RELATIONS.values()}
        )
        # p = churn / 3 as a 32-bit fixed-point fraction
        self.p_fx = round(self.config.churn / 3.0 * 2**32)
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    # generations ----------------------------------------------------------------------
    def generation_at(self, when: float | None = None) -> int:
        """The generation in force at ``when`` (epoch seconds; now if None)."""
        if self.config.generation is not None:
            return self.config.generation
        now = time.time() if when is None else when
        return max(0, math.floor(now / self.config.churn_period_s))

    def snapshot(self, generation: int | None = None) -> Snapshot:
        g = self.generation_at() if generation is None else int(generation)
        if g < 0:
            raise ValueError(f"generation must be >= 0, got {g}")
        with self._lock:  # a sync lists kinds from several threads at once
            snap = self._snapshots.get(g)
            if snap is None:
                snap = self._snapshots[g] = Snapshot(self, g)
                while len(self._snapshots) > 8:
                    self._snapshots.popitem(last=False)
        return snap

    # inventory ------------------------------------------------------------------------
    def records(
        self, kind: str, generation: int | None = None, storage_id: Any = None
    ) -> Iterator[dict[str, Any]]:
        """Records of a kind (any spelling) or a relation key, generated lazily."""
        snap = self.snapshot(generation)
        if kind in RELATION_BY_KEY:
            return snap.relations(RELATION_BY_KEY[kind], storage_id)
        return snap.records(canonical_kind(kind), storage_id)

    def group_records(
        self, kind: str, generation: int | None = None, storage_id: Any = None
    ) -> dict[str, Iterator[dict[str, Any]]]:
        """A group kind in Delfin's dict form: the groups and their membership rows."""
        name = canonical_kind(kind)
        rel = RELATIONS[name]
        snap = self.snapshot(generation)
        return {
            SPECS[name].collection: snap.records(name, storage_id),
            rel.key: snap.relations(rel, storage_id),
        }

    def ids(self, kind: str, generation: int | None = None) -> list[str]:
        """Native ids of a kind's live records (a list: for tests and small kinds)."""
        name = canonical_kind(kind)
        snap = self.snapshot(generation)
        return [snap.native_id(name, i) for i in snap.indices(name)]

    def storage(
        self,
        generation: int | None = None,
        storage_id: Any = None,
        vendor: str = "fake_storage",
        model: str = "fake_driver",
    ) -> dict[str, Any]:
        """The array itself; its capacities are the sums of its pools'."""
        snap = self.snapshot(generation)
        total = used = free = subscribed = 0
        degraded = False
        for pool in snap.records("storage_pool"):
            total += pool["total_capacity"]
            used += pool["used_capacity"]
            free += pool["free_capacity"]
            subscribed += pool["subscribed_capacity"]
            degraded = degraded or pool["status"] != "normal"
        return {
            "name": f"fake-array-{self.seed}",
            "storage_id": storage_id,
            "description": "storfleet fake array (a deterministic simulator)",
            "vendor": vendor,
            "model": model,
            "status": "degraded" if degraded else "normal",
            "serial_number": self.serial_number,
            "firmware_version": f"FakeOS {1 + self.seed % 3}.{self.seed % 10}.0",
            "location": f"lab-rack-{digest64('rack', self.seed) % 40 + 1:02d}",
            "total_capacity": total,
            "used_capacity": used,
            "free_capacity": free,
            "raw_capacity": total * 5 // 4,  # RAID-5 4+1 overhead
            "subscribed_capacity": subscribed,
        }

    # churn ----------------------------------------------------------------------------
    def diff_all(self, g1: int, g2: int) -> dict[str, KindDiff]:
        """:meth:`diff` of every kind and relation key (alerts excluded)."""
        kinds = [name for name in SPECS if name != "alert"] + list(RELATION_BY_KEY)
        return {kind: self.diff(kind, g1, g2) for kind in kinds}

    def diff(self, kind: str, g1: int, g2: int) -> KindDiff:
        """What changes from generation g1 to g2, computed from the closed form: O(1)
        per record, building only the records whose version or parents moved.

        For a relation key, membership rows (group id, member id) added and removed.
        """
        s1, s2 = self.snapshot(g1), self.snapshot(g2)
        if kind in RELATION_BY_KEY:
            rel = RELATION_BY_KEY[kind]
            before = {(r[rel.group_field], r[rel.member_field]) for r in s1.relations(rel)}
            after = {(r[rel.group_field], r[rel.member_field]) for r in s2.relations(rel)}
            return KindDiff(added=after - before, removed=before - after)
        name = canonical_kind(kind)
        live1, live2 = s1.indices(name), s2.indices(name)
        result = KindDiff()
        result.removed = {s1.native_id(name, i) for i in live1 if not s2.is_live(name, i)}
        result.added = {s2.native_id(name, i) for i in live2 if not s1.is_live(name, i)}
        hasher = block_hasher(self.salts[name])
        for i in range(max(live1.start, live2.start), min(live1.stop, live2.stop)):
            h0 = hasher(i)
            if s1.version(h0) == s2.version(h0) and s1.refs(name, i, h0) == s2.refs(name, i, h0):
                continue  # same version, same parents: the same record, no need to look
            # a new version may redraw a few enumerated values as they were (a qtree's
            # security mode): only a record that differs is changed
            if s1.record(name, i) != s2.record(name, i):
                result.changed.add(s1.native_id(name, i))
        return result
