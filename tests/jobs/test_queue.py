"""The queue protocol of the scale-out mode (storfleet.jobs.queue), without a broker:
"publishing" appends to a list, and the tests deliver, lose, repeat or delay messages the
way a broker and dying workers can."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.registration import register_storage
from storfleet.jobs import schedule
from storfleet.jobs.leases import hand_over, lease_name, try_acquire
from storfleet.jobs.queue import STALE, QueuedJob, enqueue_due, run_queued
from storfleet.jobs.scheduler import SCHEDULER_LEASE, Scheduler
from storfleet.store import schema, write
from storfleet.store.database import open_database
from storfleet.store.types import utcnow


@pytest.fixture
def db(settings: Settings):
    from storfleet.store import migrate

    fast = settings.model_copy(
        update={"lease_s": 2.0, "queue_timeout_s": 1.0, "scheduler_lease_s": 1.0}
    )
    migrate.upgrade(fast.resolved_database_url)
    database = open_database(fast, auto_migrate=False)
    yield database
    database.dispose()


@pytest.fixture
def storage_id(db) -> str:
    body = {
        "vendor": "fake_storage",
        "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": {"seed": 7, "counts": {"volumes": 20}},
    }
    return register_storage(DriverManager(db), body)["id"]


def _job(db, storage_id: str, kind: str = "sync"):
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(schema.job).where(
                schema.job.c.storage_id == storage_id, schema.job.c.kind == kind
            )
        ).one()


def _syncs(published: list[QueuedJob]) -> list[QueuedJob]:
    return [q for q in published if q.kind == "sync"]


def test_a_due_job_is_queued_once_until_it_runs(db, storage_id: str) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    assert [q.storage_id for q in _syncs(published)] == [storage_id]
    # queued: neither this scheduler nor another queues it again
    enqueue_due(db, published.append)
    enqueue_due(db, published.append)
    assert len(_syncs(published)) == 1

    manager = DriverManager(db)
    assert run_queued(db, manager, _syncs(published)[0]) == "ok"
    job = _job(db, storage_id)
    assert (job.runs, job.last_status) == (1, "ok")
    assert job.due_at > utcnow()  # the next period, not now: nothing is due
    enqueue_due(db, published.append)
    assert len(_syncs(published)) == 1


def test_a_repeated_message_does_nothing(db, storage_id: str) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    message = _syncs(published)[0]
    manager = DriverManager(db)
    assert run_queued(db, manager, message) == "ok"
    assert run_queued(db, manager, message) == STALE  # redelivered after it ran
    assert _job(db, storage_id).runs == 1


def test_a_lost_message_is_queued_again_after_the_queue_timeout(db, storage_id: str) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    lost = _syncs(published)[0]  # the broker restarts: this message is gone
    time.sleep(db.settings.queue_timeout_s + 0.2)
    enqueue_due(db, published.append)
    again = _syncs(published)[-1]
    assert again.token != lost.token
    manager = DriverManager(db)
    # the lost one, should it resurface, is stale; the new one runs
    assert run_queued(db, manager, lost) == STALE
    assert run_queued(db, manager, again) == "ok"


def test_a_job_whose_worker_died_runs_again_once_its_lease_expires(db, storage_id: str) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    message = _syncs(published)[0]
    # a worker took it over, then died (kill -9): nothing renews or releases the lease
    assert hand_over(db.engine, message.lease, message.queue_owner, "worker:dead", 1.0)
    with write(db.engine) as conn:
        schedule.mark_started(conn, storage_id, "sync")
    enqueue_due(db, published.append)
    assert len(_syncs(published)) == 1  # running: not queued again
    assert run_queued(db, DriverManager(db), message) == STALE  # the redelivered message
    time.sleep(1.2)
    enqueue_due(db, published.append)
    assert len(_syncs(published)) == 2
    assert run_queued(db, DriverManager(db), _syncs(published)[-1]) == "ok"
    assert _job(db, storage_id).last_status == "ok"


def test_the_lease_is_held_until_the_run_is_recorded(db, storage_id: str, monkeypatch) -> None:
    """Between a run's end and its next due time being written, the job must not look
    due (a scheduler would queue a second run for the same period)."""
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    message = _syncs(published)[0]
    seen: list[list] = []
    original = schedule.mark_finished

    def mark_finished(conn, *args, **kwargs):  # noqa: ANN001, ANN202
        with db.engine.connect() as other:  # what a scheduler sees at that moment
            seen.append(schedule.due_jobs(other, utcnow(), kinds=("sync",)))
        return original(conn, *args, **kwargs)

    monkeypatch.setattr(schedule, "mark_finished", mark_finished)
    assert run_queued(db, DriverManager(db), message) == "ok"
    assert seen == [[]]


def test_a_sync_asked_for_while_queued_is_refused_as_queued(db, storage_id: str) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append)
    with write(db.engine) as conn, pytest.raises(schedule.JobRefused, match="already queued"):
        schedule.request_run(conn, storage_id)


def test_one_scheduler_is_active_and_a_standby_takes_over(db, storage_id: str) -> None:
    db.settings.queue_timeout_s = 60.0  # the queued messages stay current meanwhile
    published: list[QueuedJob] = []
    first, second = Scheduler(db, published.append), Scheduler(db, published.append)
    assert first.tick() >= 1 and first.active
    assert second.tick() == 0 and not second.active
    # the active one stops renewing (killed): the standby takes over after the lease
    time.sleep(db.settings.scheduler_lease_s + 0.2)
    second.tick()
    assert second.active
    first.tick()
    assert not first.active
    with db.engine.connect() as conn:
        owner = conn.execute(
            sa.select(schema.lease.c.owner).where(schema.lease.c.name == SCHEDULER_LEASE)
        ).scalar()
    assert owner == second.owner
    assert len(_syncs(published)) == 1  # the takeover queued nothing twice


def test_a_failed_publish_gives_the_job_back(db, storage_id: str) -> None:
    def broker_down(_queued: QueuedJob) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        enqueue_due(db, broker_down)
    with db.engine.connect() as conn:
        due = schedule.due_jobs(conn, utcnow() + timedelta(seconds=1))
    assert storage_id in {d.storage_id for d in due}
    # and no job's lease stays taken: the next tick queues them
    for kind in schedule.JOB_KINDS:
        assert try_acquire(db.engine, lease_name(kind, storage_id), "probe", 1.0)


def test_a_job_run_meanwhile_by_another_scheduler_is_not_queued_again(
    db, storage_id: str, monkeypatch
) -> None:
    """Scheduler A read the due list; before it takes the job's lease, scheduler B (active
    too, during a takeover) queued the job and a worker ran it. A must not queue it again
    for the same due time."""
    with db.engine.connect() as conn:
        stale_list = schedule.due_jobs(conn, utcnow(), kinds=("sync",))
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))  # B
    assert run_queued(db, DriverManager(db), published[0]) == "ok"
    original = schedule.due_jobs
    calls = iter([stale_list])

    def due_once_stale(conn, now, *args, **kwargs):  # noqa: ANN001, ANN202
        if kwargs.get("include_leased"):
            return original(conn, now, *args, **kwargs)
        return next(calls, [])

    monkeypatch.setattr(schedule, "due_jobs", due_once_stale)
    enqueue_due(db, published.append, kinds=("sync",))  # A, with its stale list
    monkeypatch.undo()
    assert len(published) == 1
    assert try_acquire(db.engine, lease_name("sync", storage_id), "probe", 1.0)


class _Killed(BaseException):
    """The scheduler process dies (kill -9) where this is raised: no cleanup runs."""


def test_a_scheduler_killed_before_it_published_delays_the_job_only_briefly(
    db, storage_id: str
) -> None:
    db.settings.queue_timeout_s = 60.0  # a long queue timeout: the delay must not be it

    def killed_while_publishing(_queued: QueuedJob) -> None:
        raise _Killed

    with pytest.raises(_Killed):  # the job's lease is taken, no message went out
        enqueue_due(db, killed_while_publishing, kinds=("sync",))
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))
    assert published == []  # marked queued still, for the scheduler lease only
    time.sleep(db.settings.scheduler_lease_s + 0.2)
    enqueue_due(db, published.append, kinds=("sync",))  # the standby, after taking over
    assert [q.storage_id for q in published] == [storage_id]
    assert run_queued(db, DriverManager(db), published[0]) == "ok"


def test_a_published_job_stays_queued_for_the_queue_timeout(db, storage_id: str) -> None:
    db.settings.queue_timeout_s = 60.0
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))
    time.sleep(db.settings.scheduler_lease_s + 0.2)  # past the pre-publish lease
    enqueue_due(db, published.append, kinds=("sync",))
    assert len(published) == 1  # still queued: not queued twice
    assert run_queued(db, DriverManager(db), published[0]) == "ok"


def test_a_message_taken_after_its_marker_expired_still_runs_if_not_queued_again(
    db, storage_id: str
) -> None:
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))
    time.sleep(db.settings.queue_timeout_s + 0.2)  # workers were busy; nobody queued it again
    assert run_queued(db, DriverManager(db), published[0]) == "ok"
    assert _job(db, storage_id).runs == 1


def test_a_sync_asked_for_before_its_due_time_keeps_the_periodic_one(
    db, storage_id: str
) -> None:
    db.settings.queue_timeout_s = 60.0
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))  # the first sync, asked by registration
    assert run_queued(db, DriverManager(db), published[0]) == "ok"
    periodic = _job(db, storage_id).due_at
    assert periodic > utcnow()
    with write(db.engine) as conn:  # the operator asks for one more, before it is due
        schedule.request_run(conn, storage_id)
    enqueue_due(db, published.append, kinds=("sync",))
    assert len(published) == 2
    assert run_queued(db, DriverManager(db), published[1]) == "ok"
    job = _job(db, storage_id)
    assert (job.runs, job.due_at) == (2, periodic)  # the periodic sync still comes on time


def test_a_sync_that_took_its_lease_meanwhile_is_not_marked_interrupted(
    db, storage_id: str, monkeypatch
) -> None:
    with write(db.engine) as conn:
        conn.execute(sa.update(schema.storage).where(schema.storage.c.id == storage_id)
                     .values(sync_state="syncing"))
    with db.engine.connect() as conn:
        seen = schedule.interrupted(conn, utcnow())  # what a node read a moment ago
    assert seen == [storage_id]
    # meanwhile a worker on another node started the sync
    assert try_acquire(db.engine, lease_name("sync", storage_id), "worker:other", 30)
    monkeypatch.setattr(schedule, "interrupted", lambda conn, now: seen)
    with write(db.engine) as conn:
        assert schedule.mark_interrupted(conn, seen, utcnow()) == []
    with db.engine.connect() as conn:
        state = conn.execute(sa.select(schema.storage.c.sync_state)
                             .where(schema.storage.c.id == storage_id)).scalar()
    assert state == "syncing"


def test_a_run_that_lost_its_lease_does_not_record_itself(
    db, storage_id: str, monkeypatch
) -> None:
    from storfleet.jobs import functions
    from storfleet.sync.engine import SyncResult

    name = lease_name("sync", storage_id)
    assert try_acquire(db.engine, name, "worker:stalled", 30)
    before = _job(db, storage_id)

    def stalled_sync(db, manager, storage_id, owner=None):  # noqa: ANN001, ANN202
        # it stalled past its lease, and another worker took the job over meanwhile
        with write(db.engine) as conn:
            conn.execute(sa.update(schema.lease).where(schema.lease.c.name == name)
                         .values(owner="worker:current"))
        return SyncResult(storage_id, "synced")

    monkeypatch.setattr(functions, "sync_storage", stalled_sync)
    assert functions.run_sync(db, DriverManager(db), storage_id, owner="worker:stalled") == "ok"
    after = _job(db, storage_id)
    assert (after.runs, after.due_at, after.last_status) == (
        before.runs, before.due_at, before.last_status)  # left to the current holder
