"""The SNMP trap receiver: one asyncio UDP socket for v1, v2c and v3.

The socket is read by an ``add_reader`` callback that drains every waiting datagram
(up to a bound) per wake-up, rather than one datagram per loop iteration as a
DatagramProtocol would: at tens of thousands of traps a second the loop's per-wake-up
cost matters. Each datagram is decoded and matched right there (pure CPU, no I/O):
v1/v2c by ``ber``'s decoder and the community, v3 by pysnmp's USM (``usm``). What
passes goes to the writer's queue; what does not is counted and logged with its source,
rate-limited so a flood of garbage cannot flood the log. Nothing a sender does raises
out of the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable

from storfleet.alerts import ber, trapform
from storfleet.alerts.counters import TrapCounters
from storfleet.alerts.matching import WRONG_CREDENTIALS, MatchTable
from storfleet.alerts.parsing import ReceivedTrap
from storfleet.alerts.sources import normalize_address
from storfleet.alerts.usm import V3Decoder, V3Rejected

log = logging.getLogger(__name__)

DRAIN_MAX = 512  # datagrams per wake-up before the loop gets a turn
MAX_DATAGRAM = 65535
LOG_EVERY_S = 60.0
_LOG_KEYS_MAX = 10_000


class RejectLog:
    """One warning per (source, reason) per minute, with how many were not logged."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._seen: dict[tuple[str, str], list[float]] = {}

    def __call__(self, source: str, reason: str, detail: str = "") -> None:
        now = time.monotonic()
        key = (source, reason)
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.every_s:
            entry[1] += 1
            return
        suppressed = int(entry[1]) if entry is not None else 0
        if len(self._seen) >= _LOG_KEYS_MAX:
            self._seen.clear()
        self._seen[key] = [now, 0]
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning("trap from %s rejected: %s%s%s", source, reason,
                    f" ({detail})" if detail else "", more)


class TrapReceiver:
    def __init__(
        self,
        counters: TrapCounters,
        submit: Callable[[ReceivedTrap], bool],
        *,
        host: str = "127.0.0.1",
        port: int = 1162,
        socket_buffer: int = 16 * 1024 * 1024,
    ) -> None:
        self.counters = counters
        self.submit = submit
        self.host, self.port = host, port
        self.socket_buffer = socket_buffer
        self.table = MatchTable()
        self.v3: V3Decoder = V3Decoder((), self.send)
        self.reject_log = RejectLog()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._addresses: dict[str, str] = {}
        self._ticker: asyncio.TimerHandle | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when 0 was asked)."""
        if self._sock is None:
            return (self.host, self.port)
        return self._sock.getsockname()[:2]

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        infos = await self._loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self._grow_buffer(sock)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            hint = ""
            if exc.errno == errno.EACCES:
                hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            raise OSError(exc.errno, f"cannot listen for traps on {self.host}:{self.port}: "
                                     f"{exc.strerror}{hint}") from None
        sock.setblocking(False)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)
        self._ticker = self._loop.call_later(1.0, self._tick)
        log.info("receiving SNMP traps on %s:%s (udp)", *self.address)

    def _grow_buffer(self, sock: socket.socket) -> None:
        """A large receive buffer absorbs bursts while the loop is busy. As root the
        system maximum does not apply (SO_RCVBUFFORCE)."""
        force = getattr(socket, "SO_RCVBUFFORCE", None)
        if force is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, force, self.socket_buffer)
                return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.socket_buffer)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def configure(self, table: MatchTable, v3: V3Decoder) -> None:
        """Swap in a new matching table and v3 decoder (on the loop's thread)."""
        self.table = table
        self.v3 = v3

    def _tick(self) -> None:
        try:
            self.v3.timer_tick(time.monotonic())
        except Exception:  # pysnmp housekeeping must never stop the receiver
            log.debug("pysnmp timer tick failed", exc_info=True)
        if self._loop is not None and self._sock is not None:
            self._ticker = self._loop.call_later(1.0, self._tick)

    # -- the hot path -------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recv = sock.recvfrom
        for _ in range(DRAIN_MAX):
            try:
                data, address = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED from a previous inform response
                log.debug("recvfrom: %s", exc)
                return
            try:
                self.handle(data, address)
            except Exception:  # a bug of ours on an odd packet: count it, keep receiving
                self.counters.reject("malformed")
                log.exception("trap from %s: unexpected error while decoding", address[0])

    def _source(self, host: str) -> str:
        found = self._addresses.get(host)
        if found is None:
            try:
                found = normalize_address(host.split("%", 1)[0])
            except ValueError:
                found = host
            if len(self._addresses) > _LOG_KEYS_MAX:
                self._addresses.clear()
            self._addresses[host] = found
        return found

    def handle(self, data: bytes, address: tuple) -> None:
        """Decode, check and queue one datagram from ``address``."""
        counters = self.counters
        counters.received += 1
        source = self._source(address[0])
        try:
            version = ber.message_version(data)
        except ber.BerError as exc:
            counters.reject("malformed")
            self.reject_log(source, "malformed", str(exc))
            return
        if version == ber.V3:
            self._handle_v3(data, address, source)
            return
        if version not in (ber.V1, ber.V2C):
            counters.reject("malformed")
            self.reject_log(source, "malformed", f"unknown SNMP version {version}")
            return
        try:
            message = ber.decode_notification(data)
        except ber.BerError as exc:
            counters.reject("malformed")
            self.reject_log(source, "malformed", str(exc))
            return
        match = self.table.by_community(source, message.community)
        if match.status == WRONG_CREDENTIALS:
            counters.reject("unknown_community")
            self.reject_log(source, "unknown community",
                            "no alert source at this address has it")
            return
        if message.pdu_type == ber.INFORM:
            self.send(ber.inform_response(data), address)
            counters.informs_answered += 1
        form = trapform.from_notification(message, source)
        self.submit(ReceivedTrap(form, match, time.monotonic(), version))

    def _handle_v3(self, data: bytes, address: tuple, source: str) -> None:
        try:
            notification = self.v3.decode(data, address)
        except V3Rejected as exc:
            self.counters.reject(exc.reason)
            self.reject_log(source, exc.reason.replace("_", " "))
            return
        match = self.table.by_user(source, notification.engine_id, notification.username)
        form = trapform.from_varbinds(notification.varbinds, source)
        self.submit(ReceivedTrap(form, match, time.monotonic(), ber.V3))

    def send(self, payload: bytes, address: tuple) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(payload, address)
        except OSError as exc:  # a full send buffer: the sender retries its inform
            log.debug("answering %s failed: %s", address[0], exc)
