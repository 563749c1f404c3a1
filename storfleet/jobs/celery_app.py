"""Celery for the scale-out mode: one task per job kind, each on its own queue.

Celery carries the messages and runs the worker processes; what is due and what runs
stays in the database (storfleet.jobs.queue), so the broker may be restarted or lose a
message without losing or doubling a job. Redis and RabbitMQ are both supported, by URL
(``STORFLEET_BROKER_URL``).

- One queue per kind (``storfleet.sync``, ``storfleet.collect``, ``storfleet.poll``):
  slow metric collection never starves syncs; a worker may serve only some queues.
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message whose worker process
  dies is not acknowledged, so the broker redelivers it (the lease then tells the new
  worker whether it is still current). Prefetch 1: a busy worker does not sit on jobs.
- A time limit per kind (``*_time_limit_s``), soft first (the job records a failure and
  releases its lease), hard 30 s later.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

import sqlalchemy as sa
from celery import Celery, Task
from kombu import Exchange, Queue

from storfleet.config import Settings
from storfleet.jobs import schedule
from storfleet.jobs.queue import NotTakenOver, QueuedJob, run_queued

log = logging.getLogger(__name__)

QUEUES = {kind: f"storfleet.{kind}" for kind in schedule.JOB_KINDS}
EXCHANGE = Exchange("storfleet", type="direct")
HARD_LIMIT_GRACE_S = 30.0
RETRY_S = 5.0  # a message whose job could not start (database down) comes again after this


def task_name(kind: str) -> str:
    return f"storfleet.jobs.{kind}"


def time_limit_s(settings: Settings, kind: str) -> float:
    return {
        schedule.SYNC: settings.sync_time_limit_s,
        schedule.COLLECT: settings.collect_time_limit_s,
        schedule.POLL: settings.poll_time_limit_s,
    }[kind]


def make_app(settings: Settings) -> Celery:
    """The Celery application of every role (the scheduler publishes, workers consume)."""
    if not settings.broker_url:
        raise ValueError(
            "no broker: set STORFLEET_BROKER_URL (redis://host:6379/0 or amqp://user:pw@host//)"
        )
    app = Celery("storfleet", broker=settings.broker_url, set_as_current=False)
    longest = max(time_limit_s(settings, kind) for kind in schedule.JOB_KINDS)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=[Queue(name, EXCHANGE, routing_key=name) for name in QUEUES.values()],
        task_default_exchange=EXCHANGE.name,
        task_routes={task_name(kind): {"queue": queue} for kind, queue in QUEUES.items()},
        task_default_queue=QUEUES[schedule.SYNC],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # storfleet's own logging (with redaction)
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        # A broker disconnect must not cancel running jobs (Celery 6's announced default);
        # their leases, not the broker, say who runs what.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options=_transport_options(settings.broker_url, longest),
    )
    app.conf.storfleet_queue_timeout_s = settings.queue_timeout_s
    for kind in schedule.JOB_KINDS:
        _register(app, kind, time_limit_s(settings, kind))
    return app


def _transport_options(broker_url: str, longest_run_s: float) -> dict[str, float]:
    # Redis redelivers an unacknowledged message after this; it must outlast any run.
    options: dict[str, float] = {"visibility_timeout": int(longest_run_s + 2 * HARD_LIMIT_GRACE_S)}
    if broker_url.startswith(("redis://", "rediss://")):
        # A Redis that stops answering (host gone, network cut) fails a publish or a fetch
        # after this instead of blocking the scheduler's tick or a worker forever.
        options.update(socket_timeout=30.0, socket_connect_timeout=10.0)
    return options


def _register(app: Celery, kind: str, limit_s: float) -> None:
    queue_timeout_s = app.conf.storfleet_queue_timeout_s

    def run(task: Task, storage_id: str, token: str, due_at: str | None = None) -> str:
        due = datetime.fromisoformat(due_at) if due_at else None
        try:
            runtime = _runtime()  # opens the database on a process's first job
            return run_queued(runtime.db, runtime.manager,
                              QueuedJob(kind, storage_id, token, due))
        except (NotTakenOver, _RuntimeUnavailable) as exc:
            # The database failed before the job started. The message comes again in a
            # few seconds, until the queued marker expires and the scheduler queues the
            # job anew, instead of the job waiting out the queue timeout.
            log.warning("%s of storage %s not started, retried in %g s: %s", kind,
                        storage_id, RETRY_S, exc)
            raise task.retry(exc=exc, countdown=RETRY_S,
                             max_retries=int(queue_timeout_s // RETRY_S)) from exc

    app.task(
        name=task_name(kind),
        bind=True,
        shared=False,  # this app's task only: not added to every app made later on
        soft_time_limit=limit_s,
        time_limit=limit_s + HARD_LIMIT_GRACE_S,
        acks_late=True,
        reject_on_worker_lost=True,
    )(run)


def publisher(app: Celery):
    """``publish`` for ``storfleet.jobs.queue.enqueue_due``."""

    def publish(queued: QueuedJob) -> None:
        app.send_task(
            task_name(queued.kind),
            args=[
                queued.storage_id,
                queued.token,
                queued.due_at.isoformat() if queued.due_at else None,
            ],
            queue=QUEUES[queued.kind],
            # by then its queue lease expired and the job was queued again: drop it unrun
            expires=app.conf.storfleet_queue_timeout_s,
        )

    return publish


class _Runtime:
    def __init__(self, settings: Settings) -> None:
        from storfleet.fleet.manager import DriverManager
        from storfleet.store.database import open_database

        self.db = open_database(settings, auto_migrate=False, create_key=False)
        self.manager = DriverManager(self.db)


_settings: Settings | None = None
_runtimes: dict[int, _Runtime] = {}
_runtime_lock = threading.Lock()


def configure_worker(settings: Settings) -> None:
    """The settings the worker's tasks open the database with (set before the pool
    starts, so prefork children inherit them)."""
    global _settings
    _settings = settings


class _RuntimeUnavailable(RuntimeError):
    """The worker process could not open the database."""


def _runtime() -> _Runtime:
    """The database and driver manager of this worker process, made on first use: a
    prefork child must not share its parent's database connections."""
    pid = os.getpid()
    with _runtime_lock:
        runtime = _runtimes.get(pid)
        if runtime is None:
            try:
                runtime = _runtimes[pid] = _Runtime(_settings or Settings())
            except sa.exc.DBAPIError as exc:
                raise _RuntimeUnavailable(f"the database is unreachable: {exc}") from exc
        return runtime


def worker_argv(
    *, concurrency: int, queues: list[str], pool: str, log_level: str, name: str
) -> list[str]:
    return [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={','.join(QUEUES[q] for q in queues)}",
        f"--pool={pool}",
        f"--loglevel={log_level}",
        f"--hostname={name}",
        "--without-gossip",
        "--without-mingle",
    ]
