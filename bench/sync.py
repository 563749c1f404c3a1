"""Sync benchmark: `python bench/sync.py` (or `make bench`).

On SQLite and PostgreSQL, with the fake array:
  (a) first full sync into an empty store, (b) re-sync with 1% churn, (c) re-sync with no
  change, of 100,000 volumes + 1,000 pools + 10,000 disks + 2,000 ports + 5,000 hosts +
  5,000 initiators + 5,000 masking views; (d) 200 arrays of 2,000 volumes synced through
  the embedded job pool; (e) one sync of a 1,000,000-volume array.
Each step runs in its own process: the peak RSS shown is that process's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Databases, machine, run_child  # noqa: E402

COUNTS = {
    "volumes": 100_000,
    "storage_pools": 1_000,
    "disks": 10_000,
    "ports": 2_000,
    "storage_hosts": 5_000,
    "storage_host_initiators": 5_000,
    "masking_views": 5_000,
}
TARGETS = {"first": 3.0, "churn": 1.5, "nochange": 1.0, "fleet": 20.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--skip", default="", help="comma-separated: fleet,million")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="storfleet-bench-") as workdir:
        dbs = Databases(Path(workdir))
        try:
            for kind in args.databases.split(","):
                rows.extend(_suite(dbs, kind, workdir, skip))
        finally:
            dbs.drop_all()
    _print(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


def _step(name: str, url: str, workdir: str, **opts) -> dict:
    argv = [name, "--url", url, "--workdir", workdir]
    for key, value in opts.items():
        argv += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    started = time.perf_counter()
    result = run_child("bench.sync_step", *argv)
    result["wall_s"] = time.perf_counter() - started
    return result


def _suite(dbs: Databases, kind: str, workdir: str, skip: set[str]) -> list[dict]:
    rows = []
    url = dbs.new(kind)
    for step, label in [
        ("first", "(a) first sync, 100k volumes + 33k others"),
        ("churn", "(b) re-sync, 1% churn"),
        ("nochange", "(c) re-sync, no change"),
    ]:
        result = _step(step, url, workdir, counts=COUNTS, churn="0.01")
        rows.append({"db": kind, "step": step, "label": label, **result})
        print(f"{kind:10} {label:45} {result['seconds']:7.2f} s", file=sys.stderr)
    if "fleet" not in skip:
        url = dbs.new(kind)
        result = _step(
            "first", url, workdir, counts={"volumes": 10}, churn="0"
        )  # creates the schema
        result = _step("fleet", url, workdir, counts={"volumes": 2000}, arrays="200")
        rows.append({"db": kind, "step": "fleet", "label": "(d) 200 arrays x 2,000 volumes",
                     **result})
        print(f"{kind:10} (d) fleet {result['seconds']:7.2f} s", file=sys.stderr)
    if "million" not in skip:
        url = dbs.new(kind)
        result = _step("first", url, workdir, counts={"volumes": 1_000_000}, churn="0")
        rows.append({"db": kind, "step": "million", "label": "(e) 1,000,000 volumes", **result})
        print(f"{kind:10} (e) million {result['seconds']:7.2f} s", file=sys.stderr)
    return rows


def _print(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"storfleet sync benchmark — {machine()}")
    for column in ("database", "step", "time (s)", "target (s)", "rows", "changed", "peak RSS"):
        table.add_column(column)
    for row in rows:
        target = TARGETS.get(row["step"])
        table.add_row(
            row["db"],
            row["label"],
            f"{row['seconds']:.2f}",
            f"{target:g}" if target else "-",
            str(row.get("rows", row.get("arrays", "-"))),
            str(row.get("added", 0) + row.get("changed", 0) + row.get("removed", 0)),
            f"{row['peak_rss_mb']:.0f} MB",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
