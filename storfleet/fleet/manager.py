"""The driver manager (Delfin's driver manager design): get, cache, update, remove drivers.

A driver instance is cached per process and per storage, never shared across storages.
Each cached driver remembers the access-info version it was built from; every use checks
the stored version (one primary-key read) and rebuilds on a change, so every process (API
node, worker, worker child) notices an update or a removal on its next use without needing
a broadcast. A broadcast may still drop a driver sooner (``remove``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from storfleet.drivers import exception, registry
from storfleet.drivers.context import RequestContext
from storfleet.drivers.driver import StorageDriver
from storfleet.fleet.access import driver_name
from storfleet.fleet.calls import CallTimedOut, call_with_timeout
from storfleet.store import access_infos
from storfleet.store.database import Database

log = logging.getLogger(__name__)


class StorageGone(exception.StorageNotFound):
    """The storage (its access info) no longer exists."""

    msg_fmt = "storage {0} is not registered"


@dataclass
class CachedDriver:
    storage_id: str
    version: int
    driver: StorageDriver
    name: str
    slots: threading.BoundedSemaphore = field(repr=False)
    built_at: float = field(default_factory=time.monotonic)


class DriverManager:
    def __init__(
        self,
        db: Database,
        *,
        call_timeout_s: float | None = None,
        connect_timeout_s: float | None = None,
    ) -> None:
        self.db = db
        self.call_timeout_s = call_timeout_s or db.settings.driver_call_timeout_s
        self.connect_timeout_s = connect_timeout_s or db.settings.driver_connect_timeout_s
        self._cache: dict[str, CachedDriver] = {}
        self._lock = threading.Lock()

    # -- building -----------------------------------------------------------------------
    def build(self, access_info: dict[str, Any]) -> StorageDriver:
        """A new driver instance from a (decrypted) access info; construction is timed."""
        cls = registry.find_driver_class(access_info["vendor"], access_info["model"])
        kwargs = {k: v for k, v in access_info.items() if k != "version"}
        return call_with_timeout(
            lambda: cls(**kwargs),
            timeout=self.connect_timeout_s,
            what=f"connecting to {driver_name(access_info)}",
        )

    def _wrap(self, storage_id: str, version: int, driver: StorageDriver, name: str):
        slots = threading.BoundedSemaphore(max(1, int(getattr(driver, "max_concurrency", 1))))
        return CachedDriver(storage_id, version, driver, name, slots)

    def put(self, storage_id: str, version: int, driver: StorageDriver, name: str) -> None:
        """Cache an already verified driver (registration hands over its instance)."""
        with self._lock:
            self._cache[storage_id] = self._wrap(storage_id, version, driver, name)

    # -- getting ------------------------------------------------------------------------
    def get(self, storage_id: str) -> CachedDriver:
        with self.db.engine.connect() as conn:
            version = access_infos.version_of(conn, storage_id)
        if version is None:
            self.remove(storage_id)
            raise StorageGone(storage_id)
        cached = self._cache.get(storage_id)
        if cached is not None and cached.version == version:
            return cached
        with self.db.engine.connect() as conn:
            info = access_infos.load(conn, self.db.keyring, storage_id)
        if info is None:
            self.remove(storage_id)
            raise StorageGone(storage_id)
        if cached is not None:
            log.info("access info of storage %s changed: rebuilding its driver", storage_id)
        driver = self.build(info)
        fresh = self._wrap(storage_id, info["version"], driver, driver_name(info))
        with self._lock:
            current = self._cache.get(storage_id)
            if current is not None and current.version >= fresh.version:
                return current  # another thread rebuilt it meanwhile
            self._cache[storage_id] = fresh
        if cached is not None:
            _close(cached.driver)
        return fresh

    def cached(self, storage_id: str) -> CachedDriver | None:
        """The cached driver without any check (the trap path must not touch the array)."""
        return self._cache.get(storage_id)

    # -- removing -----------------------------------------------------------------------
    def remove(self, storage_id: str) -> None:
        with self._lock:
            cached = self._cache.pop(storage_id, None)
        if cached is not None:
            _close(cached.driver)

    def discard(self, cached: CachedDriver) -> None:
        """Drop this very instance (after a timeout), not a newer one built meanwhile."""
        with self._lock:
            if self._cache.get(cached.storage_id) is cached:
                del self._cache[cached.storage_id]

    def clear(self) -> None:
        with self._lock:
            drivers, self._cache = list(self._cache.values()), {}
        for cached in drivers:
            _close(cached.driver)

    # -- calling ------------------------------------------------------------------------
    def call(
        self, storage_id: str, method: str, *args: Any, timeout: float | None = None
    ) -> Any:
        """Call ``driver.method(context, *args)`` within the driver's concurrency and a
        timeout; a timed-out instance is discarded so the next call gets a fresh one."""
        timeout = timeout or self.call_timeout_s
        cached = self.get(storage_id)
        if not cached.slots.acquire(timeout=timeout):
            raise CallTimedOut(
                f"{method} on storage {storage_id}: no free driver slot within {timeout:g} s"
            )
        try:
            context = RequestContext(storage_id=storage_id, deadline=time.time() + timeout)
            return call_with_timeout(
                getattr(cached.driver, method),
                context,
                *args,
                timeout=timeout,
                what=f"{cached.name} {method}",
            )
        except CallTimedOut:
            self.discard(cached)
            raise
        finally:
            cached.slots.release()


def _close(driver: StorageDriver) -> None:
    """Let a driver release its sessions; a failure here is logged, never raised."""
    close = getattr(driver, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.warning("driver %s failed to close", type(driver).__name__, exc_info=True)


class DelfinGroups(dict):
    """A group method's answer in Delfin's dict form (groups plus membership relations)."""


def stream_call(
    manager: DriverManager,
    storage_id: str,
    method: str,
    *,
    timeout: float | None = None,
    chunk: int = 2000,
) -> Iterator[list[Any] | DelfinGroups]:
    """Call a ``list_*`` method and stream its records in chunks.

    The driver runs (and its generator is consumed) in a producer thread that holds one of
    the driver's concurrency slots; the consumer waits at most until the deadline, so a
    hung driver raises CallTimedOut instead of stalling the sync, and the instance is
    discarded. A bounded queue keeps memory flat however many records the driver yields.
    """
    timeout = timeout or manager.call_timeout_s
    cached = manager.get(storage_id)
    deadline = time.monotonic() + timeout
    if not cached.slots.acquire(timeout=timeout):
        raise CallTimedOut(f"{method}: no free driver slot within {timeout:g} s")
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=8)
    cancelled = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not cancelled.is_set():
            try:
                channel.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            context = RequestContext(storage_id=storage_id, deadline=time.time() + timeout)
            result = getattr(cached.driver, method)(context)
            if result is None:
                put(("end", None))
                return
            if isinstance(result, Mapping):
                put(("groups", DelfinGroups(result)))
                put(("end", None))
                return
            batch: list[Any] = []
            for record in result:
                batch.append(record)
                if len(batch) >= chunk:
                    if not put(("chunk", batch)):
                        return
                    batch = []
            if batch:
                put(("chunk", batch))
            put(("end", None))
        except BaseException as exc:  # handed to the consumer
            put(("error", exc))
        finally:
            cached.slots.release()

    producer = threading.Thread(
        target=produce, name=f"storfleet-stream:{cached.name}:{method}", daemon=True
    )
    producer.start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise queue.Empty
                tag, value = channel.get(timeout=remaining)
            except queue.Empty:
                manager.discard(cached)
                raise CallTimedOut(
                    f"{cached.name} {method} did not finish within {timeout:g} s"
                ) from None
            if tag == "end":
                return
            if tag == "error":
                raise value
            yield value
    finally:
        cancelled.set()
