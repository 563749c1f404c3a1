"""API list latency at scale: 1,000,000 volumes in the store, a real `storfleet serve`.

    .venv/bin/python bench/api.py [--volumes 1000000] [--requests 200] [--clients 8]

Measures p50 / p99 of 1000-row pages (the first page of GET /v1/volumes, the same
filtered by storage and sorted by name, a marker page deep in the list), and GET
/v1/storages from several concurrent clients (requests/s), first on a quiet server, then
while a sync of another storage runs (a fake array with churn, re-synced as soon as each
sync ends, so the store takes writes throughout). The volumes are bulk-inserted straight
into the volume table (the benchmark is about reading them); ``--data-dir`` keeps the
filled database for the next run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402
from storfleet.config import Settings  # noqa: E402
from storfleet.store import migrate, write  # noqa: E402
from storfleet.store.bulk import insert_rows  # noqa: E402
from storfleet.store.database import open_database  # noqa: E402
from storfleet.store.schema import inventory, storage  # noqa: E402

STORAGES = 4
BATCH = 50_000


# -- filling the store -------------------------------------------------------------------
def fill(settings: Settings, volumes: int) -> list[str]:
    """Storages and volumes straight into the tables (indexes built after the load)."""
    migrate.upgrade(settings.resolved_database_url)
    db = open_database(settings, auto_migrate=False)
    engine = db.engine
    table = inventory["volume"]
    ids = [str(uuid.UUID(int=i + 1)) for i in range(STORAGES)]
    with engine.connect() as conn:
        have = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.storage_id.in_(ids))
        ).scalar()
    if have == volumes:
        print(f"reusing {have:,} volumes in {settings.resolved_database_url}")
        db.dispose()
        return ids
    if have:
        raise SystemExit(
            f"{settings.data_dir} holds another fill ({have:,} volumes): use another --data-dir"
        )
    started = time.monotonic()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with write(engine) as conn:
        for i, sid in enumerate(ids):
            conn.execute(
                sa.insert(storage).values(
                    id=sid, created_at=base, name=f"bench-{i}", vendor="bench", model="static",
                    status="normal", serial_number=f"BENCH-{i}", sync_status="SYNCED",
                    sync_state="synced", total_capacity=10**15, used_capacity=10**14,
                    free_capacity=9 * 10**14,
                )
            )  # fmt: skip
    indexes = list(table.indexes)
    with write(engine) as conn:
        for index in indexes:
            index.drop(conn)
    names = [c.name for c in table.columns]
    for start in range(0, volumes, BATCH):
        rows = [
            _volume(n, ids, base, volumes, names) for n in range(start, min(volumes, start + BATCH))
        ]
        with write(engine) as conn:
            insert_rows(conn, table, names, rows)
    with write(engine) as conn:
        for index in indexes:
            index.create(conn)
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    print(f"filled {volumes:,} volumes in {time.monotonic() - started:.0f} s")
    db.dispose()
    return ids


def _volume(n: int, ids: list[str], base: datetime, total: int, names: list[str]) -> tuple:
    scrambled = (n * 7919) % total  # names in another order than creation
    values = {
        "id": str(uuid.UUID(int=(1 << 64) + n)),
        "storage_id": ids[n % len(ids)],
        "created_at": base + timedelta(microseconds=n),
        "updated_at": None,
        "fingerprint": n,
        "name": f"lun_{scrambled:07d}",
        "native_volume_id": f"vol-{n:07d}",
        "description": "bench volume",
        "status": "available" if n % 50 else "error",
        "native_storage_pool_id": f"pool-{n % 16:06d}",
        "wwn": f"6c212f91a2452181{n:016x}",
        "type": "thin" if n % 3 else "thick",
        "total_capacity": 2**30 * (1 + n % 512),
        "used_capacity": 2**29 * (1 + n % 512),
        "free_capacity": 2**29 * (1 + n % 512),
        "compressed": bool(n % 2),
        "deduplicated": bool(n % 5 == 0),
    }
    return tuple(values[name] for name in names)


# -- the server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        import subprocess

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (data_dir / "bench-server.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "storfleet.cli", "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), "--log-level", "WARNING", "--no-traps"],
            env=env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start (see bench-server.log)")
        token = (data_dir / "admin-token").read_text().strip()
        self.headers = {"Authorization": f"Bearer {token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


# -- measuring -------------------------------------------------------------------------------
def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed_gets(client: httpx.Client, path: str, params: dict, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return times


def concurrent_gets(
    server: Server, path: str, clients: int, seconds: float
) -> tuple[list[float], float]:
    times: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        with server.client() as client:
            mine = []
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = client.get(path)
                response.read()
                mine.append((time.perf_counter() - started) * 1000)
            with lock:
                times.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, len(times) / (time.monotonic() - began)


def scenarios(server: Server, storage_ids: list[str], volumes: int) -> dict[str, tuple[str, dict]]:
    with server.client() as client:
        deep = client.get("/v1/volumes", params={"limit": 1, "offset": int(volumes * 0.9)})
        deep_marker = deep.json()["volumes"][0]["id"]
        near_end = volumes // STORAGES - 2000
        per_storage = client.get(
            "/v1/volumes",
            params={
                "storage_id": storage_ids[0],
                "sort": "name:asc",
                "limit": 1,
                "offset": near_end,
            },
        )
        deep_name_marker = per_storage.json()["volumes"][0]["id"]
    return {
        "GET /v1/volumes?limit=1000 (first page)": ("/v1/volumes", {"limit": 1000}),
        "  same, storage_id=X&sort=name:asc": (
            "/v1/volumes",
            {"limit": 1000, "storage_id": storage_ids[0], "sort": "name:asc"},
        ),
        "  marker page at 90% (default order)": (
            "/v1/volumes",
            {"limit": 1000, "marker": deep_marker},
        ),
        "  marker page near the end (storage, name)": (
            "/v1/volumes",
            {
                "limit": 1000,
                "storage_id": storage_ids[0],
                "sort": "name:asc",
                "marker": deep_name_marker,
            },
        ),
    }


def measure(
    server: Server, cases: dict, requests: int, clients: int, label: str, busy: Callable[[], float]
) -> list[tuple]:
    rows = []
    with server.client() as client:
        for name, (path, params) in cases.items():
            timed_gets(client, path, params, 3)  # warm
            busy_before = busy()
            times = timed_gets(client, path, params, requests)
            rows.append(
                (
                    label,
                    name,
                    percentile(times, 50),
                    percentile(times, 99),
                    None,
                    busy() - busy_before,
                )
            )
    busy_before = busy()
    times, rate = concurrent_gets(server, "/v1/storages", clients, 5.0)
    rows.append(
        (
            label,
            f"GET /v1/storages, {clients} clients",
            percentile(times, 50),
            percentile(times, 99),
            rate,
            busy() - busy_before,
        )
    )
    return rows


# -- a sync running meanwhile ------------------------------------------------------------------
class SyncLoad:
    """Registers a churning fake array and keeps a sync of it running."""

    def __init__(self, server: Server, volumes: int) -> None:
        self.server = server
        self.stop_event = threading.Event()
        self.syncs = 0
        body = {
            "vendor": "fake_storage", "model": "fake_driver",
            "rest": {"host": "127.0.0.1", "port": 22, "username": "u", "password": "p"},
            "extra_attributes": {
                "seed": 4242, "counts": {"volumes": volumes}, "churn": 0.02, "churn_period_s": 1,
            },
        }  # fmt: skip
        with server.client() as client:
            existing = client.get("/v1/storages", params={"vendor": "fake_storage"}).json()
            if existing["storages"]:  # a reused data directory
                self.storage_id = existing["storages"][0]["id"]
                client.post(f"/v1/storages/{self.storage_id}/sync")
            else:
                response = client.post("/v1/storages", json=body)
                assert response.status_code == 201, response.text
                self.storage_id = response.json()["id"]
        self.thread = threading.Thread(target=self._keep_syncing, daemon=True)

    def running(self) -> bool:
        with self.server.client() as client:
            state = client.get(f"/v1/storages/{self.storage_id}/sync-state").json()
        return state["running"] or state["requested"]

    def _keep_syncing(self) -> None:
        with self.server.client() as client:
            while not self.stop_event.is_set():
                response = client.post(f"/v1/storages/{self.storage_id}/sync")
                if response.status_code == 202:
                    self.syncs += 1
                self.stop_event.wait(0.2)

    def wait_first_sync(self) -> float:
        started = time.monotonic()
        while self.running():
            time.sleep(0.5)
        return time.monotonic() - started


def busy_meter(load: SyncLoad | None) -> Callable[[], float]:
    """Seconds a sync has been running, sampled by a background thread."""
    state = {"busy": 0.0}
    if load is None:
        return lambda: 0.0

    def sample() -> None:
        while not load.stop_event.is_set():
            started = time.monotonic()
            running = load.running()
            time.sleep(0.25)
            if running:
                state["busy"] += time.monotonic() - started

    threading.Thread(target=sample, daemon=True).start()
    return lambda: state["busy"]


# -- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volumes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page scenario")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--sync-volumes", type=int, default=100_000, help="volumes of the array synced meanwhile"
    )
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the filled store here")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="storfleet-bench-api-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "bench-secret.key"
    if not key_file.exists():
        from storfleet.secrets import generate_key

        key_file.write_text(generate_key() + "\n")
    env = {
        **os.environ,
        "STORFLEET_SECRET_KEY_FILE": str(key_file),
        "STORFLEET_DATA_DIR": str(data_dir),
    }
    env.pop("STORFLEET_DATABASE_URL", None)
    settings = Settings(data_dir=data_dir, secret_key_file=key_file)
    storage_ids = fill(settings, args.volumes)

    server = Server(data_dir, env)
    rows: list[tuple] = []
    try:
        cases = scenarios(server, storage_ids, args.volumes)
        rows += measure(server, cases, args.requests, args.clients, "idle", busy_meter(None))
        load = SyncLoad(server, args.sync_volumes)
        first = load.wait_first_sync()
        print(f"first sync of the {args.sync_volumes:,}-volume array took {first:.1f} s")
        load.thread.start()
        meter = busy_meter(load)
        rows += measure(server, cases, args.requests, args.clients, "sync running", meter)
        load.stop_event.set()
        print(f"{load.syncs} syncs requested while measuring")
    finally:
        server.stop()

    print()
    print(f"storfleet API, {args.volumes:,} volumes on SQLite; {machine()}")
    print(f"{'':13} {'request':46} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'sync busy s':>11}")
    for label, name, p50, p99, rate, busy in rows:
        rate_text = f"{rate:8.0f}" if rate else f"{'':8}"
        busy_text = f"{busy:11.1f}" if label != "idle" else f"{'':11}"
        print(f"{label:13} {name:46} {p50:8.1f} {p99:8.1f} {rate_text} {busy_text}")
    print(f"(p50/p99 over {args.requests} sequential requests per page; GET /v1/storages over 5 s)")
    if statistics.median([r[2] for r in rows[:4]]) > 50:
        print("note: first-page p50 above the 50 ms target")


if __name__ == "__main__":
    main()
