"""Trap benchmark: `python bench/traps.py` (runnable alone; prints a table).

Replays captured SNMP traps (v2c, and v3 authPriv SHA/AES) over UDP at paced rates,
each rate for ``--seconds`` (60 by default), against storfleet's receiver (real socket,
decoding, matching to a storage, the fake driver's parse_alert, deduplication, SQLite
writes) and against net-snmp's snmptrapd (received and logged) as the reference.

Per rate: traps sent, received, matched, stored (durably: as alerts or counted
duplicates), loss (sent - stored; snmptrapd: sent - logged) and the p99 latency from
receipt to commit. Target: v2c zero loss at >= 10,000 traps/s sustained.

The packets are captured from net-snmp's snmptrap (200 distinct v2c traps, 50 distinct
v3 traps: distinct alerts, then duplicates as they repeat). The sender is its own
process, so it does not share the receiver's interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402

ENTERPRISE = "1.3.6.1.4.1.32473"
ENGINE_ID = "8000000001020399"
COMMUNITY = "bench-community"
V3_USER, V3_AUTH, V3_PRIV = "benchuser", "bench-auth-key", "bench-priv-key"
DISTINCT_V2C, DISTINCT_V3 = 200, 50


# -- packets --------------------------------------------------------------------------------
def _capture(snmptrap: str, auth: list[str], version: str, location: str) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        target = f"udp:127.0.0.1:{sink.getsockname()[1]}"
        subprocess.run(
            [snmptrap, version, *auth, target, "", f"{ENTERPRISE}.0.1",
             f"{ENTERPRISE}.1.1", "s", "Major", f"{ENTERPRISE}.1.4", "s",
             f"benchmark trap for {location}", f"{ENTERPRISE}.1.5", "s", location],
            check=True, capture_output=True, timeout=20)
        return sink.recvfrom(65535)[0]


def capture_packets(snmptrap: str) -> dict[str, list[bytes]]:
    v3 = ["-e", "0x" + ENGINE_ID, "-u", V3_USER, "-l", "authPriv", "-a", "SHA", "-A", V3_AUTH,
          "-x", "AES", "-X", V3_PRIV]
    return {
        "v2c": [_capture(snmptrap, ["-c", COMMUNITY], "-v2c", f"disk-{i}")
                for i in range(DISTINCT_V2C)],
        "v3": [_capture(snmptrap, v3, "-v3", f"port-{i}") for i in range(DISTINCT_V3)],
    }


# -- the sender (its own process) ---------------------------------------------------------
def _send(packets: list[bytes], rate: int, seconds: float, port: int, result) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    target = ("127.0.0.1", port)
    total = int(rate * seconds)
    sent = 0
    n = len(packets)
    start = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            try:
                sock.sendto(packets[sent % n], target)
            except BlockingIOError:
                break
            sent += 1
        if sent < total:
            time.sleep(0.0005)
    result[0] = sent
    result[1] = time.perf_counter() - start
    sock.close()


def send_paced(packets: list[bytes], rate: int, seconds: float, port: int) -> tuple[int, float]:
    """(packets sent, seconds the sending took) from a sender process of its own."""
    result = multiprocessing.Array("d", 2)
    process = multiprocessing.Process(target=_send, args=(packets, rate, seconds, port, result))
    process.start()
    process.join()
    return int(result[0]), float(result[1])


# -- storfleet ----------------------------------------------------------------------------
class Storfleet:
    """A migrated SQLite database with two fake storages (one v2c, one v3 source) and the
    trap service on its own event loop thread."""

    def __init__(self, workdir: Path) -> None:
        from storfleet.alerts import sources
        from storfleet.alerts.service import TrapService
        from storfleet.alerts.settings import AlertSettings
        from storfleet.config import Settings
        from storfleet.fleet.manager import DriverManager
        from storfleet.fleet.registration import register_storage
        from storfleet.secrets import generate_key
        from storfleet.store.database import open_database

        settings = Settings(data_dir=workdir / "data", secret_key=generate_key())
        self.db = open_database(settings)
        self.manager = DriverManager(self.db)
        ids = []
        for seed in (1, 2):
            ids.append(register_storage(self.manager, {
                "vendor": "fake_storage", "model": "fake_driver",
                "rest": {"host": "127.0.0.1", "port": 8443, "username": "u", "password": "p"},
                "extra_attributes": {"seed": seed}})["id"])
        sources.save(self.db.engine, self.db.keyring, ids[0], sources.validate(
            {"version": "SNMPv2c", "host": "127.0.0.1", "community_string": COMMUNITY}))
        sources.save(self.db.engine, self.db.keyring, ids[1], sources.validate(
            {"version": "SNMPv3", "host": "127.0.0.1", "username": V3_USER,
             "engine_id": ENGINE_ID, "security_level": "authPriv", "auth_protocol": "SHA",
             "auth_key": V3_AUTH, "privacy_protocol": "AES", "privacy_key": V3_PRIV}))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = TrapService(self.db, AlertSettings(trap_port=0), manager=self.manager)
        self._run(self.service.start())

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    @property
    def port(self) -> int:
        return self.service.address[1]

    def measure(self, packets: list[bytes], rate: int, seconds: float) -> dict:
        counters = self.service.counters
        before = counters.snapshot()
        counters.reset_latencies()
        sent, elapsed = send_paced(packets, rate, seconds, self.port)
        # the kernel's buffer, then the queue, drain: wait until nothing more arrives
        # (or everything sent did) and everything received is stored
        deadline = time.monotonic() + 120
        last, quiet = -1, 0
        while time.monotonic() < deadline:
            received = counters.received - before["received"]
            quiet = quiet + 1 if received == last else 0
            last = received
            arrived = received >= sent or quiet >= 5
            if arrived and self.service.writer.queue.unfinished_tasks == 0:
                break
            time.sleep(0.2)
        after = counters.snapshot()
        stored = after["stored"] - before["stored"]
        p99 = counters.latency_percentile(0.99)
        return {
            "sent": sent,
            "rate": sent / elapsed if elapsed else 0,
            "received": after["received"] - before["received"],
            "matched": after["matched"] - before["matched"],
            "stored": stored,
            "loss": sent - stored,
            "p99_ms": None if p99 is None else p99 * 1000,
            "rejected": after["rejected"] - before["rejected"],
            "dropped": after["dropped"] - before["dropped"],
        }

    def close(self) -> None:
        self._run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.manager.clear()
        self.db.dispose()


# -- snmptrapd ---------------------------------------------------------------------------
class Snmptrapd:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        conf = workdir / "snmptrapd.conf"
        conf.write_text(
            f"createUser -e 0x{ENGINE_ID} {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}\n"
            f"authCommunity log {COMMUNITY}\nauthUser log {V3_USER}\n"
            "format1 TRAP\\n\nformat2 TRAP\\n\n")
        self.log = workdir / "snmptrapd.log"
        self.process = subprocess.Popen(
            [binary, "-f", "-n", "-C", "-c", str(conf), "-Lf", str(self.log),
             "--persistentDir=" + str(workdir / "persist"), f"udp:127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        time.sleep(1.0)
        if self.process.poll() is not None:
            raise RuntimeError("snmptrapd did not start: " + self.log.read_text()[-500:])

    def logged(self) -> int:
        try:
            with self.log.open("rb") as handle:
                return sum(chunk.count(b"TRAP\n") for chunk in iter(lambda: handle.read(1 << 20),
                                                                      b""))
        except OSError:
            return 0

    def measure(self, packets: list[bytes], rate: int, seconds: float) -> dict:
        before = self.logged()
        sent, elapsed = send_paced(packets, rate, seconds, self.port)
        last, stable = -1, 0
        while stable < 5:  # until the log stops growing
            now = self.logged()
            stable = stable + 1 if now == last else 0
            last = now
            time.sleep(0.2)
        logged = last - before
        return {"sent": sent, "rate": sent / elapsed if elapsed else 0, "received": logged,
                "matched": None, "stored": logged, "loss": sent - logged, "p99_ms": None,
                "rejected": None, "dropped": None}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- the table ----------------------------------------------------------------------------
def _cell(value, fmt: str = "{:,}") -> str:
    return "-" if value is None else fmt.format(value)


def print_table(rows: list[tuple[str, str, int, dict]]) -> None:
    header = ("receiver", "traps", "target/s", "sent/s", "sent", "received", "matched",
              "stored", "loss", "loss %", "p99 ms")
    lines = [header]
    for receiver, version, rate, r in rows:
        loss_pct = 100.0 * r["loss"] / r["sent"] if r["sent"] else 0.0
        lines.append((receiver, version, f"{rate:,}", f"{r['rate']:,.0f}", _cell(r["sent"]),
                      _cell(r["received"]), _cell(r["matched"]), _cell(r["stored"]),
                      _cell(r["loss"]), f"{loss_pct:.2f}", _cell(r["p99_ms"], "{:.1f}")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(str(c).rjust(w) for c, w in zip(line, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per rate (default 60)")
    parser.add_argument("--v2c-rates", default="2000,5000,10000,15000,20000")
    parser.add_argument("--v3-rates", default="200,500,1000")
    parser.add_argument("--no-snmptrapd", action="store_true", help="skip the reference")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    snmptrap = shutil.which("snmptrap")
    snmptrapd = shutil.which("snmptrapd") or (
        "/usr/sbin/snmptrapd" if Path("/usr/sbin/snmptrapd").exists() else None)
    if snmptrap is None or (snmptrapd is None and not args.no_snmptrapd):
        print("needs net-snmp: apt-get install -y snmp snmptrapd", file=sys.stderr)
        return 2
    plan = [("v2c", int(r)) for r in args.v2c_rates.split(",") if r] + \
        [("v3", int(r)) for r in args.v3_rates.split(",") if r]
    print(f"machine: {machine()}")
    print(f"{args.seconds:g} s per rate; SQLite; replaying {DISTINCT_V2C} distinct v2c and "
          f"{DISTINCT_V3} distinct v3 (authPriv SHA/AES) traps captured from snmptrap\n")
    rows: list[tuple[str, str, int, dict]] = []
    with tempfile.TemporaryDirectory(prefix="storfleet-bench-traps-") as tmp:
        workdir = Path(tmp)
        packets = capture_packets(snmptrap)
        ours = Storfleet(workdir)
        try:
            for version, rate in plan:
                rows.append(("storfleet", version, rate,
                             ours.measure(packets[version], rate, args.seconds)))
                print(f"  storfleet {version} {rate}/s: {rows[-1][3]}", file=sys.stderr)
        finally:
            ours.close()
        if not args.no_snmptrapd:
            (workdir / "trapd").mkdir()
            reference = Snmptrapd(snmptrapd, workdir / "trapd")  # type: ignore[arg-type]
            try:
                for version, rate in plan:
                    rows.append(("snmptrapd", version, rate,
                                 reference.measure(packets[version], rate, args.seconds)))
                    print(f"  snmptrapd {version} {rate}/s: {rows[-1][3]}", file=sys.stderr)
            finally:
                reference.close()
    print_table(rows)
    v2c = [r for name, v, _, r in rows if name == "storfleet" and v == "v2c"]
    best = max((r["rate"] for r in v2c if r["loss"] == 0), default=0)
    print(f"\nstorfleet v2c: highest rate sent with zero loss {best:,.0f} traps/s "
          "(target >= 10,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
