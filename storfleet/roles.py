"""The scale-out roles as commands: ``storfleet api``, ``worker``, ``scheduler``.

(``storfleet traps`` lives with the alerts package; ``storfleet serve`` is the embedded
all-in-one.) Every role reads the same settings (``STORFLEET_CONFIG`` file or
``STORFLEET_*`` environment): the database URL, the broker URL and the secret key. None
migrates a PostgreSQL schema on its own: run ``storfleet db upgrade`` once per release.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Annotated

import typer

from storfleet.jobs.schedule import JOB_KINDS

log = logging.getLogger(__name__)

LogLevel = Annotated[str, typer.Option(help="Log level")]


def _settings(**overrides):  # noqa: ANN202
    from storfleet.cli import load_settings

    return load_settings(**overrides)


def api_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [8190]")] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Serve the API only (stateless: run any number behind a load balancer).

    Sync requests are recorded in the database; the active scheduler queues them."""
    import uvicorn

    from storfleet.api.app import create_app
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    settings = _settings(host=host, port=port)
    db = open_database(settings, auto_migrate=False, create_key=False)
    log.info("storfleet api on http://%s:%s", settings.host, settings.port)
    uvicorn.run(
        create_app(db, run_jobs=False, receive_traps=False),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


def _parse_queues(queues: str) -> list[str]:
    kinds = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(kinds) - set(JOB_KINDS))
    if unknown or not kinds:
        raise typer.BadParameter(f"job kinds are {', '.join(JOB_KINDS)}; got {queues!r}")
    return kinds


def worker_command(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Jobs run at once (processes or threads)")
    ] = 2,
    queues: Annotated[
        str, typer.Option(help="Job kinds this worker runs, comma-separated")
    ] = ",".join(JOB_KINDS),
    pool: Annotated[
        str, typer.Option(help="prefork (one process per job: CPU-bound syncs) or threads")
    ] = "prefork",
    log_level: LogLevel = "INFO",
) -> None:
    """Run a Celery worker for sync / collect / poll jobs (run any number, anywhere)."""
    from storfleet.jobs import celery_app
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    kinds = _parse_queues(queues)
    if pool not in ("prefork", "threads", "solo"):
        raise typer.BadParameter("pool is prefork, threads or solo")
    settings = _settings()
    app = _celery(settings)
    # Fail now, with one clear line, if the database or the key is not usable.
    open_database(settings, auto_migrate=False, create_key=False).dispose()
    celery_app.configure_worker(settings)
    name = f"storfleet-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        celery_app.worker_argv(
            concurrency=concurrency, queues=kinds, pool=pool, log_level=log_level, name=name
        )
    )


def scheduler_command(log_level: LogLevel = "INFO") -> None:
    """Queue due jobs for the workers (run two or more: one is active).

    The others stand by and take over within SCHEDULER_LEASE_S when the active one stops.
    The schedulers also run the alert exporters."""
    from storfleet.alerts.exporters.runner import ExportRunner
    from storfleet.alerts.settings import for_settings
    from storfleet.jobs import celery_app
    from storfleet.jobs.scheduler import Scheduler
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    settings = _settings()
    app = _celery(settings)
    db = open_database(settings, auto_migrate=False, create_key=False)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    exports = ExportRunner(db, for_settings(settings))  # each exporter runs under a lease
    exports.start()
    try:
        Scheduler(db, celery_app.publisher(app)).run(stop)
    finally:
        exports.stop()
        db.dispose()


def _celery(settings):  # noqa: ANN001, ANN202
    from storfleet.jobs import celery_app

    try:
        return celery_app.make_app(settings)
    except ValueError as exc:
        from storfleet.cli import CLIError

        raise CLIError(str(exc)) from None


def register(app: typer.Typer) -> None:
    from storfleet.cli import clear_errors

    app.command("api")(clear_errors(api_command))
    app.command("worker")(clear_errors(worker_command))
    app.command("scheduler")(clear_errors(scheduler_command))
