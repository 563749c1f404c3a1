"""Scale-out on 127.0.0.1: 2 API nodes, 2 Celery workers and 2 schedulers against the real
PostgreSQL, once with Redis and once with RabbitMQ as the broker (no Redis in that run).

The tests of a module share one cluster and run in order: 50 arrays synced on schedule,
then access-info changes seen by every node, a worker killed mid-sync, the active
scheduler killed. Every sync the workers run is read from their logs (started / finished
lines with times), which is how "never two at once" and "no period skipped or doubled"
are checked.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import create_pg_database, drop_pg_database
from tests.scale.cluster import RABBITMQ_URL, REDIS_URL, Cluster, JobRun, cluster

PERIOD_S = 15.0  # every storage's sync interval
SLACK_S = 5.0  # queueing and tick delays a start may show against its due time
LEASE_S = 6.0  # a dead worker's job is queued again after this
SCHEDULER_LEASE_S = 3.0
ARRAYS = 50


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def fleet(
    request: pytest.FixtureRequest, pg_admin: sa.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    broker = REDIS_URL if request.param == "redis" else RABBITMQ_URL
    url = create_pg_database(pg_admin)
    root = tmp_path_factory.mktemp(f"scale-{request.param}")
    try:
        with cluster(
            root, url, broker,
            sync_interval_s=PERIOD_S,
            collect_interval_s=3600,
            alert_poll_interval_s=3600,
            lease_s=LEASE_S,
            scheduler_lease_s=SCHEDULER_LEASE_S,
            scheduler_tick_s=0.2,
        ) as running:
            for _ in range(2):
                running.start("api")
                running.start("worker", "--concurrency", "2")
                running.start("scheduler")
            running.wait_ready()
            yield running
    finally:
        drop_pg_database(pg_admin, url)


def _register(fleet: Cluster, index: int, **extra: object) -> str:
    urls = fleet.api_urls()
    body = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": f"10.0.{index // 250}.{index % 250}", "port": 8443,
                 "username": "admin", "password": "pw"},
        # a short metrics retention: the first collection backfills 10 minutes, not 4 hours
        "extra_attributes": {"seed": index, "counts": {"volumes": 30},
                             "retention_window_s": 600, **extra},
    }
    response = httpx.post(f"{urls[index % len(urls)]}/v1/storages", json=body,
                          headers=fleet.headers, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _storage(fleet: Cluster, storage_id: str, node: int = 0) -> dict:
    response = httpx.get(f"{fleet.api_urls()[node]}/v1/storages/{storage_id}",
                         headers=fleet.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _wait(predicate, timeout: float, what: str, every: float = 0.5):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _utcnow() -> datetime:
    """Naive UTC, as the workers' logs (TZ=UTC) and the database's due times."""
    return datetime.now(UTC).replace(tzinfo=None)


def _by_storage(runs: list[JobRun]) -> dict[str, list[JobRun]]:
    grouped: dict[str, list[JobRun]] = defaultdict(list)
    for run in runs:
        grouped[run.storage_id].append(run)
    return grouped


def _assert_never_two_at_once(runs: list[JobRun]) -> None:
    for storage_id, mine in _by_storage(runs).items():
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.ended is not None and before.ended <= after.started, (
                f"storage {storage_id}: a sync by {after.owner} started at {after.started} "
                f"while the one by {before.owner} (started {before.started}) was running"
            )


def _assert_on_schedule(
    runs: list[JobRun], storage_ids: list[str], since: datetime, until: datetime,
    late_s: float = SLACK_S,
) -> None:
    """For the due times in [since, until], each storage ran once per due time (never
    doubled), its due times are one period apart (never a period skipped), and each run
    started at most ``late_s`` after its due time."""
    grouped = _by_storage(runs)
    for storage_id in storage_ids:
        mine = [r for r in grouped[storage_id] if r.due is not None and since <= r.due <= until
                and not r.killed]  # a killed run's due time runs again, elsewhere
        assert mine, f"storage {storage_id}: no scheduled sync due between {since} and {until}"
        dues = [r.due for r in mine]
        assert len(set(dues)) == len(dues), f"storage {storage_id}: a due time ran twice"
        for before, after in zip(dues, dues[1:], strict=False):
            step = (after - before).total_seconds()
            assert abs(step - PERIOD_S) < 0.5, (
                f"storage {storage_id}: due times {before} and {after} are {step:.1f} s apart "
                f"(period {PERIOD_S:g} s): a period was skipped"
            )
        assert (dues[0] - since).total_seconds() <= PERIOD_S + 0.5
        assert (until - dues[-1]).total_seconds() <= PERIOD_S + 0.5, (
            f"storage {storage_id}: nothing due since {dues[-1]}"
        )
        for run in mine:
            assert run.late_s is not None and run.late_s <= late_s, (
                f"storage {storage_id}: the sync due {run.due} started {run.late_s} s late"
            )


@pytest.fixture(scope="module")
def registered(fleet: Cluster) -> list[str]:
    """50 fake arrays, registered through both API nodes, each synced once."""
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: _register(fleet, i), range(ARRAYS)))

    def all_synced() -> bool:
        done = {r.storage_id for r in fleet.job_runs() if r.status == "ok"}
        return set(ids) <= done

    _wait(all_synced, 120, "the first sync of the 50 arrays")
    return ids


def test_fifty_arrays_are_synced_on_schedule(fleet: Cluster, registered: list[str]) -> None:
    # The first minute drains the registrations' backlog (50 syncs, collections and polls
    # asked at once); from one period after the last first sync, each runs on its period.
    settled = max(r.finished for r in fleet.job_runs() if r.finished)
    settled += timedelta(seconds=PERIOD_S)
    time.sleep(3 * PERIOD_S)
    now = _utcnow()
    runs = fleet.job_runs()
    assert {r.status for r in runs if r.finished} == {"ok"}
    _assert_never_two_at_once(runs)
    _assert_on_schedule(runs, registered, settled, now - timedelta(seconds=SLACK_S))
    workers = {r.owner.split(":")[2] for r in runs}
    assert len(workers) >= 2, f"all syncs ran in one worker process: {workers}"
    with fleet.engine.connect() as conn:  # the database agrees: synced, or syncing now
        query = sa.text("select sync_state, count(*) from storage group by 1")
        states = dict(conn.execute(query).all())
    assert set(states) <= {"synced", "syncing"}, states
    assert states.get("syncing", 0) <= 4, f"more syncs running than worker slots: {states}"


def test_an_access_info_change_reaches_every_node(
    fleet: Cluster, registered: list[str], tmp_path: Path
) -> None:
    password_file = tmp_path / "array-password"
    password_file.write_text("pw")  # the array's password; registered with it
    refused = Path(f"{password_file}.refused")
    storage_id = _register(fleet, 900, password_file=str(password_file))
    fleet_urls = fleet.api_urls()
    _wait(lambda: _storage(fleet, storage_id)["sync_state"] == "synced", 60, "the first sync")
    # every node and worker now caches a driver built with "pw"
    for url in fleet_urls:
        assert httpx.get(f"{url}/v1/storages/{storage_id}/capabilities",
                         headers=fleet.headers, timeout=30).status_code == 200
    httpx.post(f"{fleet_urls[1]}/v1/storages/{storage_id}/sync", headers=fleet.headers)
    _wait(lambda: _storage(fleet, storage_id)["sync_state"] == "synced", 60, "a second sync")

    # the operator rotates the array's password, then tells storfleet through node A
    password_file.write_text("rotated")
    changed = httpx.put(
        f"{fleet_urls[0]}/v1/storages/{storage_id}/access-info",
        json={"rest": {"host": "10.0.3.150", "port": 8443, "username": "admin",
                       "password": "rotated"}},
        headers=fleet.headers, timeout=60,
    )
    assert changed.status_code == 200, changed.text
    assert "password" not in changed.json().get("rest", {})
    updated_at = time.time()

    # node B calls the array live, and every worker syncs it: all with the new password
    live = httpx.get(f"{fleet_urls[1]}/v1/storages/{storage_id}/capabilities",
                     headers=fleet.headers, timeout=30)
    assert live.status_code == 200, live.text
    after_update = _utcnow()

    def three_syncs_after_update() -> list[JobRun] | None:
        # ask through node B (409 while one is queued or running: it counts as well)
        httpx.post(f"{fleet_urls[1]}/v1/storages/{storage_id}/sync", headers=fleet.headers)
        runs = [r for r in fleet.job_runs() if r.storage_id == storage_id
                and r.started > after_update and r.finished is not None]
        return runs if len(runs) >= 3 else None

    runs = _wait(three_syncs_after_update, 90, "three syncs after the update", every=1.0)
    assert [r.status for r in runs] == ["ok"] * len(runs)
    late = [line for line in (refused.read_text().splitlines() if refused.exists() else [])
            if float(line.split()[0]) > updated_at]
    assert late == [], f"calls with the old password after the update: {late}"


def test_a_worker_killed_mid_sync_leaves_nothing_stuck(
    fleet: Cluster, registered: list[str]
) -> None:
    slow = _register(fleet, 901, latency_ms=700)  # a sync of ~6 s
    _wait(lambda: _storage(fleet, slow)["sync_state"] == "synced", 90, "the slow first sync")
    assert httpx.post(f"{fleet.api_urls()[0]}/v1/storages/{slow}/sync",
                      headers=fleet.headers).status_code == 202

    def running_run() -> JobRun | None:
        mine = [r for r in fleet.job_runs() if r.storage_id == slow and r.finished is None]
        return mine[-1] if mine else None

    victim_run = _wait(running_run, 60, "the slow sync to start")
    time.sleep(1.5)  # well inside the sync
    pid = victim_run.owner.split(":")[2]
    victim = next(n for n in fleet.nodes if n.role == "worker" and f":{pid}:" in n.log.read_text()
                  and n.process.poll() is None)
    victim.kill(signal.SIGKILL)
    killed_at = _utcnow()

    def rerun_ok() -> JobRun | None:
        return next((r for r in fleet.job_runs() if r.storage_id == slow
                     and r.started > killed_at and r.status == "ok"), None)

    rerun = _wait(rerun_ok, LEASE_S + 60, "the sync to run again on the other worker")
    assert rerun.owner.split(":")[2] != pid
    state = _storage(fleet, slow)
    assert (state["sync_status"], state["sync_state"]) == ("SYNCED", "synced")
    _assert_never_two_at_once([r for r in fleet.job_runs() if r.storage_id == slow
                               and r.owner != victim_run.owner])
    fleet.start("worker", "--concurrency", "2")  # back to two workers
    fleet.wait_ready()


def test_killing_the_active_scheduler_skips_and_doubles_no_period(
    fleet: Cluster, registered: list[str]
) -> None:
    def active_pid() -> int | None:
        with fleet.engine.connect() as conn:
            owner = conn.execute(sa.text(
                "select owner from lease where name = 'scheduler' and expires_at >= now() "
                "at time zone 'utc'")).scalar()
        return int(owner.split(":")[2]) if owner else None

    pid = _wait(active_pid, 30, "an active scheduler")
    active = next(n for n in fleet.nodes if n.role == "scheduler" and n.process.pid == pid)
    time.sleep(PERIOD_S)  # a full period of history before the kill
    active.kill(signal.SIGKILL)
    killed_at = _utcnow()
    new_pid = _wait(lambda: (p := active_pid()) not in (None, pid) and p, 30,
                    "a standby scheduler to take over")
    took_over_s = (_utcnow() - killed_at).total_seconds()
    assert took_over_s <= SCHEDULER_LEASE_S + 3, f"the takeover took {took_over_s:.1f} s"
    assert new_pid != pid
    time.sleep(2 * PERIOD_S)
    runs = fleet.job_runs()
    _assert_never_two_at_once(runs)
    _assert_on_schedule(
        runs, registered,
        killed_at - timedelta(seconds=PERIOD_S),
        _utcnow() - timedelta(seconds=SLACK_S),
        late_s=SLACK_S + SCHEDULER_LEASE_S,
    )
