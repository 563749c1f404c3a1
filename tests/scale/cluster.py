"""A scale-out storfleet on 127.0.0.1 for the tests and ``bench/scale.py``: API nodes,
Celery workers and schedulers as separate processes (the real commands), on a fresh
PostgreSQL database and the real Redis or RabbitMQ broker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from storfleet.auth.tokens import Role, create_token
from storfleet.secrets import generate_key
from tests.api.live_server import free_port

REDIS_URL = os.environ.get("STORFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
RABBITMQ_URL = os.environ.get("STORFLEET_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

_JOB_LINE = re.compile(
    r"^(?P<at>\S+ \S+) INFO storfleet\.jobs\.queue: job (?P<event>started|finished): "
    r"(?P<kind>\w+) of storage (?P<storage>\S+) by (?P<owner>\S+?)"
    r"(?:: (?P<status>\w+) in .*| \((?:due (?P<due>[^,]+), (?P<late>-?[\d.]+) s ago|asked for)\))$"
)


@dataclass
class Node:
    role: str
    process: subprocess.Popen
    log: Path
    url: str | None = None
    stopped: bool = False  # killed or stopped on purpose
    stopped_at: datetime | None = None  # naive UTC

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL: the node's whole process group (a worker and its pool children) dies
        at once. Other signals go to the node's own process (a worker's warm shutdown)."""
        self.stopped = True
        self.stopped_at = datetime.now(UTC).replace(tzinfo=None)
        with suppress(ProcessLookupError):
            if sig == signal.SIGKILL:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class JobRun:
    kind: str
    storage_id: str
    owner: str
    started: datetime
    due: datetime | None = None  # the due time it ran for (None: asked for)
    late_s: float | None = None  # how long after its due time it started
    finished: datetime | None = None
    status: str | None = None
    node: Node | None = None  # the worker that logged it

    @property
    def killed(self) -> bool:
        """It never finished because its worker was killed."""
        return self.finished is None and self.node is not None and self.node.stopped

    @property
    def ended(self) -> datetime | None:
        if self.killed:
            return self.node.stopped_at
        return self.finished


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    token: str
    engine: sa.Engine
    nodes: list[Node] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api_urls(self) -> list[str]:
        return [n.url for n in self.nodes if n.role == "api" and n.process.poll() is None]

    def start(self, role: str, *args: str) -> Node:
        index = sum(1 for n in self.nodes if n.role == role)
        log = self.root / f"{role}-{index}.log"
        command = [sys.executable, "-m", "storfleet.cli", role, *args]
        url = None
        if role == "api":
            port = free_port()
            command += ["--port", str(port)]
            url = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the children
            )
        node = Node(role, process, log, url)
        self.nodes.append(node)
        return node

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while not node.stopped:
                if node.process.poll() is not None:
                    raise RuntimeError(f"{node.role} exited:\n{node.log.read_text()[-3000:]}")
                if _ready(node):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node.role} not ready:\n{node.log.read_text()[-3000:]}")
                time.sleep(0.2)

    def job_runs(self, kind: str = "sync") -> list[JobRun]:
        """Every run the workers logged (started, and finished when it did), in order."""
        open_runs: dict[tuple[str, str], JobRun] = {}
        runs: list[JobRun] = []
        for node in self.nodes:
            if node.role != "worker":
                continue
            for line in node.log.read_text(errors="replace").splitlines():
                match = _JOB_LINE.match(line)
                if not match or match["kind"] != kind:
                    continue
                at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
                key = (match["storage"], match["owner"])
                if match["event"] == "started":
                    run = JobRun(kind, match["storage"], match["owner"], at, node=node)
                    if match["due"]:
                        due = datetime.fromisoformat(match["due"])
                        if due.tzinfo is not None:
                            due = due.astimezone(UTC).replace(tzinfo=None)
                        run.due = due
                        run.late_s = float(match["late"])
                    open_runs[key] = run
                    runs.append(run)
                elif key in open_runs:
                    run = open_runs.pop(key)
                    run.finished, run.status = at, match["status"]
        return sorted(runs, key=lambda r: r.started)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.kill(signal.SIGTERM)


def _ready(node: Node) -> bool:
    if node.role == "api":
        try:
            return httpx.get(f"{node.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    text = node.log.read_text(errors="replace")
    if node.role == "worker":
        return " ready." in text
    return "scheduler:" in text and "started" in text


def purge_broker(broker_url: str) -> None:
    """Drop messages a previous run left in storfleet's queues (they would only be
    answered "stale", but they would slow the first seconds of this run)."""
    from storfleet.config import Settings
    from storfleet.jobs.celery_app import make_app

    app = make_app(Settings(broker_url=broker_url))
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()
            queue(channel).purge()


@contextmanager
def cluster(
    root: Path, database_url: str, broker_url: str, **settings: str
) -> Iterator[Cluster]:
    """Environment shared by every role, the schema, and an admin token; nodes are started
    by the caller (``cluster.start("api")``...) and all stopped on exit."""
    env = {
        **os.environ,
        "TZ": "UTC",  # log times compare with the database's (UTC) due times
        "STORFLEET_DATABASE_URL": database_url,
        "STORFLEET_BROKER_URL": broker_url,
        "STORFLEET_SECRET_KEY": generate_key(),
        "STORFLEET_DATA_DIR": str(root / "data"),
        **{f"STORFLEET_{k.upper()}": str(v) for k, v in settings.items()},
    }
    for name in ("STORFLEET_CONFIG", "STORFLEET_TOKEN", "STORFLEET_URL"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "-m", "storfleet.cli", "db", "upgrade"],
        env=env, check=True, capture_output=True,
    )
    purge_broker(broker_url)
    engine = sa.create_engine(database_url)
    _, token = create_token(engine, Role.ADMIN, "scale tests")
    running = Cluster(root, env, token, engine)
    try:
        yield running
    finally:
        running.stop()
        engine.dispose()
