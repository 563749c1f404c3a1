"""A small BER decoder for SNMP v1 / v2c notifications, and the version of any message.

pysnmp decodes a trap through pyasn1's generic codec at a few thousand packets a second;
a v1/v2c trap has a fixed, tiny grammar, so this hand-written walk over the bytes is
several times faster. It decodes only what a receiver needs (community, PDU, varbinds),
refuses anything else with :class:`BerError`, and renders values as pysnmp's
``prettyPrint`` does, so the two agree (tests/alerts/test_ber.py uses pysnmp as the
oracle). v3 messages go to pysnmp, which owns their security.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42
TIMETICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46

TRAP_V1 = 0xA4
INFORM = 0xA6
TRAP_V2 = 0xA7
RESPONSE = 0xA2
NOTIFICATIONS = frozenset({TRAP_V1, INFORM, TRAP_V2})

V1, V2C, V3 = 0, 1, 3

_UNSIGNED = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
# pysnmp's texts for the exception values a varbind may carry.
_EXCEPTIONS = {
    0x80: "No Such Object currently exists at this OID",
    0x81: "No Such Instance currently exists at this OID",
    0x82: "No more variables left in this MIB View",
}
_OID_CACHE: dict[bytes, str] = {}
_OID_CACHE_MAX = 4096


class BerError(ValueError):
    """The bytes are not a well-formed SNMP notification of the versions decoded here."""


@dataclass(slots=True)
class Notification:
    """A decoded v1 / v2c notification. ``varbinds`` are (OID, value text) in order."""

    version: int
    community: bytes
    pdu_type: int
    request_id: int = 0
    varbinds: list[tuple[str, str]] = field(default_factory=list)
    # v1 Trap-PDU only
    enterprise: str = ""
    agent_address: str = ""
    generic_trap: int = 0
    specific_trap: int = 0
    time_stamp: int = 0


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the element at ``pos``."""
    if pos + 2 > end:
        raise BerError("truncated element header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags are not used by SNMP")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise BerError("indefinite or oversized length")
        if pos + count > end:
            raise BerError("truncated length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    stop = pos + length
    if stop > end:
        raise BerError("element runs past its container")
    return tag, pos, stop


def _integer(data: bytes, start: int, stop: int) -> int:
    if start == stop:
        raise BerError("empty integer")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _oid(data: bytes, start: int, stop: int) -> str:
    raw = data[start:stop]
    text = _OID_CACHE.get(raw)
    if text is not None:
        return text
    if not raw:
        raise BerError("empty object identifier")
    parts: list[int] = []
    value = 0
    pending = False
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            if not pending and byte == 0x80:
                raise BerError("non-minimal object identifier arc")
            pending = True
            continue
        parts.append(value)
        value = 0
        pending = False
    if pending:
        raise BerError("truncated object identifier")
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    text = ".".join(map(str, head + parts[1:]))
    if len(_OID_CACHE) < _OID_CACHE_MAX:
        _OID_CACHE[raw] = text
    return text


def _printable(raw: bytes) -> bool:
    return all(32 <= b <= 126 for b in raw)


def _value(data: bytes, tag: int, start: int, stop: int) -> str:
    if tag == OCTET_STRING:
        raw = data[start:stop]
        return raw.decode("ascii") if _printable(raw) else "0x" + raw.hex()
    if tag == INTEGER:
        return str(_integer(data, start, stop))
    if tag in _UNSIGNED:
        if start == stop:
            raise BerError("empty integer")
        return str(int.from_bytes(data[start:stop], "big"))
    if tag == OBJECT_IDENTIFIER:
        return _oid(data, start, stop)
    if tag == IP_ADDRESS:
        if stop - start != 4:
            raise BerError("an IpAddress has four octets")
        return ".".join(str(b) for b in data[start:stop])
    if tag == NULL:
        return ""
    if tag == OPAQUE:
        return "0x" + data[start:stop].hex()
    if tag in _EXCEPTIONS:
        return _EXCEPTIONS[tag]
    raise BerError(f"unknown value type 0x{tag:02x}")


def _varbinds(data: bytes, start: int, stop: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = start
    while pos < stop:
        tag, vb_start, vb_stop = _header(data, pos, stop)
        if tag != SEQUENCE:
            raise BerError("a varbind is a SEQUENCE")
        tag, o_start, o_stop = _header(data, vb_start, vb_stop)
        if tag != OBJECT_IDENTIFIER:
            raise BerError("a varbind starts with its OID")
        vtag, v_start, v_stop = _header(data, o_stop, vb_stop)
        if v_stop != vb_stop:
            raise BerError("trailing bytes in a varbind")
        out.append((_oid(data, o_start, o_stop), _value(data, vtag, v_start, v_stop)))
        pos = vb_stop
    return out


def message_version(data: bytes) -> int:
    """The msgVersion of any SNMP message (0 v1, 1 v2c, 3 v3)."""
    try:
        tag, start, stop = _header(data, 0, len(data))
        if tag != SEQUENCE:
            raise BerError("an SNMP message is a SEQUENCE")
        tag, v_start, v_stop = _header(data, start, stop)
        if tag != INTEGER:
            raise BerError("an SNMP message starts with its version")
        return _integer(data, v_start, v_stop)
    except IndexError as exc:  # pragma: no cover - bounds are checked; belt and braces
        raise BerError(f"truncated message ({exc})") from None


def decode_notification(data: bytes) -> Notification:
    """Decode a v1 / v2c trap or inform; anything else raises BerError."""
    try:
        return _decode(data)
    except (IndexError, OverflowError, UnicodeDecodeError) as exc:
        raise BerError(f"malformed message ({type(exc).__name__})") from None


def _decode(data: bytes) -> Notification:
    end = len(data)
    tag, start, stop = _header(data, 0, end)
    if tag != SEQUENCE or stop != end:
        raise BerError("an SNMP message is one SEQUENCE")
    tag, v_start, v_stop = _header(data, start, stop)
    if tag != INTEGER:
        raise BerError("an SNMP message starts with its version")
    version = _integer(data, v_start, v_stop)
    if version not in (V1, V2C):
        raise BerError(f"not a v1/v2c message (version {version})")
    tag, c_start, c_stop = _header(data, v_stop, stop)
    if tag != OCTET_STRING:
        raise BerError("the community is an OCTET STRING")
    community = data[c_start:c_stop]
    pdu_type, p_start, p_stop = _header(data, c_stop, stop)
    if p_stop != stop:
        raise BerError("trailing bytes after the PDU")
    if pdu_type == TRAP_V1:
        if version != V1:
            raise BerError("a v1 Trap-PDU in a v2c message")
        return _trap_v1(data, community, p_start, p_stop)
    if pdu_type not in (TRAP_V2, INFORM):
        raise BerError(f"not a notification PDU (0x{pdu_type:02x})")
    if version != V2C:
        raise BerError("a v2 notification PDU in a v1 message")
    fields = []
    pos = p_start
    for _ in range(3):  # request-id, error-status, error-index
        tag, i_start, i_stop = _header(data, pos, p_stop)
        if tag != INTEGER:
            raise BerError("request-id / error-status / error-index are INTEGERs")
        fields.append(_integer(data, i_start, i_stop))
        pos = i_stop
    tag, vbl_start, vbl_stop = _header(data, pos, p_stop)
    if tag != SEQUENCE or vbl_stop != p_stop:
        raise BerError("the varbind list is the PDU's last SEQUENCE")
    return Notification(
        version, community, pdu_type, fields[0], _varbinds(data, vbl_start, vbl_stop)
    )


def _trap_v1(data: bytes, community: bytes, start: int, stop: int) -> Notification:
    tag, e_start, e_stop = _header(data, start, stop)
    if tag != OBJECT_IDENTIFIER:
        raise BerError("a v1 trap starts with its enterprise OID")
    enterprise = _oid(data, e_start, e_stop)
    tag, a_start, a_stop = _header(data, e_stop, stop)
    if tag != IP_ADDRESS or a_stop - a_start != 4:
        raise BerError("a v1 trap's agent-addr is an IpAddress")
    agent = ".".join(str(b) for b in data[a_start:a_stop])
    tag, g_start, g_stop = _header(data, a_stop, stop)
    if tag != INTEGER:
        raise BerError("generic-trap is an INTEGER")
    generic = _integer(data, g_start, g_stop)
    tag, s_start, s_stop = _header(data, g_stop, stop)
    if tag != INTEGER:
        raise BerError("specific-trap is an INTEGER")
    specific = _integer(data, s_start, s_stop)
    tag, t_start, t_stop = _header(data, s_stop, stop)
    if tag != TIMETICKS:
        raise BerError("time-stamp is TimeTicks")
    time_stamp = int.from_bytes(data[t_start:t_stop], "big")
    tag, vbl_start, vbl_stop = _header(data, t_stop, stop)
    if tag != SEQUENCE or vbl_stop != stop:
        raise BerError("the varbind list is the trap's last SEQUENCE")
    return Notification(
        V1,
        community,
        TRAP_V1,
        varbinds=_varbinds(data, vbl_start, vbl_stop),
        enterprise=enterprise,
        agent_address=agent,
        generic_trap=generic,
        specific_trap=specific,
        time_stamp=time_stamp,
    )


def inform_response(data: bytes) -> bytes:
    """The Response to a v2c InformRequest: the same message with the PDU tag changed
    (an inform's error-status and error-index are zero, as a response's must be)."""
    tag, start, stop = _header(data, 0, len(data))
    _, _, v_stop = _header(data, start, stop)
    _, _, c_stop = _header(data, v_stop, stop)
    if data[c_stop] != INFORM:
        raise BerError("not an InformRequest")
    return data[:c_stop] + bytes([RESPONSE]) + data[c_stop + 1 :]
