"""``storfleet alerts list|show|ack|clear`` against a real server, and ``storfleet traps``
as its own process receiving a real trap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from storfleet.alerts.cli import alerts_app
from storfleet.alerts.lifecycle import IncomingAlert
from storfleet.api import stored_alerts as stored_alerts_api
from storfleet.api.app import create_app
from storfleet.auth.tokens import create_token
from storfleet.config import Settings
from storfleet.fleet.manager import DriverManager
from storfleet.secrets import generate_key
from storfleet.store.database import open_database
from tests.alerts.conftest import fake_storage, send_trap, set_source, stored_alerts, wait_for
from tests.alerts.test_lifecycle import fault, ingest
from tests.metrics.servers import free_port, serve


def test_alerts_commands(sqlite_db, monkeypatch):
    from storfleet.alerts import cli

    monkeypatch.setattr(cli.console, "width", 200)
    db = sqlite_db
    manager = DriverManager(db)
    sid = fake_storage(manager, 100)["id"]
    (pk, _) = ingest(db, IncomingAlert(sid, fault("d1", "s1"), "trap"),
                     IncomingAlert(sid, fault("d2", "s2", severity="Minor"), "rule")).raised
    app = create_app(db, run_jobs=False)
    app.include_router(stored_alerts_api.router)
    _, token = create_token(db.engine, "admin", "cli")
    runner = CliRunner()
    with serve(app) as url:
        common = ["--url", url, "--token", token]
        listed = runner.invoke(alerts_app, ["list", *common])
        assert listed.exit_code == 0, listed.output
        assert "Disk failure" in listed.output and "2 of 2 alerts" in listed.output
        minor = runner.invoke(alerts_app, ["list", "--severity", "Minor", "--json", *common])
        assert [a["location"] for a in json.loads(minor.output)] == ["d2"]
        shown = runner.invoke(alerts_app, ["show", str(pk), *common])
        assert shown.exit_code == 0 and "d1" in shown.output
        assert "acknowledged" in runner.invoke(alerts_app, ["ack", str(pk), *common]).output
        assert "cleared" in runner.invoke(alerts_app, ["clear", str(pk), *common]).output
        missing = runner.invoke(alerts_app, ["show", "424242", *common])
        assert missing.exit_code == 1 and "AlertNotFound" in missing.output
        bad_token = runner.invoke(alerts_app, ["list", "--url", url, "--token", "nope"])
        assert bad_token.exit_code == 1 and "401" in bad_token.output
    manager.clear()


def test_traps_command_runs_the_receiver_alone(tmp_path: Path, snmptrap_bin):
    key = generate_key()
    settings = Settings(data_dir=tmp_path / "data", secret_key=key)
    db = open_database(settings)
    manager = DriverManager(db)
    sid = fake_storage(manager, 101)["id"]
    set_source(db, sid, version="SNMPv2c", host="127.0.0.1", community_string="standalone")
    port = free_port()
    script = ("import typer; from storfleet.alerts.cli import traps_command; "
              "typer.run(traps_command)")
    env = {**os.environ, "STORFLEET_SECRET_KEY": key}
    log = tmp_path / "traps.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", script, "--trap-port", str(port), "--data-dir",
             str(tmp_path / "data"), "--no-exporters"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "receiving SNMP traps" in log.read_text() or process.poll() is not None,
                 timeout=30, what="startup")
        assert process.poll() is None, log.read_text()
        send_trap(snmptrap_bin, port, ["-c", "standalone"], location="from-the-cli")
        row = wait_for(lambda: stored_alerts(db, storage_id=sid), what="stored")[0]
        assert row["location"] == "from-the-cli"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
        manager.clear()
        db.dispose()
    assert process.returncode == 0


def test_traps_command_explains_a_port_it_cannot_bind(tmp_path: Path):
    runner = CliRunner()
    app = typer.Typer()
    from storfleet.alerts.cli import traps_command

    app.command()(traps_command)
    os.environ["STORFLEET_SECRET_KEY"] = generate_key()
    try:
        result = runner.invoke(app, ["--trap-host", "192.0.2.1", "--data-dir",
                                     str(tmp_path / "d")])
    finally:
        del os.environ["STORFLEET_SECRET_KEY"]
    assert result.exit_code == 1
    assert "cannot listen for traps on 192.0.2.1:1162" in result.output
