"""A flood of garbage: random datagrams, every truncation of real v1/v2c/v3 traps, and
bit flips. The receiver counts and survives it, and still accepts a valid trap after."""

from __future__ import annotations

import random
import socket
import subprocess
import time

from tests.alerts.conftest import (
    ENTERPRISE,
    fake_storage,
    send_trap,
    set_source,
    stored_alerts,
    wait_for,
)

ENGINE_ID = "8000000001020305"
PACKETS = 12_000


def capture(snmptrap: str, args: list[str]) -> bytes:
    """The datagram snmptrap sends for ``args`` (its target is a socket of ours)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        target = f"udp:127.0.0.1:{sink.getsockname()[1]}"
        subprocess.run([snmptrap, *args[:-1], target, *args[-1]], check=True,
                       capture_output=True, timeout=20)
        return sink.recvfrom(65535)[0]


def _samples(snmptrap: str) -> list[bytes]:
    body = ["", "1.3.6.1.4.1.32473.0.1", f"{ENTERPRISE}.1.1", "s", "Major",
            f"{ENTERPRISE}.1.5", "s", "disk-9"]
    v3 = ["-v3", "-e", "0x" + ENGINE_ID, "-u", "fz", "-l", "authPriv", "-a", "SHA",
          "-A", "fuzz-auth-key", "-x", "AES", "-X", "fuzz-priv-key"]
    return [
        capture(snmptrap, ["-v2c", "-c", "fuzz", body]),
        capture(snmptrap, ["-v", "1", "-c", "fuzz",
                           [ENTERPRISE, "127.0.0.1", "6", "1", "", f"{ENTERPRISE}.1.5", "s",
                            "v1"]]),
        capture(snmptrap, [*v3, body]),
    ]


def _garbage(rng: random.Random, samples: list[bytes]) -> list[bytes]:
    packets: list[bytes] = []
    for sample in samples:  # every truncation of every sample
        packets.extend(sample[:cut] for cut in range(len(sample)))
    while len(packets) < PACKETS:
        roll = rng.random()
        sample = rng.choice(samples[:2]) if rng.random() < 0.9 else samples[2]
        if roll < 0.35:
            packets.append(rng.randbytes(rng.randrange(0, 300)))
        elif roll < 0.5:  # looks like SNMP at first glance
            packets.append(b"\x30" + rng.randbytes(rng.randrange(0, 200)))
        elif roll < 0.65:
            packets.append(sample[: rng.randrange(len(sample))])
        else:
            mutated = bytearray(sample)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            packets.append(bytes(mutated))
    rng.shuffle(packets)
    return packets


def test_receiver_survives_ten_thousand_bad_packets(db, manager, trap_service, snmptrap_bin):
    storage = fake_storage(manager, 20)
    set_source(db, storage["id"], version="SNMPv2c", host="127.0.0.1", community_string="fuzz")
    wait_for(lambda: len(trap_service.receiver.table) == 1, what="sources")
    samples = _samples(snmptrap_bin)
    packets = _garbage(random.Random(20260101), samples)
    assert len(packets) >= 10_000
    port = trap_service.address[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i, packet in enumerate(packets):
            sender.sendto(packet, ("127.0.0.1", port))
            if i % 500 == 499:
                time.sleep(0.01)  # the receiver's socket buffer is large, not endless
    wait_for(lambda: trap_service.snapshot()["received"] >= len(packets), timeout=60,
             what="every packet read")
    snapshot = trap_service.snapshot()
    assert snapshot["received"] == len(packets)
    assert snapshot["rejected_by"]["malformed"] > 5000
    wait_for(lambda: trap_service.writer.flush(1), timeout=60, what="queue drained")
    snapshot = trap_service.snapshot()
    accounted = snapshot["rejected"] + snapshot["matched"] + snapshot["unmatched"]
    assert accounted == snapshot["received"]
    # still alive and still right
    send_trap(snmptrap_bin, port, ["-c", "fuzz"], location="after-the-storm")
    rows = wait_for(lambda: stored_alerts(db, location="after-the-storm"), what="valid trap")
    assert [(r["storage_id"], r["count"]) for r in rows] == [(storage["id"], 1)]
