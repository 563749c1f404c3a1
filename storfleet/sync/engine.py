"""Syncing one storage: every kind its driver supports, each applied atomically.

The sync holds the storage's ``sync`` lease for its whole run (renewed in the background,
checked again in every kind's final transaction), so two syncs of one storage never run
at once, whichever node or worker started them, and a sync whose worker died stops
showing as "syncing" once its lease expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from storfleet.drivers import exception
from storfleet.fleet.manager import DelfinGroups, DriverManager, stream_call
from storfleet.jobs.leases import Lease, LeaseLost, lease_name, new_owner, try_acquire
from storfleet.resources import GROUP_RELATIONS, INVENTORY_KINDS, STORAGE, Kind, KindValidator
from storfleet.store import write
from storfleet.store.database import Database
from storfleet.store.schema import storage as storage_table
from storfleet.store.types import utcnow
from storfleet.sync.apply import KindApplier, KindFailed, KindOutcome
from storfleet.sync.state import set_storage_state, successful_kinds, upsert_kind_state

log = logging.getLogger(__name__)

RELATION_KINDS = {rel.name for rel in GROUP_RELATIONS.values()}
# Kinds fetched at once by one sync: each holds a database connection while it streams.
MAX_KIND_THREADS = 2


class AlreadySyncing(RuntimeError):
    def __init__(self, storage_id: str) -> None:
        self.storage_id = storage_id
        super().__init__(f"storage {storage_id} is already syncing")


@dataclass
class SyncResult:
    storage_id: str
    state: str  # synced / failed
    error: str | None = None
    kinds: dict[str, KindOutcome] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def failed_kinds(self) -> list[str]:
        return [name for name, o in self.kinds.items() if o.status == "failed"]


def _describe(exc: BaseException) -> str:
    category = exception.category_of(exc)
    text = str(exc) or type(exc).__name__
    if category == "error" and not isinstance(exc, exception.DriverError | KindFailed):
        text = f"{type(exc).__name__}: {text}"
    return f"{category}: {text}" if category != "error" else text


def _chunks_of(records: Iterable[Any] | None, size: int = 5000) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for record in records or ():
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class StorageSync:
    def __init__(self, db: Database, manager: DriverManager, storage_id: str, lease: Lease):
        self.db = db
        self.manager = manager
        self.storage_id = storage_id
        self.lease = lease
        self.result = SyncResult(storage_id, "synced")

    def run(self) -> SyncResult:
        cached = self.manager.get(self.storage_id)
        self.driver_name = cached.name
        features = type(cached.driver).supported_features()
        self._sync_storage_record()
        with self.db.engine.connect() as conn:
            self.loaded = successful_kinds(conn, self.storage_id)
        plan = [k for k in INVENTORY_KINDS if k.name not in RELATION_KINDS]
        supported = [k for k in plan if k.list_method in features]
        for kind in plan:
            if kind not in supported:
                self._not_supported(kind)
                relation = GROUP_RELATIONS.get(kind.name)
                if relation is not None:
                    self._not_supported(relation)
        # As many kinds at once as the array accepts calls, within the per-sync cap.
        workers = max(1, min(int(getattr(cached.driver, "max_concurrency", 1)), MAX_KIND_THREADS))
        with ThreadPoolExecutor(workers, thread_name_prefix="storfleet-sync") as pool:
            for outcomes in pool.map(self._sync_kind, supported):
                for outcome in outcomes:
                    self.result.kinds[outcome.kind] = outcome
        self._check_references()
        if self.result.failed_kinds:
            self.result.state = "failed"
            self.result.error = "; ".join(
                f"{name}: {self.result.kinds[name].error}" for name in self.result.failed_kinds
            )
        return self.result

    # -- the storage itself -------------------------------------------------------------
    def _sync_storage_record(self) -> None:
        record = self.manager.call(self.storage_id, "get_storage")
        clean = KindValidator(STORAGE, self.driver_name).validate(record).record
        with write(self.db.engine) as conn:
            serial = conn.execute(
                sa.select(storage_table.c.serial_number).where(
                    storage_table.c.id == self.storage_id
                )
            ).scalar_one()
            if clean["serial_number"] != serial:
                raise KindFailed(
                    f"the array now reports serial number {clean['serial_number']!r}, not "
                    f"{serial!r}: its access info reaches another array"
                )
            self.lease.fence(conn)
            values = {k: v for k, v in clean.items() if v is not None and k != "name"}
            set_storage_state(conn, self.storage_id, updated_at=utcnow(), **values)

    # -- one kind (and its membership relation) ------------------------------------------
    def _sync_kind(self, kind: Kind) -> list[KindOutcome]:
        relation = GROUP_RELATIONS.get(kind.name)
        try:
            stream = stream_call(self.manager, self.storage_id, kind.list_method)
            if relation is None:
                return [self._apply(kind, stream)]
            return self._apply_group(kind, relation, stream)
        except exception.NotSupported:
            outcomes = [self._not_supported(kind)]
            if relation is not None:
                outcomes.append(self._not_supported(relation))
            return outcomes
        except LeaseLost as exc:
            return [self._failed(kind, str(exc))]
        except Exception as exc:
            log.warning("sync of %s %s failed: %s", self.storage_id, kind.name, _describe(exc))
            outcomes = [self._failed(kind, _describe(exc))]
            if relation is not None:
                outcomes.append(self._failed(relation, _describe(exc)))
            return outcomes

    def _applier(self, kind: Kind) -> KindApplier:
        return KindApplier(
            self.db.engine,
            kind,
            self.storage_id,
            driver=self.driver_name,
            lease=self.lease,
            initial_load=kind.name not in self.loaded,
        )

    def _apply(self, kind: Kind, chunks: Iterable[list[Any]]) -> KindOutcome:
        return self._applier(kind).apply(chunks)

    def _apply_group(
        self, kind: Kind, relation: Kind, stream: Iterator[list[Any] | DelfinGroups]
    ) -> list[KindOutcome]:
        groups: list[Any] = []
        relations: list[Any] | None = None
        for item in stream:
            if isinstance(item, DelfinGroups):
                groups.extend(item.get(kind.collection) or ())
                relations = list(item.get(relation.relation_key) or ())
            else:
                groups.extend(item)
        outcomes = [self._apply(kind, _chunks_of(groups))]
        if relations is None:
            outcomes.append(self._not_supported(relation))
        else:
            try:
                outcomes.append(self._apply(relation, _chunks_of(relations)))
            except Exception as exc:
                outcomes.append(self._failed(relation, _describe(exc)))
        return outcomes

    # -- recording outcomes ---------------------------------------------------------------
    def _record(self, kind: Kind, status: str, error: str | None) -> KindOutcome:
        outcome = KindOutcome(kind.name, status=status, error=error)
        values: dict[str, Any] = {
            "storage_id": self.storage_id,
            "kind": kind.name,
            "status": status,
            "last_attempt_at": utcnow(),
            "last_error": error,
        }
        try:
            with write(self.db.engine) as conn:
                self.lease.fence(conn)  # a sync that lost its lease writes nothing more
                upsert_kind_state(conn, values)
        except LeaseLost:
            log.warning("sync of %s lost its lease; %s not recorded", self.storage_id, kind.name)
        self.result.kinds[kind.name] = outcome
        return outcome

    def _not_supported(self, kind: Kind) -> KindOutcome:
        return self._record(kind, "not_supported", None)

    def _failed(self, kind: Kind, error: str) -> KindOutcome:
        return self._record(kind, "failed", error)

    # -- references across kinds -----------------------------------------------------------
    def _check_references(self) -> None:
        """Dangling references are warnings (arrays report them), counted per kind."""
        kinds = self.result.kinds
        updates: dict[str, KindOutcome] = {}
        for outcome in kinds.values():
            if outcome.status != "synced":
                continue
            for (field_name, target), values in outcome.referenced.items():
                target_outcome = kinds.get(target)
                if target_outcome is None or target_outcome.status != "synced":
                    continue
                dangling = values - target_outcome.native_ids
                if not dangling:
                    continue
                shown = ", ".join(repr(v) for v in sorted(dangling)[:5])
                outcome.warn(
                    f"{outcome.kind}.{field_name}: {len(dangling)} value(s) refer to no "
                    f"{target} of this storage: {shown}"
                )
                updates[outcome.kind] = outcome
        if not updates:
            return
        with write(self.db.engine) as conn:
            self.lease.fence(conn)
            for outcome in updates.values():
                upsert_kind_state(
                    conn,
                    {
                        "storage_id": self.storage_id,
                        "kind": outcome.kind,
                        "status": outcome.status,
                        "warnings": outcome.warnings,
                        "sample_warnings": outcome.sample_warnings,
                    },
                )


def sync_storage(
    db: Database, manager: DriverManager, storage_id: str, *, owner: str | None = None
) -> SyncResult:
    """Sync one storage now; raise AlreadySyncing if another sync holds its lease.

    With ``owner``, the caller already holds the lease under that name and releases it
    itself (after recording the run); the sync renews it meanwhile."""
    settings = db.settings
    caller_holds = owner is not None
    owner = owner or new_owner("sync")
    name = lease_name("sync", storage_id)
    if not try_acquire(db.engine, name, owner, settings.lease_s):
        raise AlreadySyncing(storage_id)
    started = time.monotonic()
    with Lease(db.engine, name, owner, settings.lease_s, release=not caller_holds) as lease:
        with write(db.engine) as conn:
            set_storage_state(conn, storage_id, sync_status="SYNCING", sync_state="syncing")
        try:
            result = StorageSync(db, manager, storage_id, lease).run()
        except Exception as exc:
            log.warning("sync of storage %s failed: %s", storage_id, _describe(exc))
            result = SyncResult(storage_id, "failed", _describe(exc))
        result.duration_s = time.monotonic() - started
        with write(db.engine) as conn:
            set_storage_state(
                conn,
                storage_id,
                sync_status="SYNCED",
                sync_state=result.state,
                sync_error=result.error,
            )
    log.info(
        "sync of storage %s %s in %.2f s%s",
        storage_id,
        result.state,
        result.duration_s,
        f": {result.error}" if result.error else "",
    )
    return result
