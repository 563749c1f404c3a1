"""The ``storfleet`` command (Typer + Rich).

Server commands (``storages``, ``resources``, ``changes``, ``audit``) talk to a running
server over HTTP: ``--url`` / ``STORFLEET_URL`` and ``--token`` / ``STORFLEET_TOKEN`` (by
default the data directory's ``admin-token``, when this user can read it). Local commands
(``serve``, ``tokens``, ``db``, ``secrets``, ``drivers``) work on the data directory and
the database directly.

Errors an operator can act on are printed as one clear line (exit code 1), not a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from storfleet.config import Settings

if TYPE_CHECKING:
    from storfleet.api.client import Client

app = typer.Typer(help="storfleet: manage a fleet of storage arrays.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
secrets_app = typer.Typer(help="Keys that encrypt the stored secrets.", no_args_is_help=True)
drivers_app = typer.Typer(help="Installed storage drivers.", no_args_is_help=True)
storages_app = typer.Typer(help="Registered storages (over HTTP).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (local: on the database).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(secrets_app, name="secrets")
app.add_typer(drivers_app, name="drivers")
app.add_typer(storages_app, name="storages")
app.add_typer(tokens_app, name="tokens")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [env STORFLEET_DATA_DIR, default ./var]"),
]


class CLIError(Exception):
    """An error shown to the operator as one line."""


def _operator_errors() -> tuple[type[BaseException], ...]:
    from storfleet.api.client import ClientError
    from storfleet.auth.tokens import TokenError
    from storfleet.secrets import SecretKeyError
    from storfleet.store.database import SchemaOutOfDate

    return (CLIError, ClientError, TokenError, SecretKeyError, SchemaOutOfDate)


def clear_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _operator_errors() as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # database unreachable and the like: one line too
            import sqlalchemy.exc

            if isinstance(exc, sqlalchemy.exc.OperationalError):
                err_console.print(
                    f"[bold red]error:[/] database: {exc.orig}", highlight=False, soft_wrap=True
                )
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


@app.command()
@clear_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [8190]")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "INFO",
    trap_host: Annotated[
        str | None,
        typer.Option(help="Address to receive SNMP traps on [127.0.0.1]; arrays: 0.0.0.0"),
    ] = None,
    trap_port: Annotated[
        int | None,
        typer.Option(help="UDP port for traps [1162]; 162 needs root or CAP_NET_BIND_SERVICE"),
    ] = None,
    no_traps: Annotated[
        bool, typer.Option("--no-traps", help="Do not receive SNMP traps in this process")
    ] = False,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="No authentication at all: anyone reaching the port is an admin. "
            "Local development only.",
        ),
    ] = False,
) -> None:
    """Run the embedded all-in-one server (API, scheduler, workers) on SQLite by default.

    At the first start it creates an admin token in <data-dir>/admin-token (mode 0600)."""
    import uvicorn

    from storfleet.api.app import INSECURE_WARNING, create_app
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    settings = load_settings(data_dir, host=host, port=port)
    if insecure_no_auth:
        err_console.rule("[bold red]WARNING[/]")
        err_console.print(f"[bold red]{INSECURE_WARNING}[/]", highlight=False)
        err_console.rule(style="red")
    db = open_database(settings, auto_migrate=True)
    logging.getLogger("storfleet").info(
        "storfleet serving on http://%s:%s (database %s)",
        settings.host,
        settings.port,
        db.engine.url.render_as_string(hide_password=True),
    )
    from storfleet.alerts.settings import for_settings
    from storfleet.jobs.process import JobProcess

    jobs = JobProcess(settings, log_level)  # scheduler + job pool, in a child process
    jobs.start()
    try:
        uvicorn.run(
            create_app(
                db,
                run_jobs=False,
                auth=not insecure_no_auth,
                receive_traps=not no_traps,
                alert_settings=for_settings(settings, trap_host=trap_host, trap_port=trap_port),
            ),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
        )
    finally:
        jobs.stop()


@db_app.command("upgrade")
@clear_errors
def db_upgrade(data_dir: DataDir = None) -> None:
    """Bring the database (SQLite or PostgreSQL) to the current schema."""
    from storfleet.store import migrate

    settings = load_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    console.print(f"database at schema {migrate.head_revision()}")


@db_app.command("check")
@clear_errors
def db_check(data_dir: DataDir = None) -> None:
    """Fail if the model and the migrations drifted (alembic check)."""
    from storfleet.store import migrate

    settings = load_settings(data_dir)
    try:
        migrate.check(settings.resolved_database_url)
    except Exception as exc:
        raise CLIError(str(exc)) from None
    console.print("model and migrations agree")


@secrets_app.command("generate")
def secrets_generate() -> None:
    """Print a new key (for STORFLEET_SECRET_KEY or a key file)."""
    from storfleet.secrets import generate_key

    print(generate_key())


def _open_for_secrets(data_dir: Path | None):
    from storfleet.store.database import open_database

    return open_database(load_settings(data_dir), auto_migrate=False, create_key=False)


@secrets_app.command("rotate")
@clear_errors
def secrets_rotate(data_dir: DataDir = None) -> None:
    """Add a new primary key and re-encrypt every stored secret under it."""
    from storfleet import secrets

    db = _open_for_secrets(data_dir)
    _, count = secrets.rotate(db.engine, db.keyring)
    console.print(
        f"new primary key added to {db.keyring.path}; {count} secrets re-encrypted. Restart or "
        "update every node's key file, then run `storfleet secrets retire`."
    )


@secrets_app.command("retire")
@clear_errors
def secrets_retire(data_dir: DataDir = None) -> None:
    """Drop every key but the primary (after checking the primary decrypts everything)."""
    from storfleet import secrets

    db = _open_for_secrets(data_dir)
    _, count = secrets.retire(db.engine, db.keyring)
    console.print(f"old keys retired from {db.keyring.path}; {count} secrets checked")


@secrets_app.command("reencrypt")
@clear_errors
def secrets_reencrypt(data_dir: DataDir = None) -> None:
    """Re-encrypt every stored secret under the primary key."""
    from storfleet import secrets

    db = _open_for_secrets(data_dir)
    count = secrets.reencrypt(db.engine, db.keyring)
    console.print(f"{count} secrets re-encrypted under the primary key")


@drivers_app.command("list")
@clear_errors
def drivers_list() -> None:
    """Every installed driver: vendor, model, VERSION and supported features."""
    from storfleet.drivers import registry

    table = Table("vendor", "model", "version", "concurrency", "features", "module")
    for info in registry.list_drivers():
        if info.error:
            table.add_row(info.vendor, info.model, "-", "-", f"[red]broken: {info.error}[/]", "")
            continue
        table.add_row(
            info.vendor,
            info.model,
            info.version,
            str(info.max_concurrency),
            ", ".join(sorted(info.features)),
            info.module,
        )
    console.print(table)


@drivers_app.command("check")
def drivers_check(
    vendor: str,
    model: str,
    access_info: Annotated[
        Path | None, typer.Option("--access-info", help="JSON file with the access info")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Timeout per driver call, seconds")] = 60.0,
) -> None:
    """Run the conformance kit against an installed driver and a live backend."""
    from storfleet.testing.runner import check_command

    code = check_command(vendor, model, access_info, json_out=json_out, timeout_s=timeout)
    raise typer.Exit(code)


# -- talking to the server ------------------------------------------------------------------
ServerUrl = Annotated[
    str,
    typer.Option("--url", envvar="STORFLEET_URL", help="storfleet server [http://127.0.0.1:8190]"),
]
ServerToken = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="STORFLEET_TOKEN",
        help="API token [default: <data-dir>/admin-token when readable]",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the JSON the server answered")]
DEFAULT_SERVER = "http://127.0.0.1:8190"


def _default_token(data_dir: Path | None) -> str | None:
    from storfleet.auth.tokens import ADMIN_TOKEN_FILE

    path = load_settings(data_dir).data_dir / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def client(url: str, token: str | None, data_dir: Path | None) -> Client:
    from storfleet.api.client import Client

    return Client(url, token or _default_token(data_dir))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def human_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def _parse_pairs(pairs: Iterable[str], what: str) -> dict[str, Any]:
    """``key=value`` arguments; a value that parses as JSON is taken as JSON."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{what} must look like key=value, got {pair!r}")
        try:
            values[key.strip()] = json.loads(text)
        except ValueError:
            values[key.strip()] = text
    return values


_SYNC_STYLE = {"synced": "green", "failed": "red", "syncing": "yellow", "never": "dim"}


def _sync_cell(body: dict[str, Any]) -> str:
    state = body.get("sync_state") or body.get("sync_status", "?").lower()
    text = f"[{_SYNC_STYLE.get(state, 'white')}]{state}[/]"
    return text + (" [dim](paused)[/]" if body.get("paused") else "")


# -- storages -------------------------------------------------------------------------------
def storages_table(storages: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "vendor / model", "serial", "status", "sync", "used / total")
    for s in storages:
        table.add_row(
            s["id"],
            s.get("name") or "-",
            f"{s.get('vendor')} / {s.get('model')}",
            s.get("serial_number") or "-",
            s.get("status") or "-",
            _sync_cell(s),
            f"{human_bytes(s.get('used_capacity'))} / {human_bytes(s.get('total_capacity'))}",
        )
    return table


@storages_app.command("list")
@clear_errors
def storages_list(
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Every registered storage."""
    with client(url, token, data_dir) as api:
        storages = list(api.pages("/v1/storages", "storages"))
    if json_out:
        _print_json(storages)
        return
    console.print(storages_table(storages))


@storages_app.command("show")
@clear_errors
def storages_show(
    storage_id: str,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """A storage, how storfleet reaches it (no secrets) and its sync state per kind."""
    with client(url, token, data_dir) as api:
        body = api.get(f"/v1/storages/{storage_id}")
        access = api.get(f"/v1/storages/{storage_id}/access-info")
        state = api.get(f"/v1/storages/{storage_id}/sync-state")
    if json_out:
        _print_json({"storage": body, "access_info": access, "sync_state": state})
        return
    details = Table.grid(padding=(0, 2))
    for key, value in body.items():
        if key.endswith("capacity"):
            value = f"{human_bytes(value)} ({value})"
        details.add_row(f"[bold]{key}[/]", str(value))
    for block in ("rest", "ssh", "cli", "smis"):
        if access.get(block):
            shown = ", ".join(f"{k}={v}" for k, v in access[block].items())
            details.add_row(f"[bold]access {block}[/]", shown)
    details.add_row("[bold]next sync[/]", str(state.get("next_sync_at")))
    console.print(details)
    console.print(sync_state_table(state))


def sync_state_table(state: dict[str, Any]) -> Table:
    table = Table("kind", "status", "total", "added", "changed", "removed", "warnings", "error")
    for kind in state["kinds"]:
        style = {"synced": "green", "failed": "red"}.get(kind["status"], "dim")
        table.add_row(
            kind["kind"],
            f"[{style}]{kind['status']}[/]",
            *(str(kind[k]) for k in ("total", "added", "changed", "removed", "warnings")),
            kind.get("last_error") or "",
        )
    return table


def _access_block(host, port, username, password) -> dict[str, Any]:  # noqa: ANN001
    block = {"host": host, "port": port, "username": username, "password": password}
    return {k: v for k, v in block.items() if v is not None}


Protocol = Annotated[str, typer.Option("--protocol", help="Access block: rest, ssh, cli or smis")]
Extra = Annotated[
    list[str] | None,
    typer.Option("--extra", help="extra_attributes entry key=value (value may be JSON); repeat"),
]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the sync to finish")]
WaitTimeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the sync")]


@storages_app.command("add")
@clear_errors
def storages_add(
    vendor: Annotated[str, typer.Option(help="Driver vendor, e.g. fake_storage")],
    model: Annotated[str, typer.Option(help="Driver model, e.g. fake_driver")],
    host: Annotated[str, typer.Option(help="Array address")],
    port: Annotated[int | None, typer.Option(help="Array port")] = None,
    username: Annotated[str | None, typer.Option(help="Array user")] = None,
    password: Annotated[
        str | None, typer.Option(help="Array password [prompted when a username is given]")
    ] = None,
    protocol: Protocol = "rest",
    name: Annotated[str | None, typer.Option(help="Name (default: the array's)")] = None,
    extra: Extra = None,
    wait: Wait = True,
    timeout: WaitTimeout = 600.0,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Register a storage: the server verifies the array, then syncs it."""
    if protocol not in ("rest", "ssh", "cli", "smis"):
        raise CLIError(f"--protocol must be rest, ssh, cli or smis, not {protocol!r}")
    if username is not None and password is None:
        password = typer.prompt("array password", hide_input=True)
    body: dict[str, Any] = {
        "vendor": vendor,
        "model": model,
        protocol: _access_block(host, port, username, password),
        "extra_attributes": _parse_pairs(extra or [], "--extra"),
    }
    if name:
        body["name"] = name
    with client(url, token, data_dir) as api:
        storage = api.post("/v1/storages", body)
        err_console.print(f"registered storage [bold]{storage['id']}[/] ({storage['name']})")
        if wait:
            storage = wait_for_sync(api, storage["id"], timeout)
    if json_out:
        _print_json(storage)
    else:
        console.print(storages_table([storage]))


def wait_for_sync(api: Client, storage_id: str, timeout: float) -> dict[str, Any]:
    """Show the sync's progress kind by kind until it is done; returns the storage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    from storfleet.resources import INVENTORY_KINDS

    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(f"syncing {storage_id}", total=len(INVENTORY_KINDS))
        while True:
            state = api.get(f"/v1/storages/{storage_id}/sync-state")
            started = state.get("last_started_at") or ""
            done = [k for k in state["kinds"] if (k.get("last_attempt_at") or "") >= started]
            progress.update(task, completed=len(done), description=_progress_text(state, done))
            if state["sync_status"] == "SYNCED" and not state["requested"] and not state["running"]:
                break
            if time.monotonic() > deadline:
                raise CLIError(f"storage {storage_id} is still syncing after {timeout:g} s")
            time.sleep(0.5)
    storage = api.get(f"/v1/storages/{storage_id}")
    if storage["sync_state"] == "failed":
        err_console.print(f"[bold red]sync failed:[/] {storage.get('sync_error')}", highlight=False)
    else:
        err_console.print(f"[green]synced[/] storage {storage_id}")
    return storage


def _progress_text(state: dict[str, Any], done: list[dict[str, Any]]) -> str:
    if not state["running"] and state["requested"]:
        return "waiting for a worker"
    latest = max(done, key=lambda k: k.get("last_attempt_at") or "", default=None)
    return f"syncing: {latest['kind']} ({latest['total']})" if latest else "syncing"


@storages_app.command("sync")
@clear_errors
def storages_sync(
    storage_id: Annotated[str | None, typer.Argument(help="Storage id; omit with --all")] = None,
    all_storages: Annotated[bool, typer.Option("--all", help="Sync every storage")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the sync to finish")] = False,
    timeout: WaitTimeout = 600.0,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Sync a storage (or every storage) now."""
    if (storage_id is None) == (not all_storages):
        raise CLIError("give a storage id or --all (not both)")
    with client(url, token, data_dir) as api:
        if all_storages:
            api.post("/v1/storages/sync")
            err_console.print("sync requested for every storage")
            return
        api.post(f"/v1/storages/{storage_id}/sync")
        err_console.print(f"sync of {storage_id} requested")
        if wait:
            wait_for_sync(api, storage_id, timeout)


def _set_paused(action: str, storage_id: str, url: str, token: str | None, data_dir) -> None:  # noqa: ANN001
    with client(url, token, data_dir) as api:
        storage = api.post(f"/v1/storages/{storage_id}/{action}")
    console.print(storages_table([storage]))


@storages_app.command("pause")
@clear_errors
def storages_pause(
    storage_id: str,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Stop scheduled syncs of a storage (a sync asked for still runs)."""
    _set_paused("pause", storage_id, url, token, data_dir)


@storages_app.command("resume")
@clear_errors
def storages_resume(
    storage_id: str,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Resume scheduled syncs of a storage."""
    _set_paused("resume", storage_id, url, token, data_dir)


@storages_app.command("remove")
@clear_errors
def storages_remove(
    storage_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Remove a storage and everything storfleet knows of it (the array is not touched,
    beyond removing storfleet's trap configuration)."""
    if not yes:
        typer.confirm(f"remove storage {storage_id} and all its records?", abort=True)
    with client(url, token, data_dir) as api:
        api.delete(f"/v1/storages/{storage_id}")
    err_console.print(f"storage {storage_id} is being removed")


@storages_app.command("update-access")
@clear_errors
def storages_update_access(
    storage_id: str,
    host: Annotated[str | None, typer.Option(help="New array address")] = None,
    port: Annotated[int | None, typer.Option(help="New array port")] = None,
    username: Annotated[str | None, typer.Option(help="New array user")] = None,
    password: Annotated[str | None, typer.Option(help="New password ('-' to prompt)")] = None,
    protocol: Protocol = "rest",
    extra: Extra = None,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Change how storfleet reaches a storage; the server verifies it is the same array."""
    if password == "-":
        password = typer.prompt("new array password", hide_input=True)
    body: dict[str, Any] = {}
    block = _access_block(host, port, username, password)
    if block:
        body[protocol] = block
    if extra:
        body["extra_attributes"] = _parse_pairs(extra, "--extra")
    if not body:
        raise CLIError("nothing to change: give --host, --port, --username, --password or --extra")
    with client(url, token, data_dir) as api:
        access = api.put(f"/v1/storages/{storage_id}/access-info", body)
    shown = {k: v for k, v in access.items() if v not in ({}, None)}
    console.print_json(data=shown)


# -- resources, changes, audit ----------------------------------------------------------------
DEFAULT_COLUMNS = 8


def _columns_for(kind: Any, wanted: str | None) -> list[str]:
    if wanted:
        return [c.strip() for c in wanted.split(",") if c.strip()]
    first = [*kind.key, *(n for n in ("name", "status") if n in kind.field_map)]
    rest = [n for n in kind.field_names if n not in first]
    return list(dict.fromkeys([*first, *rest]))[:DEFAULT_COLUMNS] + ["storage_id"]


def _filter_text(value: Any) -> str:
    """A filter value as the API reads it (``true``, not Python's ``True``)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "storage_id":
        return str(value)[:8]
    if name.endswith("capacity") and isinstance(value, int):
        return human_bytes(value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


@app.command("resources")
@clear_errors
def resources(
    kind_name: Annotated[str, typer.Argument(metavar="KIND", help="volumes, storage_pool...")],
    filters: Annotated[
        list[str] | None, typer.Argument(metavar="[FIELD=VALUE]...", help="Exact filters")
    ] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Only this storage")] = None,
    sort: Annotated[str | None, typer.Option(help="key:asc|desc,...")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all)")] = 100,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns")] = None,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Inventory records of one kind, in any spelling (Delfin's or storfleet's)."""
    from itertools import islice

    from storfleet.resources import kind_for

    try:
        kind = kind_for(kind_name)
    except KeyError as exc:
        raise CLIError(str(exc.args[0])) from None
    params = {k: _filter_text(v) for k, v in _parse_pairs(filters or [], "a filter").items()}
    clash = sorted(set(params) & {"limit", "offset", "marker", "sort", "sort_key", "sort_dir"})
    if clash:
        raise CLIError(f"{', '.join(clash)} are options here (--limit, --sort), not filters")
    params.update(storage_id=storage, sort=sort)
    page_size = min(limit, 1000) if limit else 1000
    with client(url, token, data_dir) as api:
        pages = api.pages(f"/v1/resources/{kind.name}", kind.collection, page_size, **params)
        items = list(islice(pages, limit or None))
    if json_out:
        _print_json(items)
        return
    shown = _columns_for(kind, columns)
    table = Table(*shown, title=f"{kind.collection} ({len(items)})")
    for item in items:
        table.add_row(*(_cell(name, item.get(name)) for name in shown))
    console.print(table)


@app.command("changes")
@clear_errors
def changes(
    storage: Annotated[str | None, typer.Option("--storage", help="Only this storage")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (any spelling)")] = None,
    cursor: Annotated[str | None, typer.Option(help="Start after this cursor")] = None,
    limit: Annotated[int, typer.Option(help="Changes per read (1-1000)")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading")] = False,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """The inventory change feed, oldest first; prints the cursor to continue from."""
    with client(url, token, data_dir) as api:
        while True:
            page = api.get("/v1/changes", cursor=cursor, limit=limit, storage_id=storage, kind=kind)
            _show_changes(page, json_out)
            cursor = page["next_cursor"]
            if not follow:
                break
            if not page["changes"]:
                time.sleep(2.0)
    if not json_out:
        err_console.print(f"next cursor: {cursor}")


def _show_changes(page: dict[str, Any], json_out: bool) -> None:
    if json_out:
        for item in page["changes"]:
            print(json.dumps(item, sort_keys=True))
        return
    if not page["changes"]:
        return
    table = Table("cursor", "at", "storage", "kind", "native id", "op", "fields")
    for c in page["changes"]:
        fields = c.get("fields") or {}
        summary = ", ".join(
            f"{k}: {v[0]} -> {v[1]}" if isinstance(v, list) else f"{k}: {v}"
            for k, v in fields.items()
        )
        table.add_row(
            c["cursor"],
            c["at"],
            c["storage_id"][:8],
            c["kind"],
            c["native_id"] or "-",
            c["op"],
            summary,
        )
    console.print(table)


@app.command("audit")
@clear_errors
def audit_log(
    limit: Annotated[int, typer.Option(help="Newest entries to show")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this token id")] = None,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Who changed what: the server's audit log, newest first (admin token)."""
    with client(url, token, data_dir) as api:
        entries = api.get("/v1/audit-log", limit=limit, actor=actor)["entries"]
    if json_out:
        _print_json(entries)
        return
    table = Table("at", "actor", "role", "call", "status", "outcome")
    for e in entries:
        style = "green" if e["status"] < 400 else "red"
        table.add_row(
            e["at"],
            e["actor_name"] or e["actor"],
            e["role"] or "-",
            f"{e['method']} {e['path']}",
            f"[{style}]{e['status']}[/]",
            e["outcome"] or "",
        )
    console.print(table)


# -- tokens (local) ---------------------------------------------------------------------------
def _token_engine(data_dir: Path | None):
    """The database's engine, schema current (tokens need no secret key)."""
    from storfleet.store.database import ensure_schema
    from storfleet.store.engine import create_engine

    settings = load_settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    ensure_schema(settings, engine, auto_migrate=True)
    return engine


@tokens_app.command("create")
@clear_errors
def tokens_create(
    role: Annotated[str, typer.Option(help="admin or reader")] = "reader",
    name: Annotated[str | None, typer.Option(help="What the token is for")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API token and print it (it is shown this once, and stored only hashed)."""
    import getpass

    from storfleet.auth.tokens import create_token

    engine = _token_engine(data_dir)
    try:
        token_id, token = create_token(
            engine, role, name or f"{role} token", created_by=f"cli:{getpass.getuser()}"
        )
    finally:
        engine.dispose()
    err_console.print(
        f"created {role} token [bold]{token_id}[/]; it is shown once, keep it now:", highlight=False
    )
    print(token)


@tokens_app.command("revoke")
@clear_errors
def tokens_revoke(token_id: str, data_dir: DataDir = None) -> None:
    """Revoke a token by its id (see `storfleet tokens list`); it stops working at once."""
    from storfleet.auth.tokens import revoke_token

    engine = _token_engine(data_dir)
    try:
        revoke_token(engine, token_id)
    finally:
        engine.dispose()
    console.print(f"token {token_id} revoked")


@tokens_app.command("list")
@clear_errors
def tokens_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Every token: id, name, role, when created and last used, revoked or not."""
    from storfleet.api.render import timestamp
    from storfleet.auth.tokens import list_tokens

    engine = _token_engine(data_dir)
    try:
        tokens = list_tokens(engine)
    finally:
        engine.dispose()
    if json_out:
        _print_json(
            [{k: timestamp(v) if k.endswith("_at") else v for k, v in t.items()} for t in tokens]
        )
        return
    table = Table("id", "name", "role", "created", "last used", "state")
    for t in tokens:
        state = "[red]revoked[/]" if t["revoked_at"] else "[green]active[/]"
        table.add_row(
            t["id"],
            t["name"],
            t["role"],
            _when(t["created_at"]),
            _when(t["last_used_at"]),
            state,
        )
    console.print(table)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# -- performance metrics (over HTTP) --------------------------------------------------------
metrics_app = typer.Typer(
    help="Performance metrics of a storage (over HTTP).", no_args_is_help=True
)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("status")
@clear_errors
def metrics_status(
    storage_id: str,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Collection of a storage: interval, last success, lag, failures, lost windows."""
    with client(url, token, data_dir) as api:
        status = api.get(f"/v1/storages/{storage_id}/metrics/collection")
    if json_out:
        _print_json(status)
        return
    table = Table("field", "value", title=f"metric collection of {storage_id}")
    for key, value in status.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    console.print(table)


@metrics_app.command("set")
@clear_errors
def metrics_set(
    storage_id: str,
    interval: Annotated[
        int | None, typer.Option("--interval", help="Collection interval, seconds")
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option("--detail", help="Resource type whose every series /metrics shows"),
    ] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="Comma-separated metric names to collect")
    ] = None,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
) -> None:
    """Set a storage's collection interval, per-resource detail and metric selection."""
    body: dict[str, Any] = {}
    if interval is not None:
        body["interval_s"] = interval
    if detail:
        body["detail"] = detail
    if metrics is not None:
        body["metrics"] = [m.strip() for m in metrics.split(",") if m.strip()]
    if not body:
        raise CLIError("nothing to set: give --interval, --detail or --metrics")
    with client(url, token, data_dir) as api:
        status = api.put(f"/v1/storages/{storage_id}/metrics/collection", body)
    console.print(f"collection of {storage_id} updated: interval {status.get('interval_s')} s")


@metrics_app.command("history")
@clear_errors
def metrics_history(
    storage_id: str,
    resource_type: Annotated[str | None, typer.Option("--resource-type")] = None,
    resource_id: Annotated[str | None, typer.Option("--resource-id")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="e.g. readIops")] = None,
    start: Annotated[str | None, typer.Option(help="epoch ms or ISO-8601")] = None,
    end: Annotated[str | None, typer.Option(help="epoch ms or ISO-8601")] = None,
    step: Annotated[int | None, typer.Option(help="0 (raw), 300 or 3600")] = None,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Stored samples of a storage's series (raw, or 5-minute / hourly rollups)."""
    params = {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "metric": metric,
        "start": start,
        "end": end,
        "step": step,
    }
    with client(url, token, data_dir) as api:
        body = api.get(
            f"/v1/storages/{storage_id}/metrics",
            **{k: v for k, v in params.items() if v is not None},
        )
    if json_out:
        _print_json(body)
        return
    table = Table("resource", "metric", "points", "last value")
    for series in body.get("series", []):
        points = series.get("points") or []
        last = points[-1][1] if points else None
        resource = f"{series.get('resource_type')}/{series.get('resource_id')}"
        table.add_row(resource, str(series.get("metric")), str(len(points)), str(last))
    console.print(table)
    if body.get("truncated"):
        console.print("[yellow]more series match: narrow with --resource-id / --metric[/]")


def _alert_commands() -> None:
    """`storfleet alerts ...` and `storfleet traps` live with the alerts package."""
    from storfleet.alerts.cli import alerts_app, traps_command

    app.add_typer(alerts_app, name="alerts")
    app.command("traps")(traps_command)


_alert_commands()


def _role_commands() -> None:
    """`storfleet api | worker | scheduler`: the scale-out roles (storfleet.roles)."""
    from storfleet import roles

    roles.register(app)


_role_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
