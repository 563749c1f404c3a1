"""A real ``storfleet serve`` on 127.0.0.1 (a free port, its own data directory), for the
tests that talk HTTP the way an operator's tools do (schemathesis, the CLI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from storfleet.auth.tokens import ADMIN_TOKEN_FILE
from storfleet.secrets import generate_key


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]  # what a client process needs: STORFLEET_URL, _DATA_DIR, _SECRET_KEY
    log: Path

    @property
    def token(self) -> str:
        return (self.data_dir / ADMIN_TOKEN_FILE).read_text().strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(root: Path, *extra_args: str) -> Iterator[LiveServer]:
    data_dir = root / "data"
    port = free_port()
    env = {
        **os.environ,
        "STORFLEET_DATA_DIR": str(data_dir),
        "STORFLEET_SECRET_KEY": generate_key(),
        "STORFLEET_SCHEDULER_TICK_S": "0.05",
        "STORFLEET_URL": f"http://127.0.0.1:{port}",
        # Its own trap port too: several servers may run at once (module-scoped fixtures).
        "STORFLEET_TRAP_PORT": str(free_port(socket.SOCK_DGRAM)),
    }
    env.pop("STORFLEET_DATABASE_URL", None)
    env.pop("STORFLEET_TOKEN", None)
    log = root / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "storfleet.cli", "serve", "--port", str(port), *extra_args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(env["STORFLEET_URL"], data_dir, env, log)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: LiveServer, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storfleet serve exited:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"storfleet serve did not get ready:\n{server.log.read_text()[-3000:]}")
