"""An SSH client for drivers of CLI-managed arrays, on paramiko.

Built from an access-info ``ssh`` block (the seed design doc's fields)::

    {"host": "10.0.0.7", "port": 22, "username": "admin", "password": "...",
     "pub_key": "73:d8:34:18:70:2a:ae:d8:1c:a5:44:40:ef:50:d0:63", "pub_key_type": "ed25519"}

The array's host key is always checked against ``pub_key``, which may be the MD5
fingerprint in colon-hex, an ``SHA256:...`` fingerprint (as ``ssh-keygen -l`` prints
them) or the base64 public key itself. A different key is refused with an error naming
the key offered. With no ``pub_key``, the connection is refused too, unless the block says
``trust_on_first_use: true``: then the key seen is accepted, pinned for the client's
later connections and exposed as :attr:`SSHClient.seen_host_key` for the framework to
persist. A recorded key that no longer matches is refused even then: that is the very
case host-key checking exists for.

Connections are pooled (up to ``pool_size``, thread-safe), every step has a timeout, and
errors come out as the SDK's categories. The password is never logged nor put in a
message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paramiko

from storfleet.drivers import exception
from storfleet.drivers.context import RequestContext

LOG = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 60.0
EXCERPT_CHARS = 300

_KEY_TYPES: dict[str, tuple[str, ...]] = {
    "ed25519": ("ssh-ed25519",),
    "ecdsa": ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    "rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}
_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")


def _family(key_type: str) -> str:
    """``'ssh-ed25519'`` / ``'ED25519'`` / ``'ecdsa-sha2-nistp256'`` -> family name."""
    text = key_type.strip().lower()
    for family, names in _KEY_TYPES.items():
        if text == family or text in names or text == f"ssh-{family}":
            return family
    raise exception.InvalidInput(
        f"ssh.pub_key_type {key_type!r} is not one of ed25519, ecdsa, rsa"
    )


def _is_true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in {"true", "yes", "on", "1"}


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class HostKey:
    """A host key as seen on the wire, in every form an operator may hold it in."""

    key_type: str  # e.g. 'ssh-ed25519'
    blob: bytes

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> HostKey:
        return cls(key.get_name(), key.asbytes())

    @property
    def sha256(self) -> str:
        """``SHA256:base64`` as printed by ``ssh-keygen -l`` (unpadded)."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def md5(self) -> str:
        """Colon-hex MD5 fingerprint (the seed design doc's example form)."""
        digest = hashlib.md5(self.blob, usedforsecurity=False).digest()
        return ":".join(f"{b:02x}" for b in digest)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode()

    @property
    def family(self) -> str:
        return _family(self.key_type)

    def as_access_info(self) -> dict[str, str]:
        """The ``ssh`` block fields to persist after a trusted first use."""
        return {"pub_key": self.sha256, "pub_key_type": self.family}


class _Expected:
    """What ``pub_key`` pins: one of the three accepted forms."""

    def __init__(self, pub_key: str) -> None:
        text = pub_key.strip()
        self.text = text
        self.sha256: str | None = None
        self.md5: str | None = None
        self.blob: bytes | None = None
        if text.upper().startswith("SHA256:"):
            self.sha256 = "SHA256:" + text[7:].rstrip("=")
            return
        hex_text = text[4:] if text.upper().startswith("MD5:") else text
        hex_text = hex_text.replace(":", "").lower()
        if _MD5_HEX.match(hex_text):
            self.md5 = ":".join(hex_text[i : i + 2] for i in range(0, 32, 2))
            return
        for token in text.split():  # "ssh-ed25519 AAAA... comment" or just "AAAA..."
            blob = self._decode_key(token)
            if blob is not None:
                self.blob = blob
                return
        raise exception.InvalidInput(
            "ssh.pub_key is neither an MD5 fingerprint (aa:bb:...), an SHA256:... "
            "fingerprint nor a base64 public key"
        )

    @staticmethod
    def _decode_key(token: str) -> bytes | None:
        try:
            blob = base64.b64decode(token, validate=True)
            (length,) = struct.unpack(">I", blob[:4])
            name = blob[4 : 4 + length].decode("ascii")
        except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
            return None
        return blob if name.startswith(("ssh-", "ecdsa-")) else None

    @property
    def key_type(self) -> str | None:
        if self.blob is None:
            return None
        (length,) = struct.unpack(">I", self.blob[:4])
        return self.blob[4 : 4 + length].decode("ascii")

    def matches(self, key: HostKey) -> bool:
        if self.sha256 is not None:
            return key.sha256 == self.sha256
        if self.md5 is not None:
            return key.md5 == self.md5
        return key.blob == self.blob


class SSHClient:
    """Runs commands on one array over a small pool of authenticated SSH connections."""

    def __init__(
        self,
        ssh: Mapping[str, Any],
        *,
        pool_size: int = 2,
        connect_timeout: float | None = None,
        command_timeout: float | None = None,
    ) -> None:
        host = ssh.get("host")
        if not host:
            raise exception.InvalidInput("ssh.host is required")
        self.host = str(host)
        try:
            self.port = int(ssh.get("port") or 22)
        except (TypeError, ValueError):
            port = ssh.get("port")
            raise exception.InvalidInput(f"ssh.port is not a number: {port!r}") from None
        self.username = str(ssh.get("username") or "")
        self._password = ssh.get("password")
        self.connect_timeout = float(
            connect_timeout or ssh.get("connect_timeout") or ssh.get("timeout")
            or DEFAULT_CONNECT_TIMEOUT
        )
        self.command_timeout = float(
            command_timeout or ssh.get("command_timeout") or DEFAULT_COMMAND_TIMEOUT
        )
        self.trust_on_first_use = _is_true(ssh.get("trust_on_first_use", False))
        pub_key = ssh.get("pub_key")
        self._expected = _Expected(pub_key) if pub_key else None
        key_type = ssh.get("pub_key_type") or (self._expected and self._expected.key_type)
        self.key_family = _family(key_type) if key_type else None
        if (self._expected and self._expected.key_type and self.key_family
                and _family(self._expected.key_type) != self.key_family):
            raise exception.InvalidInput(
                f"ssh.pub_key is a {self._expected.key_type} key but ssh.pub_key_type "
                f"says {self.key_family}"
            )
        if pool_size < 1:
            raise exception.InvalidInput("pool_size must be >= 1")
        self.pool_size = pool_size
        self.seen_host_key: HostKey | None = None
        self._pinned: HostKey | None = None
        self._idle: list[paramiko.Transport] = []
        self._open_count = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.username}@{self.address}>"

    def _redact(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    # --- connecting -----------------------------------------------------------------
    def _connect(self, timeout: float) -> paramiko.Transport:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except TimeoutError as exc:
            raise exception.SSHConnectTimeout(
                message=f"SSH connection to {self.address} timed out after {timeout:.3g}s"
            ) from exc
        except OSError as exc:  # refused, no route, DNS failure
            raise exception.Unreachable(
                message=f"Cannot connect to {self.address}: {exc.strerror or exc}"
            ) from exc
        transport = paramiko.Transport(sock)
        try:
            # start_client's own timeout (checked below) must be the one that fires.
            transport.banner_timeout = timeout * 2
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            if self.key_family is not None:
                # Ask for the pinned type, so a server with several host keys shows that one.
                preferred = transport.get_security_options().key_types
                wanted = [t for t in preferred if t in _KEY_TYPES[self.key_family]]
                transport.get_security_options().key_types = wanted
            self._handshake(transport, timeout)
            self._check_host_key(HostKey.from_pkey(transport.get_remote_server_key()))
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        return transport

    def _handshake(self, transport: paramiko.Transport, timeout: float) -> None:
        try:
            transport.start_client(timeout=timeout)
        except paramiko.IncompatiblePeer as exc:
            raise exception.SSHException(
                message=f"{self.address} offers no acceptable algorithms"
                f"{' for a ' + self.key_family + ' host key' if self.key_family else ''}: {exc}"
            ) from exc
        except (EOFError, ConnectionError) as exc:
            raise exception.Unreachable(
                message=f"{self.address} closed the connection during the SSH handshake"
            ) from exc
        except (paramiko.SSHException, OSError) as exc:
            if "timeout" in str(exc).lower() or isinstance(exc, TimeoutError):
                raise exception.SSHConnectTimeout(
                    message=f"SSH handshake with {self.address} timed out after {timeout:.3g}s"
                ) from exc
            raise exception.SSHException(
                message=f"SSH handshake with {self.address} failed: {exc}"
            ) from exc
        if not (transport.is_active() and transport.initial_kex_done):
            # start_client returns quietly when its timeout expires mid-negotiation.
            raise exception.SSHConnectTimeout(
                message=f"SSH handshake with {self.address} did not finish within {timeout:.3g}s"
            )

    def _check_host_key(self, key: HostKey) -> None:
        offered = f"{key.key_type} {key.sha256} (MD5 {key.md5})"
        with self._cond:  # pinning must be atomic: two first connections race otherwise
            pinned = self._pinned
            if pinned is not None:
                if key.blob != pinned.blob:
                    raise exception.SSHHostKeyRejected(
                        message=f"{self.address} now offers host key {offered}, not the "
                        f"{pinned.sha256} it offered before",
                        offered_fingerprint=key.sha256,
                    )
                return
            if self._expected is not None:
                if not self._expected.matches(key):
                    raise exception.SSHHostKeyRejected(
                        message=f"{self.address} offered host key {offered}, which does not "
                        f"match ssh.pub_key {self._expected.text!r}",
                        offered_fingerprint=key.sha256,
                    )
            elif not self.trust_on_first_use:
                raise exception.SSHHostKeyRejected(
                    message=f"{self.address} offered host key {offered}, and no ssh.pub_key "
                    "is recorded to check it against; set ssh.pub_key to this fingerprint "
                    "after verifying it, or allow trust_on_first_use",
                    offered_fingerprint=key.sha256,
                )
            else:
                LOG.warning("trusting %s's host key %s on first use", self.address, key.sha256)
            self._pinned = key
            self.seen_host_key = key

    def _authenticate(self, transport: paramiko.Transport) -> None:
        password = self._password or ""
        try:
            try:
                transport.auth_password(self.username, password)
            except paramiko.BadAuthenticationType as exc:
                if "keyboard-interactive" not in exc.allowed_types:
                    raise
                transport.auth_interactive(
                    self.username, lambda _title, _instr, prompts: [password] * len(prompts)
                )
        except paramiko.AuthenticationException as exc:
            raise exception.InvalidUsernameOrPassword(
                message=f"{self.address} refused SSH login for user {self.username!r}"
            ) from exc
        except paramiko.SSHException as exc:
            raise exception.SSHException(
                message=f"SSH authentication with {self.address} failed: {self._redact(str(exc))}"
            ) from exc

    # --- pool -------------------------------------------------------------------------
    def _acquire(self, timeout: float) -> paramiko.Transport:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise exception.SSHException(message=f"{self!r} is closed")
                while self._idle:
                    transport = self._idle.pop()
                    if transport.is_active():
                        return transport
                    self._open_count -= 1
                    transport.close()
                if self._open_count < self.pool_size:
                    self._open_count += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise exception.DriverTimeout(
                        message=f"all {self.pool_size} SSH connections to {self.address} "
                        f"stayed busy for {timeout:.3g}s"
                    )
                self._cond.wait(remaining)
        try:
            return self._connect(max(0.1, deadline - time.monotonic()))
        except BaseException:
            with self._cond:
                self._open_count -= 1
                self._cond.notify()
            raise

    def _release(self, transport: paramiko.Transport, broken: bool) -> None:
        with self._cond:
            if broken or self._closed or not transport.is_active():
                self._open_count -= 1
                transport.close()
            else:
                self._idle.append(transport)
            self._cond.notify()

    @contextmanager
    def connection(self, context: RequestContext | None = None) -> Iterator[paramiko.Transport]:
        """Borrow an authenticated transport from the pool (for SFTP, shells...)."""
        timeout = context.timeout(self.connect_timeout) if context else self.connect_timeout
        transport = self._acquire(timeout)
        broken = True
        try:
            yield transport
            broken = False
        finally:
            self._release(transport, broken)

    def connect(self, context: RequestContext | None = None) -> HostKey:
        """Open (or reuse) one connection: checks reachability, host key and login.

        Returns the host key seen, for registration to show or persist.
        """
        with self.connection(context):
            pass
        assert self.seen_host_key is not None
        return self.seen_host_key

    def close(self) -> None:
        """Close every pooled connection; the client cannot be used afterwards."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open_count -= len(idle)
            self._cond.notify_all()
        for transport in idle:
            transport.close()

    def __enter__(self) -> SSHClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- commands -----------------------------------------------------------------------
    def exec_command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        context: RequestContext | None = None,
        check: bool = True,
    ) -> str:
        """Run ``command`` and return its stdout (decoded, UTF-8).

        A non-zero exit raises :class:`BackendError` with the status and an stderr
        excerpt (``check=False`` returns stdout anyway). A stale pooled connection is
        replaced once, before the command starts.
        """
        limit = timeout or self.command_timeout
        if context is not None:
            if context.expired:
                raise exception.DriverTimeout(f"deadline passed before calling {self.address}")
            limit = context.timeout(limit)
        for attempt in (1, 2):
            with self.connection(context) as transport:
                try:
                    channel = transport.open_session(timeout=self.connect_timeout)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    if attempt == 2:
                        raise exception.SSHException(
                            message=f"cannot open an SSH session on {self.address}: {exc}"
                        ) from exc
                    LOG.debug("stale SSH connection to %s, reconnecting", self.address)
                    transport.close()
                    continue
                try:
                    status, out, err = self._run(channel, command, limit)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    raise exception.SSHException(
                        message=f"SSH command on {self.address} failed: "
                        f"{self._redact(str(exc))}"
                    ) from exc
                break
        if status != 0 and check:
            raise exception.BackendError(
                message=f"command {self._redact(_excerpt(command, 80))!r} on {self.address} "
                f"exited with status {status}: {self._redact(_excerpt(err or out))}",
                status=status,
                stdout=out,
                stderr=err,
            )
        return out

    def _run(
        self, channel: paramiko.Channel, command: str, limit: float
    ) -> tuple[int, str, str]:
        LOG.debug("ssh %s: %s", self.address, self._redact(_excerpt(command, 200)))
        deadline = time.monotonic() + limit
        out, err = bytearray(), bytearray()
        with channel:
            channel.exec_command(command)
            channel.shutdown_write()
            while True:
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                if channel.exit_status_ready() and channel.eof_received and not (
                    channel.recv_ready() or channel.recv_stderr_ready()
                ):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise exception.DriverTimeout(
                        message=f"command {self._redact(_excerpt(command, 80))!r} on "
                        f"{self.address} did not finish within {limit:g}s"
                    )
                select.select([channel], [], [], min(remaining, 0.5))
            status = channel.recv_exit_status()
        return (status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
