"""SSHClient against a real OpenSSH sshd started on 127.0.0.1 for this module.

Requires /usr/sbin/sshd (Debian package openssh-server, installed by ``make deps``) and
root, to create the local test user. Missing either FAILS the tests: a skipped SSH
suite would let host-key checking regress unnoticed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storfleet.drivers import exception
from storfleet.drivers.context import RequestContext
from storfleet.drivers.ssh import SSHClient

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
TEST_USER = "storfleet-ssh-test"
TEST_PASSWORD = "Storfleet-ssh-Test-9f3a"


@dataclass(frozen=True)
class HostKeyFiles:
    """One host key of the test sshd, with fingerprints as ssh-keygen prints them."""

    key_type: str  # ssh-keygen -t value
    public_base64: str
    sha256: str  # "SHA256:..."
    md5: str  # "aa:bb:..."


@dataclass(frozen=True)
class Sshd:
    port: int
    ed25519: HostKeyFiles
    ecdsa: HostKeyFiles

    def block(self, **extra: object) -> dict[str, object]:
        block: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": TEST_USER,
            "password": TEST_PASSWORD,
            "pub_key": self.ed25519.md5,
            "pub_key_type": "ed25519",
        }
        block.update(extra)
        return block


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Live direct children of ``pid`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _ensure_test_user() -> None:
    """Create the local login the test sshd accepts; idempotent."""
    if os.geteuid() != 0:
        pytest.fail("the SSH tests must run as root (as in CI): they create the user "
                    f"{TEST_USER!r} and sshd needs root to check passwords")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", TEST_USER],
            check=True, capture_output=True,
        )
    subprocess.run(
        ["chpasswd"], input=f"{TEST_USER}:{TEST_PASSWORD}\n", text=True,
        check=True, capture_output=True,
    )


def _host_key(directory: Path, key_type: str) -> HostKeyFiles:
    path = directory / f"ssh_host_{key_type}_key"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", "storfleet-test", "-f", str(path)],
        check=True, capture_output=True,
    )
    os.chmod(path, 0o600)

    def fingerprint(hash_name: str) -> str:
        out = subprocess.run(
            [SSH_KEYGEN, "-l", "-E", hash_name, "-f", f"{path}.pub"],
            check=True, capture_output=True, text=True,
        ).stdout
        return out.split()[1]  # "256 SHA256:xxx comment (ED25519)"

    md5 = fingerprint("md5")
    assert md5.startswith("MD5:")
    return HostKeyFiles(
        key_type=key_type,
        public_base64=Path(f"{path}.pub").read_text().split()[1],
        sha256=fingerprint("sha256"),
        md5=md5[len("MD5:"):],
    )


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} is missing: install Debian's openssh-server "
                    "(apt-get install -y openssh-server, or `make deps`)")
    _ensure_test_user()
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    directory = tmp_path_factory.mktemp("sshd")
    ed25519 = _host_key(directory, "ed25519")
    ecdsa = _host_key(directory, "ecdsa")
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {directory}/ssh_host_ed25519_key
HostKey {directory}/ssh_host_ecdsa_key
PidFile {directory}/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers {TEST_USER}
MaxStartups 50
MaxSessions 20
LogLevel VERBOSE
"""
    )
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.fail(f"sshd rejected the test configuration: {check.stderr}")
    log_path = directory / "sshd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"sshd exited with {process.returncode}: {log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sshd did not answer on port {port}: {log_path.read_text()}")
            time.sleep(0.1)
        yield Sshd(port=port, ed25519=ed25519, ecdsa=ecdsa)
    finally:
        # sshd forks a session leader per connection (its own process group): end those
        # children by pid, then the listener's group.
        for child in _children(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- accepted keys ------------------------------------------------------------------

def test_md5_fingerprint_accepted_and_command_output_read(sshd: Sshd) -> None:
    with SSHClient(sshd.block()) as client:
        assert client.exec_command("echo hello") == "hello\n"
        assert client.seen_host_key is not None
        assert client.seen_host_key.sha256 == sshd.ed25519.sha256


@pytest.mark.parametrize(
    "pub_key_form", ["sha256", "md5_prefixed", "base64", "openssh_line"]
)
def test_every_pub_key_form_accepted(sshd: Sshd, pub_key_form: str) -> None:
    key = sshd.ed25519
    pub_key = {
        "sha256": key.sha256,
        "md5_prefixed": "MD5:" + key.md5.upper(),
        "base64": key.public_base64,
        "openssh_line": f"ssh-ed25519 {key.public_base64} array@example",
    }[pub_key_form]
    with SSHClient(sshd.block(pub_key=pub_key, pub_key_type="ssh-ed25519")) as client:
        assert client.exec_command("echo ok") == "ok\n"


def test_pub_key_type_selects_the_host_key_checked(sshd: Sshd) -> None:
    # The server has ed25519 and ecdsa keys; pinning the ecdsa one must work, not be
    # refused because the server showed its ed25519 key first.
    block = sshd.block(pub_key=sshd.ecdsa.sha256, pub_key_type="ecdsa")
    with SSHClient(block) as client:
        assert client.connect().sha256 == sshd.ecdsa.sha256
        assert client.seen_host_key is not None and client.seen_host_key.family == "ecdsa"


def test_type_derived_from_base64_key(sshd: Sshd) -> None:
    block = sshd.block(pub_key=sshd.ecdsa.public_base64, pub_key_type=None)
    with SSHClient(block) as client:
        assert client.exec_command("echo ecdsa") == "ecdsa\n"


# --- refused keys -------------------------------------------------------------------

def test_wrong_pub_key_refused_naming_offered_fingerprint(sshd: Sshd) -> None:
    wrong = "73:d8:34:18:70:2a:ae:d8:1c:a5:44:40:ef:50:d0:63"  # the seed doc's example
    client = SSHClient(sshd.block(pub_key=wrong))
    with pytest.raises(exception.SSHHostKeyRejected) as info:
        client.exec_command("echo never")
    assert sshd.ed25519.sha256 in str(info.value)
    assert info.value.offered_fingerprint == sshd.ed25519.sha256
    assert isinstance(info.value, exception.InvalidCredential)


def test_other_key_of_the_server_is_still_wrong(sshd: Sshd) -> None:
    # ecdsa fingerprint declared as ed25519: the ed25519 key is offered and refused.
    block = sshd.block(pub_key=sshd.ecdsa.sha256, pub_key_type="ed25519")
    with pytest.raises(exception.SSHHostKeyRejected):
        SSHClient(block).connect()


def test_unknown_key_refused_without_tofu(sshd: Sshd) -> None:
    client = SSHClient(sshd.block(pub_key=None, pub_key_type=None))
    with pytest.raises(exception.SSHHostKeyRejected) as info:
        client.connect()
    assert info.value.offered_fingerprint in (sshd.ed25519.sha256, sshd.ecdsa.sha256)
    assert "trust_on_first_use" in str(info.value)
    assert client.seen_host_key is None


def test_unknown_key_accepted_with_tofu_and_exposed(sshd: Sshd) -> None:
    block = sshd.block(pub_key=None, pub_key_type="ed25519", trust_on_first_use=True)
    with SSHClient(block) as client:
        assert client.exec_command("echo tofu") == "tofu\n"
        seen = client.seen_host_key
        assert seen is not None
        assert seen.sha256 == sshd.ed25519.sha256
        assert seen.md5 == sshd.ed25519.md5
        assert seen.as_access_info() == {"pub_key": sshd.ed25519.sha256,
                                         "pub_key_type": "ed25519"}


def test_tofu_does_not_override_a_recorded_key(sshd: Sshd) -> None:
    block = sshd.block(pub_key=sshd.ecdsa.sha256, pub_key_type="ed25519",
                       trust_on_first_use=True)
    with pytest.raises(exception.SSHHostKeyRejected):
        SSHClient(block).connect()


def test_malformed_pub_key_rejected_up_front(sshd: Sshd) -> None:
    with pytest.raises(exception.InvalidInput):
        SSHClient(sshd.block(pub_key="not a key"))
    with pytest.raises(exception.InvalidInput):
        SSHClient(sshd.block(pub_key_type="dsa-512"))


# --- login and reachability ---------------------------------------------------------

def test_wrong_password_is_invalid_credential(sshd: Sshd) -> None:
    client = SSHClient(sshd.block(password="definitely-wrong"))
    with pytest.raises(exception.InvalidCredential) as info:
        client.exec_command("echo never")
    assert exception.category_of(info.value) == "invalid_credential"
    assert TEST_USER in str(info.value)
    assert "definitely-wrong" not in str(info.value)


def test_nothing_listening_is_unreachable() -> None:
    port = _free_port()
    client = SSHClient({"host": "127.0.0.1", "port": port, "username": "x", "password": "y",
                        "pub_key": "SHA256:AAAA"})
    with pytest.raises(exception.Unreachable) as info:
        client.exec_command("echo never")
    assert f"127.0.0.1:{port}" in str(info.value)


def test_silent_server_is_connect_timeout() -> None:
    with socket.socket() as listener:  # accepts TCP but never speaks SSH
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = SSHClient({"host": "127.0.0.1", "port": port, "username": "x",
                            "password": "y", "pub_key": "SHA256:AAAA"}, connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(exception.SSHConnectTimeout):
            client.connect()
        assert time.monotonic() - started < 5


# --- commands and pool --------------------------------------------------------------

def test_nonzero_exit_is_backend_error_with_stderr(sshd: Sshd) -> None:
    with SSHClient(sshd.block()) as client:
        with pytest.raises(exception.BackendError) as info:
            client.exec_command("echo 'controller B offline' >&2; exit 3")
        assert info.value.kwargs["status"] == 3
        assert "controller B offline" in str(info.value)
        assert client.exec_command("exit 4", check=False) == ""


def test_command_timeout_is_driver_timeout(sshd: Sshd) -> None:
    with SSHClient(sshd.block(), command_timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(exception.DriverTimeout):
            client.exec_command("sleep 5")
        assert time.monotonic() - started < 3
        assert client.exec_command("echo after") == "after\n"  # pool recovered


def test_context_deadline_caps_command(sshd: Sshd) -> None:
    with SSHClient(sshd.block()) as client, pytest.raises(exception.DriverTimeout):
        client.exec_command("sleep 5", context=RequestContext.with_timeout(0.7))


def test_large_output_on_both_streams(sshd: Sshd) -> None:
    with SSHClient(sshd.block()) as client:
        out = client.exec_command("seq 1 200000; seq 1 50000 >&2")
        assert out.splitlines()[-1] == "200000"
        assert len(out.splitlines()) == 200000


def test_pool_reuses_and_bounds_connections(sshd: Sshd) -> None:
    client = SSHClient(sshd.block(), pool_size=2)
    results: list[str] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results.append(client.exec_command(f"sleep 0.2; echo {i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(results) == sorted(f"{i}\n" for i in range(6))
    assert client._open_count <= 2
    assert len(client._idle) == client._open_count
    client.close()
    assert client._open_count == 0
    with pytest.raises(exception.SSHException):
        client.exec_command("echo closed")


def test_password_never_logged(sshd: Sshd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SSHClient(sshd.block()) as client:
        client.exec_command(f"echo {TEST_PASSWORD} >/dev/null")
    with pytest.raises(exception.InvalidCredential):
        SSHClient(sshd.block(password=TEST_PASSWORD + "x")).connect()
    assert caplog.records
    assert TEST_PASSWORD not in caplog.text
    assert TEST_PASSWORD not in repr(SSHClient(sshd.block()))
