"""Real servers for the alert exporter tests: Prometheus Alertmanager and a webhook sink,
on 127.0.0.1, stopped by the test that started them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.alerts.conftest import tool
from tests.metrics.servers import free_port

ALERTMANAGER_INSTALL = "apt-get install -y prometheus-alertmanager   (or: make deps)"


@contextlib.contextmanager
def alertmanager(workdir: Path, resolve_timeout_s: int) -> Iterator[str]:
    """A real Alertmanager, no clustering, a short resolve timeout; yields its URL."""
    binary = tool("prometheus-alertmanager", ALERTMANAGER_INSTALL)
    port = free_port()
    config = workdir / "alertmanager.yml"
    config.write_text(
        f"global:\n  resolve_timeout: {resolve_timeout_s}s\n"
        "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\n"
        "receivers:\n  - name: blackhole\n"
    )
    log = (workdir / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={workdir / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
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
                raise AssertionError("alertmanager did not start: "
                                     + (workdir / "alertmanager.log").read_text()[-2000:])
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)
        log.close()


class WebhookSink:
    """An HTTP server that records JSON bodies; answers 503 while ``failing`` is set."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.failing = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                sink.attempts += 1
                if sink.failing.is_set():
                    self.send_response(503)
                    self.end_headers()
                    return
                sink.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [e for body in self.bodies for e in body["events"]]
