"""Running the conformance suite against one driver, and the `storfleet drivers check` command.

The runner turns check functions into a :class:`Report`: it times each check, attributes
the driver calls made during it, and turns an exception into a status (a failed driver
call is a failure of the check; a driver that cannot be built makes the checks that need
it an error; a crash of the kit itself is an error too, never a silent pass).
"""

from __future__ import annotations

import copy
import importlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storfleet.drivers.exception import DriverError
from storfleet.testing.checks import (
    CallFailed,
    CheckSpec,
    ConformanceSession,
    DriverUnavailable,
    Outcome,
    all_checks,
)
from storfleet.testing.report import CheckResult, Report, Status

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_TIMEOUT_S = 60.0
CONFORMANCE_KEY = "conformance"


def default_access_info(vendor: str, model: str) -> dict[str, Any]:
    """A skeleton access info: enough for a simulator, a start for a real array."""
    return {
        "storage_id": str(uuid.uuid4()),
        "vendor": vendor,
        "model": model,
        "rest": {"host": "127.0.0.1", "port": 8443, "username": "admin", "password": "x"},
        "extra_attributes": {},
    }


def load_access_info(path: str | Path) -> dict[str, Any]:
    """Read an access-info file: JSON, or YAML when PyYAML is installed.

    The optional ``conformance`` key holds what only the kit needs: sample ``traps`` and
    ``bad_access_info`` (one mapping or a list, each laid over the good access info).
    """
    source = Path(path)
    text = source.read_text(encoding="utf-8")
    if source.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(text, source)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            try:
                data = _load_yaml(text, source)
            except ValueError:
                raise ValueError(f"{source}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: access info must be a mapping, got {type(data).__name__}")
    return data


def _load_yaml(text: str, source: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise ValueError(f"{source}: YAML needs PyYAML (pip install pyyaml); "
                         "or write the access info as JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}") from None


def split_access_info(
    raw: Mapping[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(access info for the driver, sample traps, bad access infos) of a loaded file."""
    access_info = copy.deepcopy(dict(raw))
    options = access_info.pop(CONFORMANCE_KEY, None) or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"{CONFORMANCE_KEY!r} must be a mapping with 'traps' and/or "
                         "'bad_access_info'")
    traps = _mappings(options.get("traps"), "conformance.traps")
    bad = _mappings(options.get("bad_access_info"), "conformance.bad_access_info")
    return access_info, traps, bad


def _mappings(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ValueError(f"{name} must be a mapping or a list of mappings")
    return [dict(item) for item in items]


def make_session(
    driver_cls: type, access_info: Mapping[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ConformanceSession:
    """A session for a driver class and a (file-shaped) access info."""
    clean, traps, bad = split_access_info(access_info)
    return ConformanceSession(
        driver_cls, clean, timeout_s=timeout_s, traps=traps, bad_access_info=bad
    )


def run_check(session: ConformanceSession, spec: CheckSpec) -> CheckResult:
    """Run one check, timing it and keeping the driver calls it made."""
    first_call = len(session.calls)
    started = time.perf_counter()
    try:
        outcome = spec.run(session)
    except CallFailed as failure:
        outcome = Outcome(Status.FAILED, str(failure))
    except DriverUnavailable as unavailable:
        outcome = Outcome(Status.ERROR, str(unavailable))
    except Exception as crash:  # noqa: BLE001 - a kit bug must show, not pass
        outcome = Outcome(
            Status.ERROR, f"the check itself crashed: {type(crash).__name__}: {crash}"
        )
    return CheckResult(
        check=spec.id,
        title=spec.title,
        status=outcome.status,
        reason=outcome.reason,
        duration_s=time.perf_counter() - started,
        details=outcome.details,
        calls=session.calls[first_call:],
    )


def select_checks(checks: Iterable[str] | None) -> list[CheckSpec]:
    """The suite, or the named checks of it (an unknown name is an error, not a no-op)."""
    specs = all_checks()
    if checks is None:
        return specs
    wanted = list(checks)
    by_id = {spec.id: spec for spec in specs}
    unknown = [name for name in wanted if name not in by_id]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(by_id)}")
    return [spec for spec in specs if spec.id in wanted]


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def new_report(session: ConformanceSession) -> Report:
    return Report(
        driver=session.driver_name,
        driver_class=class_path(session.driver_cls),
        version=getattr(session.driver_cls, "VERSION", None),
        features=sorted(session.features),
        timeout_s=session.timeout_s,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def run_conformance(
    driver_cls: type,
    access_info: Mapping[str, Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    checks: Iterable[str] | None = None,
) -> Report:
    """Run the suite (or the named checks) against a driver class and report."""
    specs = select_checks(checks)
    session = make_session(driver_cls, access_info, timeout_s=timeout_s)
    report = new_report(session)
    started = time.perf_counter()
    report.results = [run_check(session, spec) for spec in specs]
    report.duration_s = time.perf_counter() - started
    return report


def load_driver_class(spec: str) -> type:
    """A driver class from ``package.module:Class`` (a driver not registered yet)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"driver class must be 'package.module:Class', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not isinstance(target, type):
        raise ValueError(f"{spec} is not a class")
    return target


def find_driver_class(vendor: str, model: str) -> type:
    """The registered driver class for "vendor model" (stevedore entry points)."""
    from storfleet.drivers import registry

    return registry.find_driver_class(vendor, model)


def resolve_access_info(
    vendor: str, model: str, access_info_path: str | Path | None
) -> dict[str, Any]:
    """The file's access info (vendor/model filled in if absent), or the skeleton."""
    if access_info_path is None:
        return default_access_info(vendor, model)
    access_info = load_access_info(access_info_path)
    access_info.setdefault("vendor", vendor)
    access_info.setdefault("model", model)
    return access_info


def check_command(
    vendor: str,
    model: str,
    access_info_path: str | Path | None = None,
    json_out: str | Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    console: Console | None = None,
) -> int:
    """`storfleet drivers check VENDOR MODEL`: print the report; 0 if nothing failed."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    try:
        driver_cls = find_driver_class(vendor, model)
        access_info = resolve_access_info(vendor, model, access_info_path)
        report = run_conformance(driver_cls, access_info, timeout_s=timeout_s)
    except (OSError, ValueError, DriverError) as error:  # unknown driver, unreadable file
        console.print(f"[bold red]error:[/] {escape(str(error))}")
        return 1
    report.render(console)
    if json_out is not None:
        path = report.write_json(json_out)
        console.print(f"report written to {path}")
    return 0 if report.ok else 1
