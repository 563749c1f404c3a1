"""``storfleet alerts list|show|ack|clear`` (over HTTP, like ``storfleet storages``) and
``storfleet traps`` (the trap receiver alone, on the database).

The lead wires them into storfleet/cli.py::

    from storfleet.alerts.cli import alerts_app, traps_command
    app.add_typer(alerts_app, name="alerts")
    app.command("traps")(traps_command)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

alerts_app = typer.Typer(help="Stored alerts (over HTTP).", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SERVER = "http://127.0.0.1:8190"
ServerUrl = Annotated[str, typer.Option("--url", envvar="STORFLEET_URL",
                                        help="storfleet server [http://127.0.0.1:8190]")]
ServerToken = Annotated[str | None, typer.Option(
    "--token", envvar="STORFLEET_TOKEN", show_default=False,
    help="API token [default: <data-dir>/admin-token when readable]")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Data directory [env STORFLEET_DATA_DIR, default ./var]")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the JSON the server answered")]
SEVERITY_STYLE = {"Fatal": "bold red", "Critical": "red", "Major": "yellow", "Minor": "cyan",
                  "Warning": "magenta"}
STATE_STYLE = {"open": "bold", "acknowledged": "yellow", "cleared": "dim"}


def _one_line_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from storfleet.api.client import ClientError

        try:
            return func(*args, **kwargs)
        except ClientError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _client(url: str, token: str | None, data_dir: Path | None):
    from storfleet.api.client import Client
    from storfleet.auth.tokens import ADMIN_TOKEN_FILE
    from storfleet.config import Settings

    if token is None:
        settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
        try:
            token = (settings.data_dir / ADMIN_TOKEN_FILE).read_text().strip() or None
        except OSError:
            token = None
    return Client(url, token)


def alerts_table(alerts: list[dict[str, Any]]) -> Table:
    table = Table("id", "state", "severity", "storage", "alert", "resource", "count",
                  "last seen", "description")
    for a in alerts:
        severity = a.get("severity") or "-"
        state = a.get("state") or "-"
        table.add_row(
            str(a["id"]),
            f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
            f"[{SEVERITY_STYLE.get(severity, 'white')}]{severity}[/]",
            (a.get("storage_id") or "[red]unmatched[/]")[:8],
            a.get("alert_name") or a.get("alert_id") or "-",
            " ".join(x for x in (a.get("resource_type"), a.get("location")) if x) or "-",
            str(a.get("count")),
            (a.get("last_seen") or "-")[:19],
            (a.get("description") or "")[:60],
        )
    return table


@alerts_app.command("list")
@_one_line_errors
def alerts_list(
    storage: Annotated[list[str] | None, typer.Option("--storage", help="Storage id")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="Critical, Major...")] = None,
    state: Annotated[list[str] | None, typer.Option(
        help="open / acknowledged / cleared [default: open and acknowledged]")] = None,
    source: Annotated[list[str] | None, typer.Option(help="trap / poll / rule")] = None,
    unmatched: Annotated[bool, typer.Option("--unmatched",
                                            help="Only traps that matched no storage")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest activity first")] = 50,
    url: ServerUrl = DEFAULT_SERVER,
    token: ServerToken = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Stored alerts, most recently active first."""
    params: dict[str, Any] = {
        "storage_id": ",".join(storage) if storage else None,
        "severity": ",".join(severity) if severity else None,
        "state": ",".join(state) if state else "open,acknowledged",
        "source": ",".join(source) if source else None,
        "unmatched": "true" if unmatched else None,
        "limit": limit,
    }
    with _client(url, token, data_dir) as api:
        response = api.request("GET", "/v1/alerts",
                               params={k: v for k, v in params.items() if v is not None})
    alerts = response.json()["alerts"]
    if json_out:
        print(json.dumps(alerts, indent=2, sort_keys=True))
        return
    console.print(alerts_table(alerts))
    total = response.headers.get("X-Total-Count", str(len(alerts)))
    console.print(f"[dim]{len(alerts)} of {total} alerts[/]")


@alerts_app.command("show")
@_one_line_errors
def alerts_show(alert_id: int, url: ServerUrl = DEFAULT_SERVER, token: ServerToken = None,
                data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """One stored alert, every field."""
    with _client(url, token, data_dir) as api:
        body = api.get(f"/v1/alerts/{alert_id}")
    if json_out:
        print(json.dumps(body, indent=2, sort_keys=True))
        return
    grid = Table.grid(padding=(0, 2))
    for key, value in body.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, sort_keys=True)
        grid.add_row(f"[bold]{key}[/]", "-" if value is None else str(value))
    console.print(grid)


def _act(action: str, alert_id: int, url: str, token: str | None, data_dir: Path | None,
         json_out: bool) -> None:
    with _client(url, token, data_dir) as api:
        body = api.post(f"/v1/alerts/{alert_id}/{action}")
    if json_out:
        print(json.dumps(body, indent=2, sort_keys=True))
        return
    console.print(f"alert {alert_id}: {body['state']}")


@alerts_app.command("ack")
@_one_line_errors
def alerts_ack(alert_id: int, url: ServerUrl = DEFAULT_SERVER, token: ServerToken = None,
               data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Acknowledge an open alert."""
    _act("acknowledge", alert_id, url, token, data_dir, json_out)


@alerts_app.command("clear")
@_one_line_errors
def alerts_clear(alert_id: int, url: ServerUrl = DEFAULT_SERVER, token: ServerToken = None,
                 data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Clear a stored alert (the array is not called)."""
    _act("clear", alert_id, url, token, data_dir, json_out)


def traps_command(
    trap_host: Annotated[str | None, typer.Option(
        "--trap-host", help="Address to receive traps on [127.0.0.1]; arrays: 0.0.0.0")] = None,
    trap_port: Annotated[int | None, typer.Option(
        "--trap-port", help="UDP port [1162]; 162 needs root or CAP_NET_BIND_SERVICE")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "INFO",
    no_exporters: Annotated[bool, typer.Option(
        "--no-exporters", help="Only receive and store; run no alert exporter here")] = False,
) -> None:
    """Run the SNMP trap receiver alone (v1, v2c, v3), storing into the database."""
    import asyncio
    import contextlib

    from storfleet.alerts.service import run_forever
    from storfleet.alerts.settings import for_settings
    from storfleet.config import Settings
    from storfleet.fleet.manager import DriverManager
    from storfleet.logs import setup_logging
    from storfleet.store.database import open_database

    setup_logging(log_level)
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    alert_settings = for_settings(settings, trap_host=trap_host, trap_port=trap_port)
    db = open_database(settings, auto_migrate=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_forever(db, alert_settings, manager=DriverManager(db),
                                    exporters=not no_exporters))
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
