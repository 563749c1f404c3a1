"""Fixtures of the alerts tests: storages on the fake array, a trap service on a real
UDP socket (its own event loop thread), and net-snmp's snmptrap to send real traps.

A missing tool FAILS the test with the command that installs it; nothing skips."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from storfleet.alerts import sources
from storfleet.alerts.service import TrapService
from storfleet.alerts.settings import AlertSettings
from storfleet.fleet.registration import register_storage
from storfleet.store.database import Database
from storfleet.store.schema import alert

SNMP_INSTALL = "apt-get install -y snmp   (or: make deps)"
ENTERPRISE = "1.3.6.1.4.1.32473"
TRAP_OID = f"{ENTERPRISE}.0.1"


def tool(name: str, install: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install it: {install}", pytrace=False)
    return found


@pytest.fixture(scope="session")
def snmptrap_bin() -> str:
    return tool("snmptrap", SNMP_INSTALL)


def fake_storage(manager, seed: int, name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "admin", "password": "secret"},
        "extra_attributes": {"seed": seed},
    }
    if name:
        body["name"] = name
    return register_storage(manager, body)


def set_source(db: Database, storage_id: str, **body: Any) -> None:
    sources.save(db.engine, db.keyring, storage_id, sources.validate(body))


class LoopThread:
    """An asyncio loop in a thread, for services under test from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func: Callable[[], Any], timeout: float = 30.0):
        async def wrapper():
            return func()
        return self.run(wrapper(), timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def trap_service(db: Database, manager, loop_thread: LoopThread) -> Iterator[TrapService]:
    settings = AlertSettings(trap_host="127.0.0.1", trap_port=0, sources_reload_s=0.2,
                             trap_batch_size=500)
    service = TrapService(db, settings, manager=manager)
    loop_thread.run(service.start())
    yield service
    loop_thread.run(service.stop())


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def stored_alerts(db: Database, **where: Any) -> list[dict[str, Any]]:
    query = sa.select(alert).order_by(alert.c.id)
    for name, value in where.items():
        column = alert.c[name]
        query = query.where(column.is_(None) if value is None else column == value)
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def send_trap(
    snmptrap: str,
    port: int,
    auth: list[str],
    *,
    severity: str = "Critical",
    serial: str | None = None,
    description: str = "disk failed",
    location: str = "disk-1",
    category: str | None = None,
    trap_oid: str = TRAP_OID,
    version: str = "2c",
) -> None:
    """One real trap from net-snmp's snmptrap carrying the fake driver's fields."""
    varbinds = [f"{ENTERPRISE}.1.1", "s", severity, f"{ENTERPRISE}.1.4", "s", description,
                f"{ENTERPRISE}.1.5", "s", location]
    if serial is not None:
        varbinds += [f"{ENTERPRISE}.1.2", "s", serial]
    if category is not None:
        varbinds += [f"{ENTERPRISE}.1.3", "s", category]
    target = f"udp:127.0.0.1:{port}"
    if version == "1":
        # enterprise, agent address, generic 6 (enterpriseSpecific), specific 1, uptime
        args = ["-v", "1", *auth, target, ENTERPRISE, "127.0.0.1", "6", "1", ""]
    else:
        args = [f"-v{version}" if version == "3" else "-v2c", *auth, target, "", trap_oid]
    subprocess.run([snmptrap, *args, *varbinds], check=True, capture_output=True, timeout=20)
