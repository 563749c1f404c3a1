"""Receiving and storing, decoupled: a bounded queue and one writer thread.

The event loop only decodes and matches; it puts each trap on the queue without waiting
(a full queue drops the trap and counts it: the store is too slow or away). The writer
takes whatever has accumulated (up to a batch), parses it (parse_alert runs here, off
the loop) and stores it in one transaction, so under load batches grow and the cost per
trap falls. A failed write is retried with back-off while the queue absorbs the traps;
nothing already taken is lost unless the process dies.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from storfleet.alerts.counters import TrapCounters
from storfleet.alerts.lifecycle import AlertStore, IncomingAlert, IngestResult
from storfleet.alerts.parsing import ReceivedTrap, TrapParser
from storfleet.store import write
from storfleet.store.database import Database

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class TrapWriter:
    def __init__(
        self,
        db: Database,
        counters: TrapCounters,
        parser: TrapParser,
        *,
        store: AlertStore | None = None,
        queue_size: int = 200_000,
        batch_size: int = 5_000,
    ) -> None:
        self.db = db
        self.counters = counters
        self.parser = parser
        self.store = store or AlertStore()
        self.batch_size = batch_size
        self.queue: queue.Queue[ReceivedTrap] = queue.Queue(maxsize=queue_size)
        counters.queue_depth = self.queue.qsize
        self.after_commit: list[Callable[[IngestResult], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop's side ---------------------------------------------------------------
    def submit(self, trap: ReceivedTrap) -> bool:
        """Queue a trap without blocking; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(trap)
        except queue.Full:
            self.counters.dropped += 1
            return False
        return True

    # -- the writer thread -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storfleet-trap-writer",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued (within ``timeout``), then stop."""
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is stored; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return self.queue.unfinished_tasks == 0

    def _take(self) -> list[ReceivedTrap]:
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        get = self.queue.get_nowait
        try:
            while len(batch) < self.batch_size:
                batch.append(get())
        except queue.Empty:
            pass
        return batch

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                continue
            try:
                alerts = [self._parse(trap) for trap in batch]
                self._store(alerts)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _parse(self, trap: ReceivedTrap) -> IncomingAlert:
        try:
            return self.parser(trap)
        except Exception:  # the parser guards drivers; this is a bug of ours: keep the trap
            log.exception("parsing a trap failed; storing it raw")
            self.counters.parse_failures += 1
            return self.parser.raw(trap, None, "internal error while parsing")

    def _store(self, alerts: list[IncomingAlert]) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                with write(self.db.engine) as conn:
                    result = self.store.ingest(conn, alerts)
                break
            except Exception as exc:
                self.counters.store_errors += 1
                if self._stop.is_set():
                    log.error("storing %d traps failed at shutdown: %s", len(alerts), exc)
                    return
                log.warning("storing %d traps failed (retrying in %.1f s): %s",
                            len(alerts), delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        done = time.monotonic()
        self.counters.stored += result.stored
        self.counters.record_latencies(
            [done - a.received_at for a in alerts if a.received_at is not None])
        for callback in self.after_commit:
            try:
                callback(result)
            except Exception:
                log.exception("after-commit callback failed")
