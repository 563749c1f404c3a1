"""The hand-written v1/v2c decoder against pysnmp (the oracle) on random notifications,
and against every kind of damage a packet can have."""

from __future__ import annotations

import contextlib
import random

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.proto import api, rfc1902

from storfleet.alerts import ber, trapform


def _random_value(rng: random.Random):
    kind = rng.randrange(10)
    if kind == 0:
        return rfc1902.Integer32(rng.randint(-(2**31), 2**31 - 1))
    if kind == 1:
        n = rng.randrange(0, 40)
        return rfc1902.OctetString(bytes(rng.randrange(32, 127) for _ in range(n)))
    if kind == 2:
        return rfc1902.OctetString(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))))
    if kind == 3:
        return rfc1902.ObjectIdentifier(_random_oid(rng))
    if kind == 4:
        return rfc1902.IpAddress(".".join(str(rng.randrange(256)) for _ in range(4)))
    if kind == 5:
        return rfc1902.Counter32(rng.randrange(2**32))
    if kind == 6:
        return rfc1902.Gauge32(rng.randrange(2**32))
    if kind == 7:
        return rfc1902.TimeTicks(rng.randrange(2**32))
    if kind == 8:
        return rfc1902.Counter64(rng.randrange(2**64))
    return rfc1902.OctetString("")


def _random_oid(rng: random.Random) -> tuple[int, ...]:
    first = rng.randrange(3)
    second = rng.randrange(40) if first < 2 else rng.randrange(200)
    return (first, second, *(rng.choice([rng.randrange(128), rng.randrange(2**32)])
                             for _ in range(rng.randrange(1, 12))))


def _v2c_message(rng: random.Random, inform: bool = False) -> bytes:
    mod = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = mod.InformRequestPDU() if inform else mod.TrapPDU()
    mod.apiTrapPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, rng.randrange(2**31))
    varbinds = [(rfc1902.ObjectIdentifier(_random_oid(rng)), _random_value(rng))
                for _ in range(rng.randrange(0, 10))]
    mod.apiPDU.set_varbinds(pdu, varbinds)
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, bytes(rng.randrange(32, 127)
                                            for _ in range(rng.randrange(1, 20))))
    mod.apiMessage.set_pdu(msg, pdu)
    return pyasn1_encoder.encode(msg)


def _v1_message(rng: random.Random) -> bytes:
    mod = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
    pdu = mod.TrapPDU()
    mod.apiTrapPDU.set_defaults(pdu)
    mod.apiTrapPDU.set_enterprise(pdu, _random_oid(rng))
    mod.apiTrapPDU.set_agent_address(pdu, ".".join(str(rng.randrange(256)) for _ in range(4)))
    mod.apiTrapPDU.set_generic_trap(pdu, rng.randrange(7))
    mod.apiTrapPDU.set_specific_trap(pdu, rng.randrange(2**31))
    mod.apiTrapPDU.set_timestamp(pdu, rng.randrange(2**32))
    varbinds = [(rfc1902.ObjectIdentifier(_random_oid(rng)), _random_value(rng))
                for _ in range(rng.randrange(0, 8))
                ]
    varbinds = [(o, v) for o, v in varbinds if not isinstance(v, rfc1902.Counter64)]
    mod.apiTrapPDU.set_varbinds(pdu, varbinds)
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, b"public")
    mod.apiMessage.set_pdu(msg, pdu)
    return pyasn1_encoder.encode(msg)


def _oracle(data: bytes):
    version = api.decodeMessageVersion(data)
    mod = api.PROTOCOL_MODULES[version]
    msg, rest = pyasn1_decoder.decode(data, asn1Spec=mod.Message())
    assert not rest
    pdu = mod.apiMessage.get_pdu(msg)
    community = bytes(mod.apiMessage.get_community(msg))
    if version == api.SNMP_VERSION_1:
        varbinds = mod.apiTrapPDU.get_varbinds(pdu)
    else:
        varbinds = mod.apiPDU.get_varbinds(pdu)
    pretty = []
    for oid, value in varbinds:
        if version == api.SNMP_VERSION_1 and value.tagSet == mod.NetworkAddress.tagSet:
            value = value.getComponent()
        pretty.append((str(oid), value.prettyPrint()))
    return community, pretty, mod, pdu


@pytest.mark.parametrize("seed", range(6))
def test_decoder_agrees_with_pysnmp_on_random_v2c_notifications(seed):
    rng = random.Random(seed)
    for i in range(300):
        data = _v2c_message(rng, inform=i % 7 == 0)
        community, varbinds, mod, pdu = _oracle(data)
        decoded = ber.decode_notification(data)
        assert decoded.version == ber.V2C
        assert decoded.community == community
        assert decoded.varbinds == varbinds
        assert decoded.request_id == int(mod.apiPDU.get_request_id(pdu))


@pytest.mark.parametrize("seed", range(3))
def test_decoder_agrees_with_pysnmp_on_random_v1_traps(seed):
    rng = random.Random(100 + seed)
    for _ in range(300):
        data = _v1_message(rng)
        community, varbinds, mod, pdu = _oracle(data)
        decoded = ber.decode_notification(data)
        assert decoded.varbinds == varbinds
        assert decoded.enterprise == str(mod.apiTrapPDU.get_enterprise(pdu))
        assert decoded.agent_address == mod.apiTrapPDU.get_agent_address(pdu).prettyPrint()
        assert decoded.generic_trap == int(mod.apiTrapPDU.get_generic_trap(pdu))
        assert decoded.specific_trap == int(mod.apiTrapPDU.get_specific_trap(pdu))
        assert decoded.time_stamp == int(mod.apiTrapPDU.get_timestamp(pdu))


def test_v1_form_matches_pysnmp_rfc3584_translation():
    from pysnmp.proto.proxy import rfc2576

    rng = random.Random(7)
    for _ in range(200):
        data = _v1_message(rng)
        _, _, mod, pdu = _oracle(data)
        v2pdu = rfc2576.v1_to_v2(pdu, snmpTrapCommunity="public")
        expected = {str(o): v.prettyPrint()
                    for o, v in api.PROTOCOL_MODULES[1].apiPDU.get_varbinds(v2pdu)}
        expected.pop(trapform.SNMP_TRAP_COMMUNITY)  # a secret: never in the form
        form = trapform.from_notification(ber.decode_notification(data), "192.0.2.1")
        assert form.pop("transport_address") == "192.0.2.1"
        assert form == expected


def test_every_truncation_and_mutation_is_refused_cleanly():
    rng = random.Random(11)
    for _ in range(150):
        data = _v2c_message(rng) if rng.random() < 0.7 else _v1_message(rng)
        for cut in range(len(data)):
            with pytest.raises(ber.BerError):
                ber.decode_notification(data[:cut])
        for _ in range(30):
            mutated = bytearray(data)
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            # a flip may still leave a valid message: any outcome but another error is fine
            with contextlib.suppress(ber.BerError):
                ber.decode_notification(bytes(mutated))


def test_inform_response_is_the_same_message_as_a_response_pdu():
    data = _v2c_message(random.Random(3), inform=True)
    response = ber.inform_response(data)
    mod = api.PROTOCOL_MODULES[1]
    msg, _ = pyasn1_decoder.decode(response, asn1Spec=mod.Message())
    pdu = mod.apiMessage.get_pdu(msg)
    assert pdu.tagSet == mod.GetResponsePDU.tagSet
    assert bytes(mod.apiMessage.get_community(msg)) == ber.decode_notification(data).community
