"""RestClient against real HTTP(S) servers on 127.0.0.1 (no mocks of requests)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from storfleet.drivers import exception
from storfleet.drivers.context import RequestContext
from storfleet.drivers.rest import RestClient

USER = "admin"
PASSWORD = "s3cret-Pa55word"


@dataclass
class ArrayState:
    """What the fake REST array remembers between requests."""

    tokens: set[str] = field(default_factory=set)
    logins: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    flaky_failures: int = 2
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    state: ArrayState  # set per server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _count(self) -> int:
        with self.state.lock:
            n = self.state.hits.get(self.path, 0) + 1
            self.state.hits[self.path] = n
            return n

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        n = self._count()
        if self.path == "/ok":
            self._send(200, {"ok": True})
        elif self.path == "/basic":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == expected:
                self._send(200, {"user": USER})
            else:
                self._send(401, {"error": "unauthorized"})
        elif self.path == "/fail500":
            self._send(500, b"internal kaboom: controller B did not answer")
        elif self.path == "/forbidden":
            self._send(403, {"error": "forbidden"})
        elif self.path == "/slow":
            time.sleep(3)
            self._send(200, {"late": True})
        elif self.path == "/flaky":
            if n <= self.state.flaky_failures:
                self._send(503, {"error": "busy"})
            else:
                self._send(200, {"attempt": n})
        elif self.path == "/notjson":
            self._send(200, b"<html>hello</html>")
        elif self.path == "/pools":
            if self.headers.get("X-Auth-Token") in self.state.tokens:
                self._send(200, {"pools": ["p1", "p2"]})
            else:
                self._send(401, {"error": "token expired"})
        else:
            self._send(404, {"error": "no such path"})

    def do_POST(self) -> None:  # noqa: N802
        self._count()
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/session":
            with self.state.lock:
                self.state.logins += 1
                if body.get("username") == USER and body.get("password") == PASSWORD:
                    token = f"tok-{self.state.logins}"
                    self.state.tokens.add(token)
                    self._send(200, {"token": token})
                else:
                    self._send(401, {"error": "bad credentials"})
        elif self.path == "/flaky":
            self._send(503, {"error": "busy"})
        else:
            self._send(404, {"error": "no such path"})


def _serve(tls_context: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, ArrayState]:
    state = ArrayState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        server.handle_error = lambda request, address: None  # refused handshakes are expected
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


@pytest.fixture
def http_array() -> Iterator[tuple[int, ArrayState]]:
    server, state = _serve()
    try:
        yield server.server_address[1], state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, generated with cryptography."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "storfleet test array")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_array(self_signed: tuple[Path, Path]) -> Iterator[int]:
    cert_path, key_path = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server, _ = _serve(context)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _block(port: int, **extra: object) -> dict[str, object]:
    block: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "username": USER, "password": PASSWORD,
        "scheme": "http",
    }
    block.update(extra)
    return block


class TokenClient(RestClient):
    """A driver-style client whose login obtains a session token."""

    def login(self) -> None:
        response = self.post(
            "/session", json={"username": self.username, "password": self._password},
            relogin=False,
        )
        self.session.headers["X-Auth-Token"] = response.json()["token"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- plain HTTP ---------------------------------------------------------------------

def test_get_json_with_basic_auth(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    with RestClient(_block(port)) as client:
        assert client.get_json("/ok") == {"ok": True}
        assert client.get_json("/basic") == {"user": USER}


def test_token_login_and_relogin_after_401(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    client = TokenClient(_block(port))
    assert client.get_json("/pools") == {"pools": ["p1", "p2"]}
    assert state.logins == 1
    state.tokens.clear()  # the array expires every session
    assert client.get_json("/pools") == {"pools": ["p1", "p2"]}
    assert state.logins == 2
    assert state.hits["/pools"] == 3  # ok, 401, retried ok
    client.close()


def test_wrong_password_is_invalid_credential(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    client = TokenClient(_block(port, password="wrong"))
    with pytest.raises(exception.InvalidCredential) as info:
        client.get("/pools")
    assert "admin" in str(info.value)
    assert exception.category_of(info.value) == "invalid_credential"


def test_basic_auth_401_after_relogin_is_invalid_credential(
    http_array: tuple[int, ArrayState],
) -> None:
    port, state = http_array
    client = RestClient(_block(port, password="wrong"))
    with pytest.raises(exception.InvalidCredential):
        client.get("/basic")
    assert state.hits["/basic"] == 2  # one re-login + retry, no more


def test_403_is_invalid_credential(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    with pytest.raises(exception.InvalidCredential):
        RestClient(_block(port)).get("/forbidden")


def test_500_is_backend_error_with_status_and_excerpt(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    with pytest.raises(exception.BackendError) as info:
        RestClient(_block(port), backoff_factor=0).get("/fail500")
    assert info.value.kwargs["status"] == 500
    assert "500" in str(info.value) and "internal kaboom" in str(info.value)
    assert state.hits["/fail500"] == 1  # 500 is not a transient status


def test_404_is_backend_error(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    with pytest.raises(exception.BackendError) as info:
        RestClient(_block(port)).get("/missing")
    assert info.value.kwargs["status"] == 404


def test_idempotent_request_retried_on_503(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    client = RestClient(_block(port), retries=3, backoff_factor=0)
    assert client.get_json("/flaky") == {"attempt": 3}
    assert state.hits["/flaky"] == 3


def test_post_not_retried_on_503(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    client = RestClient(_block(port), retries=3, backoff_factor=0)
    with pytest.raises(exception.BackendError) as info:
        client.post("/flaky", json={})
    assert info.value.kwargs["status"] == 503
    assert state.hits["/flaky"] == 1


def test_retries_exhausted_on_503_is_backend_error(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    state.flaky_failures = 100
    client = RestClient(_block(port), retries=2, backoff_factor=0)
    with pytest.raises(exception.BackendError):
        client.get("/flaky")
    assert state.hits["/flaky"] == 3  # first try + 2 retries


def test_non_json_body_is_backend_error(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    with pytest.raises(exception.BackendError, match="did not return JSON"):
        RestClient(_block(port)).get_json("/notjson")


def test_slow_handler_is_driver_timeout(http_array: tuple[int, ArrayState]) -> None:
    port, state = http_array
    client = RestClient(_block(port, timeout={"connect": 2, "read": 0.3}), backoff_factor=0)
    started = time.monotonic()
    with pytest.raises(exception.DriverTimeout) as info:
        client.get("/slow")
    assert time.monotonic() - started < 2.5
    assert f"127.0.0.1:{port}" in str(info.value)
    assert state.hits["/slow"] == 1  # a read timeout is not retried by default


def test_context_deadline_caps_the_timeout(http_array: tuple[int, ArrayState]) -> None:
    port, _ = http_array
    client = RestClient(_block(port))  # default read timeout 60s
    started = time.monotonic()
    with pytest.raises(exception.DriverTimeout):
        client.get("/slow", context=RequestContext.with_timeout(0.3))
    assert time.monotonic() - started < 2.5


def test_connection_refused_is_unreachable() -> None:
    port = _free_port()  # nothing listens there any more
    client = RestClient(_block(port), retries=1, backoff_factor=0)
    with pytest.raises(exception.Unreachable) as info:
        client.get("/ok")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert exception.category_of(info.value) == "unreachable"


def test_unknown_host_is_unreachable() -> None:
    client = RestClient(_block(80, host="no-such-host.invalid"), retries=0)
    with pytest.raises(exception.Unreachable, match="no-such-host.invalid:80"):
        client.get("/ok")


def test_secrets_never_logged(
    http_array: tuple[int, ArrayState], caplog: pytest.LogCaptureFixture
) -> None:
    port, state = http_array
    caplog.set_level(logging.DEBUG)
    client = TokenClient(_block(port))
    client.get("/pools")
    state.tokens.clear()
    client.get("/pools")
    with pytest.raises(exception.InvalidCredential):
        RestClient(_block(port, password=PASSWORD + "x")).get("/basic")
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert caplog.records, "expected the client to log its requests at DEBUG"
    assert PASSWORD not in caplog.text
    assert basic not in caplog.text
    assert "Authorization" not in caplog.text
    assert PASSWORD not in repr(client)


def test_bad_block_values_rejected() -> None:
    with pytest.raises(exception.InvalidInput):
        RestClient({"port": 443})
    with pytest.raises(exception.InvalidInput):
        RestClient({"host": "a", "port": "https"})
    with pytest.raises(exception.InvalidCAPath):
        RestClient({"host": "a", "ca_bundle": "/nonexistent/ca.pem"})


# --- TLS ------------------------------------------------------------------------------

def _tls_block(port: int, **extra: object) -> dict[str, object]:
    return _block(port, scheme="https", **extra)


def test_tls_verification_on_by_default(https_array: int) -> None:
    client = RestClient(_tls_block(https_array), retries=0)
    assert client.session.verify is True
    with pytest.raises(exception.SSLCertificateFailed) as info:
        client.get("/ok")
    assert f"127.0.0.1:{https_array}" in str(info.value)
    assert "certificate" in str(info.value).lower()
    assert isinstance(info.value, exception.InvalidCredential)


def test_tls_unclear_verify_value_keeps_verification(https_array: int) -> None:
    client = RestClient(_tls_block(https_array, verify="maybe"), retries=0)
    with pytest.raises(exception.SSLCertificateFailed):
        client.get("/ok")


def test_tls_ca_bundle_accepts_the_array(
    https_array: int, self_signed: tuple[Path, Path]
) -> None:
    cert_path, _ = self_signed
    client = RestClient(_tls_block(https_array, ca_bundle=str(cert_path)))
    assert client.get_json("/ok") == {"ok": True}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("verify", [False, "false", "False"])
def test_tls_explicit_verify_false_accepts_and_warns_once(
    https_array: int, verify: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="storfleet.drivers.rest")
    # a fresh address key per case, so "once" is observable in each
    block = _tls_block(https_array, verify=verify, host="127.0.0.1")
    RestClient(block).get_json("/ok")
    RestClient(block).get_json("/ok")
    warnings = [r for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert len(warnings) <= 1
    assert PASSWORD not in caplog.text


def test_tls_verify_false_warning_names_host(
    self_signed: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="storfleet.drivers.rest")
    port = _free_port()  # an address no other test used, so the warning is the first
    RestClient(_tls_block(port, verify=False))
    RestClient(_tls_block(port, verify=False))
    warnings = [r for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert len(warnings) == 1
    assert f"127.0.0.1:{port}" in warnings[0].getMessage()
    assert PASSWORD not in caplog.text
