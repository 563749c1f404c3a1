"""The Celery task around the queue protocol, run eagerly (no broker): a database failure
before the job is taken over retries the message shortly instead of losing it to the
queue timeout."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.fleet.registration import register_storage
from storfleet.jobs import celery_app, leases, queue
from storfleet.jobs.queue import QueuedJob, enqueue_due
from storfleet.store import schema
from storfleet.store.database import open_database


@pytest.fixture
def db(settings: Settings):
    from storfleet.store import migrate

    migrate.upgrade(settings.resolved_database_url)
    database = open_database(settings, auto_migrate=False)
    yield database
    database.dispose()


def test_a_database_error_before_the_take_over_retries_the_message(
    db, settings: Settings, monkeypatch
) -> None:
    storage_id = register_storage(DriverManager(db), {
        "vendor": "fake_storage", "model": "fake_driver",
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "a", "password": "b"},
        "extra_attributes": {"seed": 3, "counts": {"volumes": 10}},
    })["id"]
    published: list[QueuedJob] = []
    enqueue_due(db, published.append, kinds=("sync",))
    message = published[0]

    app = celery_app.make_app(settings.model_copy(update={"broker_url": "memory://"}))
    runtime = celery_app._Runtime.__new__(celery_app._Runtime)
    runtime.db, runtime.manager = db, DriverManager(db)
    monkeypatch.setattr(celery_app, "_runtime", lambda: runtime)
    failures = iter([sa.exc.OperationalError("UPDATE lease", {}, ConnectionError("gone"))])
    original = leases.hand_over

    def hand_over_once_failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return original(*args, **kwargs)

    monkeypatch.setattr(queue, "hand_over", hand_over_once_failing)
    task = app.tasks[celery_app.task_name("sync")]
    result = task.apply(args=[message.storage_id, message.token, None])
    # eagerly, Celery runs the retry at once: it took the job over and ran it
    assert result.get() == "ok", result.traceback
    with db.engine.connect() as conn:
        job = conn.execute(sa.select(schema.job).where(
            schema.job.c.storage_id == storage_id, schema.job.c.kind == "sync")).one()
    assert (job.runs, job.last_status) == (1, "ok")
