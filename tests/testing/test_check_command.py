"""`storfleet drivers check` from the command line, as a driver author runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _check(args: list[str], entry_points: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(entry_points), str(REPO)])
    env["COLUMNS"] = "200"
    storfleet = Path(sys.executable).with_name("storfleet")
    return subprocess.run(
        [str(storfleet), "drivers", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_fake_driver_passes_every_check(tmp_path: Path, test_driver_entry_points) -> None:
    report = tmp_path / "report.json"
    run = _check(["fake_storage", "fake_driver", "--json", str(report)], test_driver_entry_points)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "conformant" in run.stdout
    data = json.loads(report.read_text())
    statuses = {c["check"]: c["status"] for c in data["results"]}
    assert statuses and set(statuses.values()) == {"passed"}


def test_broken_driver_fails_with_readable_reasons(tmp_path: Path, test_driver_entry_points):
    report = tmp_path / "report.json"
    run = _check(["storfleet_test", "broken", "--json", str(report)], test_driver_entry_points)
    assert run.returncode == 1, run.stdout + run.stderr
    data = json.loads(report.read_text())
    failed = {c["check"]: c["reason"] for c in data["results"] if c["status"] == "failed"}
    assert "references" in failed and "capacity" in failed
    assert any("duplicate" in reason for reason in failed.values())
    assert "Traceback" not in run.stdout
