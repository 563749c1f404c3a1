"""The storfleet CLI against a real server: storages, resources, changes over HTTP; tokens
locally on the data directory; every failure one clear line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from storfleet.cli import app
from tests.api.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("cli")) as running:
        yield running


def run(server: LiveServer, *args: str, ok: bool = True, **env: str):
    """Invoke the CLI in-process, pointed at the server by environment (as an operator
    would with STORFLEET_URL and the data directory's admin-token)."""
    environment = {
        "STORFLEET_URL": server.url,
        "STORFLEET_DATA_DIR": str(server.data_dir),
        "STORFLEET_TOKEN": None,
        "COLUMNS": "200",
        **env,
    }
    result = CliRunner().invoke(app, list(args), env=environment)
    if ok:
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_storage_lifecycle_over_http(server: LiveServer) -> None:
    added = run(
        server,
        "storages", "add",
        "--vendor", "fake_storage", "--model", "fake_driver",
        "--host", "127.0.0.1", "--port", "22", "--username", "u", "--password", "pw-cli-5531",
        "--extra", 'counts={"volumes": 50}',
        "--json",
    )  # fmt: skip
    storage = json.loads(added.stdout)
    sid = storage["id"]
    assert storage["sync_state"] == "synced" and "synced" in added.stderr

    listed = json.loads(run(server, "storages", "list", "--json").stdout)
    assert [s["id"] for s in listed] == [sid]
    table = run(server, "storages", "list").stdout
    assert sid in table and "fake-array-0" in table

    shown = run(server, "storages", "show", sid).stdout
    assert "volume" in shown and "synced" in shown and "pw-cli-5531" not in shown

    synced = run(server, "storages", "sync", sid, "--wait")
    assert "synced" in synced.stderr

    run(server, "storages", "pause", sid)
    assert json.loads(run(server, "storages", "list", "--json").stdout)[0]["paused"] is True
    run(server, "storages", "resume", sid)
    assert json.loads(run(server, "storages", "list", "--json").stdout)[0]["paused"] is False

    updated = run(server, "storages", "update-access", sid, "--password", "pw-cli-rotated")
    assert "pw-cli-rotated" not in updated.stdout and "127.0.0.1" in updated.stdout

    removed = run(server, "storages", "remove", sid, "--yes")
    assert "being removed" in removed.stderr
    deadline = time.monotonic() + 20
    while json.loads(run(server, "resources", "volume", "--json", "--limit", "0").stdout):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert json.loads(run(server, "storages", "list", "--json").stdout) == []


@pytest.fixture(scope="module")
def synced_storage(server: LiveServer) -> str:
    added = run(
        server,
        "storages", "add", "--vendor", "fake_storage", "--model", "fake_driver",
        "--host", "127.0.0.2", "--extra", "seed=7", "--extra", 'counts={"volumes": 40}', "--json",
    )  # fmt: skip
    return json.loads(added.stdout)["id"]


@pytest.mark.parametrize("spelling", ["volumes", "volume", "VOLUMES"])
def test_resources_take_any_spelling_filters_and_a_storage(
    server: LiveServer, synced_storage: str, spelling: str
) -> None:
    items = json.loads(
        run(
            server, "resources", spelling, "--storage", synced_storage, "--json", "--limit", "0"
        ).stdout
    )
    assert len(items) == 40 and {i["storage_id"] for i in items} == {synced_storage}
    status = items[0]["status"]
    filtered = json.loads(run(server, "resources", spelling, f"status={status}", "--json").stdout)
    assert filtered and {i["status"] for i in filtered} == {status}


def test_resources_tables_changes_and_audit(server: LiveServer, synced_storage: str) -> None:
    pools = run(server, "resources", "storage-pools", "--sort", "name:asc").stdout
    assert "storage_pools" in pools and "native_storage_pool_id" in pools
    groups = run(server, "resources", "port_grp_port_rels").stdout  # Delfin's relation key
    assert "native_port_group_id" in groups

    changes = run(server, "changes", "--storage", synced_storage, "--kind", "volumes", "--json")
    lines = [json.loads(line) for line in changes.stdout.splitlines()]
    assert lines and {c["kind"] for c in lines} == {"volume"}
    assert "next cursor" in run(server, "changes", "--limit", "3").stderr

    audit = json.loads(run(server, "audit", "--json").stdout)
    assert any(e["method"] == "POST" and e["path"] == "/v1/storages" for e in audit)


def test_tokens_are_made_listed_and_revoked_locally(server: LiveServer, synced_storage) -> None:
    created = run(server, "tokens", "create", "--role", "reader", "--name", "dashboard")
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("sft_") and "shown once" in created.stderr
    token_id = token.split("_")[1]

    listed = json.loads(run(server, "tokens", "list", "--json").stdout)
    mine = next(t for t in listed if t["id"] == token_id)
    assert mine["role"] == "reader" and mine["name"] == "dashboard" and "secret_hash" not in mine

    assert json.loads(run(server, "storages", "list", "--json", "--token", token).stdout)
    denied = run(server, "storages", "sync", "--all", "--token", token, ok=False)
    _one_line_error(denied, "403", "Forbidden")

    run(server, "tokens", "revoke", token_id)
    refused = run(server, "storages", "list", "--token", token, ok=False)
    _one_line_error(refused, "401", "NotAuthorized")
    _one_line_error(run(server, "tokens", "revoke", token_id, ok=False), token_id)
    _one_line_error(run(server, "tokens", "create", "--role", "root", ok=False), "root")


def test_failures_are_one_clear_line(server: LiveServer, tmp_path: Path) -> None:
    _one_line_error(
        run(server, "storages", "list", ok=False, STORFLEET_URL="http://127.0.0.1:9"),
        "cannot reach storfleet",
    )
    _one_line_error(
        run(server, "storages", "list", ok=False, STORFLEET_DATA_DIR=str(tmp_path)),
        "401",
    )
    _one_line_error(run(server, "storages", "show", "nope", ok=False), "404", "StorageNotFound")
    _one_line_error(run(server, "resources", "spaceships", ok=False), "spaceships")
    _one_line_error(
        run(
            server,
            "storages",
            "add",
            "--vendor",
            "nobody",
            "--model",
            "x",
            "--host",
            "h",
            ok=False,
        ),  # fmt: skip
        "StorageDriverNotFound",
    )


def test_serve_without_auth_warns_loudly(tmp_path: Path) -> None:
    with live_server(tmp_path, "--insecure-no-auth") as server:
        assert httpx.get(f"{server.url}/v1/storages").status_code == 200
        log = server.log.read_text()
    assert "AUTHENTICATION IS OFF" in log and "WARNING" in log
