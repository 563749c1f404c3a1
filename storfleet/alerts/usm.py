"""SNMPv3 notifications through pysnmp, which owns their security (USM: every auth and
privacy protocol, key localisation, timeliness).

The receiver owns the socket and hands each v3 datagram to ``V3Decoder.decode``, which
runs pysnmp's message dispatcher on it synchronously and returns the varbinds with the
user and engine id that authenticated them, or raises :class:`V3Rejected` with the
reason pysnmp counted (unknown user or engine, wrong digest, decryption error...).
pysnmp sends through a small dispatcher that writes to the receiver's socket, so v3
informs (and the engine-id discovery they start with) are answered too.

Not thread-safe: one decoder is used by the event loop only; a reload builds a new one
(in a thread: key localisation hashes a megabyte per key) and the receiver swaps it in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.carrier.base import AbstractTransportDispatcher
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902

from storfleet.alerts.sources import AUTH_PRIV, NO_AUTH_NO_PRIV, SourceEntry

log = logging.getLogger(__name__)

AUTH = {
    "HMACMD5": config.USM_AUTH_HMAC96_MD5,
    "HMACSHA": config.USM_AUTH_HMAC96_SHA,
    "HMCSHA2224": config.USM_AUTH_HMAC128_SHA224,
    "HMCSHA2256": config.USM_AUTH_HMAC192_SHA256,
    "HMCSHA2384": config.USM_AUTH_HMAC256_SHA384,
    "HMCSHA2512": config.USM_AUTH_HMAC384_SHA512,
}
# AES-192/256 keys are extended as net-snmp's AES192 / AES256 do (Blumenthal's draft).
PRIVACY = {
    "DES": config.USM_PRIV_CBC56_DES,
    "3DES": config.USM_PRIV_CBC168_3DES,
    "AES": config.USM_PRIV_CFB128_AES,
    "AES192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
# pysnmp's statistics counter -> our rejection reason.
_STATS = (
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "v3_unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", "v3_unknown_engine"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "v3_wrong_digest"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "v3_decryption_error"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "v3_not_in_time_window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels",
     "v3_unsupported_security_level"),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "malformed"),
)


class V3Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class V3Notification:
    varbinds: list[tuple[str, str]]
    username: str
    engine_id: bytes
    security_level: int  # 1 noAuthNoPriv, 2 authNoPriv, 3 authPriv


class _SocketDispatcher(AbstractTransportDispatcher):
    """pysnmp's view of the receiver's socket: it only ever sends through it."""

    def __init__(self, send: Callable[[bytes, tuple], None]) -> None:
        super().__init__()
        self._send = send

    def send_message(self, outgoingMessage, transportDomain, transportAddress):  # noqa: N803
        self._send(bytes(outgoingMessage), tuple(transportAddress)[:2])


class V3Decoder:
    def __init__(self, users: Iterable[SourceEntry], send: Callable[[bytes, tuple], None]):
        self.engine = SnmpEngine()
        self.engine.register_transport_dispatcher(_SocketDispatcher(send))
        self._configured = 0
        for entry in users:
            self._add_user(entry)
        ntfrcv.NotificationReceiver(self.engine, self._on_notification)
        self.engine.observer.register_observer(
            self._on_prepare,
            "rfc3412.prepareDataElements:unconfirmed",
            "rfc3412.prepareDataElements:confirmed",
        )
        builder = self.engine.get_mib_builder()
        self._stats = [
            (builder.import_symbols(module, name)[0], reason) for module, name, reason in _STATS
        ]
        self._security: dict | None = None
        self._result: list[tuple[str, str]] | None = None

    @property
    def users(self) -> int:
        return self._configured

    def _add_user(self, entry: SourceEntry) -> None:
        level = entry.security_level or NO_AUTH_NO_PRIV
        kwargs = {"securityEngineId": rfc1902.OctetString(entry.engine_id or b"")}
        if level != NO_AUTH_NO_PRIV:
            kwargs.update(authProtocol=AUTH[entry.auth_protocol or "HMACSHA"],
                          authKey=entry.auth_key)
        if level == AUTH_PRIV:
            kwargs.update(privProtocol=PRIVACY[entry.privacy_protocol or "AES"],
                          privKey=entry.privacy_key)
        try:
            config.add_v3_user(self.engine, entry.username, **kwargs)
            self._configured += 1
        except Exception as exc:  # one bad source must not keep the others out
            log.error("v3 user %r of storage %s not configured: %s",
                      entry.username, entry.storage_id, exc)

    # pysnmp callbacks, called synchronously inside decode()
    def _on_prepare(self, engine, execpoint, variables, ctx) -> None:  # noqa: ANN001
        self._security = variables

    def _on_notification(self, engine, state_ref, ctx_engine_id, ctx_name, varbinds,
                         cb_ctx) -> None:  # noqa: ANN001
        self._result = [(str(oid), value.prettyPrint()) for oid, value in varbinds]

    def decode(self, data: bytes, address: tuple[str, int]) -> V3Notification:
        """Authenticate, decrypt and decode one v3 message from ``address``."""
        before = [int(symbol.syntax) for symbol, _ in self._stats]
        self._security = self._result = None
        ipv6 = ":" in address[0]
        domain = udp6.SNMP_UDP6_DOMAIN if ipv6 else udp.SNMP_UDP_DOMAIN
        transport_address = (udp6.Udp6TransportAddress if ipv6
                             else udp.UdpTransportAddress)(address[:2])
        try:
            self.engine.message_dispatcher.receive_message(
                self.engine, domain, transport_address, data
            )
        except Exception as exc:  # pysnmp raises little, but never let it escape
            log.debug("pysnmp failed on a v3 message: %s", exc)
            raise V3Rejected("malformed") from None
        result, security = self._result, self._security
        self._result = self._security = None
        if result is not None and security is not None:
            return V3Notification(
                result,
                str(security["securityName"]),
                bytes(security["securityEngineId"]),
                int(security["securityLevel"]),
            )
        for (symbol, reason), old in zip(self._stats, before, strict=True):
            if int(symbol.syntax) != old:
                raise V3Rejected(reason)
        raise V3Rejected("v3_other" if security is not None else "not_a_notification")

    def timer_tick(self, now: float) -> None:
        """Let pysnmp expire its caches (pending informs' state)."""
        self.engine.transport_dispatcher.handle_timer_tick(now)
