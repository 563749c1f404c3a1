"""pytest plugin: the conformance suite as pytest tests.

``pytest --storfleet-driver "VENDOR MODEL" [--storfleet-access-info FILE]`` adds one test
per check (``storfleet_conformance[inventory.volume]``...): a check of a feature the driver
does not claim is skipped, a wrong claim fails with the readable reason, a check that
could not run is an error. ``--storfleet-driver-class package.module:Class`` tests a
driver that is not registered as an entry point yet.

The plugin is registered for every pytest run of the project (entry point ``pytest11``),
so without those options it does nothing: its hooks live on an object registered only
when asked for, and this module imports nothing but pytest.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from storfleet.testing.checks import CheckSpec, ConformanceSession
    from storfleet.testing.report import CheckResult, Report

_PLUGIN_NAME = "storfleet-conformance-suite"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("storfleet", "storfleet driver conformance")
    group.addoption("--storfleet-driver", metavar="'VENDOR MODEL'", default=None,
                    help="run the conformance suite against this registered driver")
    group.addoption("--storfleet-driver-class", metavar="MODULE:CLASS", default=None,
                    help="run the conformance suite against this driver class")
    group.addoption("--storfleet-access-info", metavar="FILE", default=None,
                    help="access info (JSON or YAML) used to build the driver")
    group.addoption("--storfleet-timeout", metavar="SECONDS", type=float, default=60.0,
                    help="timeout of each driver call (default 60)")
    group.addoption("--storfleet-report", metavar="FILE", default=None,
                    help="write the conformance report as JSON to FILE")


def _requested(config: pytest.Config) -> bool:
    return bool(config.getoption("storfleet_driver", None)
                or config.getoption("storfleet_driver_class", None))


def pytest_configure(config: pytest.Config) -> None:
    if _requested(config):
        config.pluginmanager.register(ConformanceSuite(config), _PLUGIN_NAME)


@pytest.fixture(scope="session")
def storfleet_driver(request: pytest.FixtureRequest) -> Any:
    """The driver under test, built once from --storfleet-driver and its access info."""
    suite = request.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if suite is None:
        pytest.skip("no --storfleet-driver given")
    from storfleet.testing.checks import DriverUnavailable

    try:
        return suite.session().driver
    except DriverUnavailable as unavailable:
        pytest.fail(str(unavailable), pytrace=False)


class ConformanceSuite:
    """The active part of the plugin: registered only when a driver is named."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._session: ConformanceSession | None = None
        self._setup_error: str | None = None
        self.results: list[CheckResult] = []

    def session(self) -> ConformanceSession:
        """The conformance session, shared by every check (the inventory is fetched once)."""
        if self._setup_error is not None:
            raise RuntimeError(self._setup_error)
        if self._session is None:
            try:
                self._session = self._make_session()
            except Exception as error:  # noqa: BLE001 - shown on every check, not a crash
                self._setup_error = f"cannot set up the driver: {type(error).__name__}: {error}"
                raise RuntimeError(self._setup_error) from None
        return self._session

    def _make_session(self) -> ConformanceSession:
        from storfleet.testing import runner

        option = self.config.getoption
        class_spec = option("storfleet_driver_class")
        name = option("storfleet_driver") or ""
        vendor, _, model = name.strip().partition(" ")
        if class_spec:
            driver_cls = runner.load_driver_class(class_spec)
        else:
            if not model:
                raise ValueError(f"--storfleet-driver must be 'VENDOR MODEL', got {name!r}")
            driver_cls = runner.find_driver_class(vendor, model.strip())
        vendor = vendor or getattr(driver_cls, "__module__", "driver")
        model = model.strip() or driver_cls.__name__
        access_info = runner.resolve_access_info(vendor, model,
                                                 option("storfleet_access_info"))
        return runner.make_session(driver_cls, access_info,
                                   timeout_s=option("storfleet_timeout"))

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection sees the items
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from storfleet.testing.checks import all_checks

        items.extend(
            ConformanceItem.from_parent(session, name=f"storfleet_conformance[{spec.id}]",
                                        spec=spec, suite=self)
            for spec in all_checks()
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results or self._session is None:
            return
        report = self.report()
        from rich.console import Console

        buffer = io.StringIO()
        width = max(getattr(terminalreporter._tw, "fullwidth", 80), 120)
        console = Console(file=buffer, width=width, force_terminal=terminalreporter.hasmarkup)
        report.render(console)
        terminalreporter.write_sep("=", "storfleet conformance")
        terminalreporter.write(buffer.getvalue())

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        target = self.config.getoption("storfleet_report")
        if target and self._session is not None:
            self.report().write_json(target)

    def report(self) -> Report:
        from storfleet.testing.runner import new_report

        assert self._session is not None
        report = new_report(self._session)
        report.results = list(self.results)
        report.duration_s = sum(result.duration_s for result in self.results)
        return report


class ConformanceItem(pytest.Item):
    """One check as a pytest test; the check runs in setup, the verdict in runtest."""

    def __init__(self, *, spec: CheckSpec, suite: ConformanceSuite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.suite = suite
        self.result: CheckResult | None = None

    def setup(self) -> None:
        from storfleet.testing.report import Status
        from storfleet.testing.runner import run_check

        try:
            session = self.suite.session()
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)
        self.result = run_check(session, self.spec)
        self.suite.results.append(self.result)
        if self.result.status is Status.ERROR:
            pytest.fail(f"could not check: {_message(self.result)}", pytrace=False)

    def runtest(self) -> None:
        from storfleet.testing.report import Status

        result = self.result
        assert result is not None
        if result.status is Status.NOT_SUPPORTED:
            pytest.skip(result.reason)
        if result.status is Status.FAILED:
            pytest.fail(_message(result), pytrace=False)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"storfleet conformance: {self.spec.id} ({self.spec.title})"


def _message(result: CheckResult) -> str:
    lines = [f"{result.check}: {result.reason}"]
    lines += [f"  - {detail}" for detail in result.extra_details()]
    lines += [f"  [{call.method}: {call.duration_s * 1000:.0f} ms, {call.outcome}]"
              for call in result.calls]
    return "\n".join(lines)
