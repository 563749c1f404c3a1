"""The conformance report: per-check results, their method timings, Rich and JSON views.

A report is plain data (dataclasses) so the same object feeds the terminal table, the JSON
file a CI job archives, and the pytest plugin's outcomes; ``from_json`` reads a saved report
back so two runs can be compared.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the driver claims the feature and gets it wrong
    NOT_SUPPORTED = "not_supported"  # the driver does not claim the feature
    ERROR = "error"  # the check could not run (a prerequisite failed, or a kit bug)


_STYLES = {
    Status.PASSED: "bold green",
    Status.FAILED: "bold red",
    Status.NOT_SUPPORTED: "yellow",
    Status.ERROR: "bold magenta",
}


@dataclass
class MethodCall:
    """One call of a driver method: how long it took and how it ended."""

    method: str
    duration_s: float
    outcome: str = "ok"  # "ok", "timeout", or the exception's class name
    error: str | None = None


@dataclass
class CheckResult:
    check: str
    title: str
    status: Status
    reason: str
    duration_s: float = 0.0
    details: list[str] = field(default_factory=list)
    calls: list[MethodCall] = field(default_factory=list)

    def extra_details(self) -> list[str]:
        """Details worth showing under the reason: none for a pass, none that only
        repeat the reason."""
        if not self.details or self.status is Status.PASSED:
            return []
        if len(self.details) == 1 and self.details[0] in self.reason:
            return []
        return list(self.details)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        calls = [MethodCall(**call) for call in data.get("calls", [])]
        return cls(
            check=data["check"],
            title=data.get("title", data["check"]),
            status=Status(data["status"]),
            reason=data.get("reason", ""),
            duration_s=float(data.get("duration_s", 0.0)),
            details=list(data.get("details", [])),
            calls=calls,
        )


@dataclass
class MethodTiming:
    method: str
    calls: int
    total_s: float
    max_s: float


@dataclass
class Report:
    """What one conformance run found about one driver."""

    driver: str  # "vendor model"
    driver_class: str  # "package.module:Class"
    version: str | None = None
    features: list[str] = field(default_factory=list)
    timeout_s: float = 60.0
    started_at: str = ""
    duration_s: float = 0.0
    results: list[CheckResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status is status)

    @property
    def ok(self) -> bool:
        """True when nothing failed and every check could run."""
        return not any(r.status in (Status.FAILED, Status.ERROR) for r in self.results)

    def result(self, check: str) -> CheckResult:
        for result in self.results:
            if result.check == check:
                return result
        raise KeyError(f"no result for check {check!r}")

    def summary(self) -> str:
        parts = [f"{self.count(status)} {status.value.replace('_', ' ')}" for status in Status]
        return ", ".join(parts)

    def method_timings(self) -> list[MethodTiming]:
        """Per driver method: number of calls, total and slowest time, slowest first."""
        timings: dict[str, MethodTiming] = {}
        for result in self.results:
            for call in result.calls:
                timing = timings.setdefault(call.method, MethodTiming(call.method, 0, 0.0, 0.0))
                timing.calls += 1
                timing.total_s += call.duration_s
                timing.max_s = max(timing.max_s, call.duration_s)
        return sorted(timings.values(), key=lambda t: t.max_s, reverse=True)

    # -- JSON --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = {status.value: self.count(status) for status in Status}
        data["ok"] = self.ok
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def write_json(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            driver=data["driver"],
            driver_class=data.get("driver_class", ""),
            version=data.get("version"),
            features=list(data.get("features", [])),
            timeout_s=float(data.get("timeout_s", 60.0)),
            started_at=data.get("started_at", ""),
            duration_s=float(data.get("duration_s", 0.0)),
            results=[CheckResult.from_dict(item) for item in data.get("results", [])],
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))

    # -- Rich --------------------------------------------------------------------------

    def render(self, console: Console) -> None:
        """Print the checks table, the method timings and a one-line verdict."""
        console.print(self.checks_table())
        timings = self.method_timings()
        if timings:
            console.print(self.timings_table(timings))
        verdict = "[bold green]conformant[/]" if self.ok else "[bold red]not conformant[/]"
        console.print(f"{self.driver}: {verdict} ({self.summary()}) in {self.duration_s:.2f} s")

    def checks_table(self):  # -> rich.table.Table (imported lazily: keeps imports cheap)
        from rich.markup import escape
        from rich.table import Table

        version = f" {self.version}" if self.version else ""
        table = Table(title=f"Conformance of {self.driver} ({self.driver_class}{version})")
        table.add_column("Check", no_wrap=True)
        table.add_column("Status", no_wrap=True)
        table.add_column("Time", justify="right", no_wrap=True)
        table.add_column("Reason", overflow="fold")
        for result in self.results:
            reason = escape(result.reason)
            reason += "".join(f"\n  • {escape(line)}" for line in result.extra_details())
            table.add_row(
                result.check,
                f"[{_STYLES[result.status]}]{result.status.value.replace('_', ' ')}[/]",
                _seconds(result.duration_s),
                reason,
            )
        return table

    def timings_table(self, timings: list[MethodTiming]):  # -> rich.table.Table
        from rich.table import Table

        table = Table(title="Driver method timings")
        table.add_column("Method", no_wrap=True)
        table.add_column("Calls", justify="right")
        table.add_column("Total", justify="right")
        table.add_column("Slowest", justify="right")
        for timing in timings:
            table.add_row(
                timing.method, str(timing.calls), _seconds(timing.total_s), _seconds(timing.max_s)
            )
        return table


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"
