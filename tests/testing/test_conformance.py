"""The conformance kit against real drivers: the fake array, a broken one, and small ones.

The fake array must pass everything it claims; the broken driver (tests/testing/
broken_driver.py) must fail each check it breaks, for the reason it breaks it, and pass the
rest; the pytest plugin is exercised in a separate pytest process, as a driver author runs it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from storfleet.drivers import exception
from storfleet.drivers.fake import FakeStorageDriver
from storfleet.testing import checks, runner
from storfleet.testing.report import Report, Status
from tests.testing.broken_driver import DEFECTS, SOUND_CHECKS, BrokenDriver, MinimalDriver

REPO = Path(__file__).resolve().parents[2]
BROKEN_CLASS = "tests.testing.broken_driver:BrokenDriver"
GATED = {spec.id: spec.feature for spec in checks.all_checks() if spec.feature}


def fake_access_info(**extra: Any) -> dict[str, Any]:
    info = runner.default_access_info("fake_storage", "fake_driver")
    info["extra_attributes"] = {"seed": 7, **extra}
    return info


def statuses(report: Report) -> dict[str, Status]:
    return {result.check: result.status for result in report.results}


def assert_not_supported_only_when_unclaimed(report: Report, features: frozenset[str]) -> None:
    """A check is "not supported" exactly when the driver does not claim its feature."""
    lists_inventory = any(f.startswith("list_") and f != "list_alerts" for f in features)
    for result in report.results:
        if result.check == "references":
            claimed = lists_inventory
        elif result.check in GATED:
            claimed = GATED[result.check] in features
        else:
            claimed = True
        assert (result.status is Status.NOT_SUPPORTED) is not claimed, (
            f"{result.check}: {result.status}: {result.reason}")


# --- the fake array --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_report() -> Report:
    return runner.run_conformance(FakeStorageDriver, fake_access_info(), timeout_s=60)


def test_fake_driver_passes_every_check_it_claims(fake_report: Report):
    bad = [f"{r.check}: {r.status}: {r.reason} {r.details}" for r in fake_report.results
           if r.status in (Status.FAILED, Status.ERROR)]
    assert bad == []
    assert fake_report.ok
    features = FakeStorageDriver.supported_features()
    assert_not_supported_only_when_unclaimed(fake_report, features)
    # Everything the fake claims is really exercised, not waved through.
    for check, feature in GATED.items():
        if feature in features:
            assert fake_report.result(check).status is Status.PASSED, check
    for check in ("declaration", "storage", "references", "capacity", "sdk_errors"):
        assert fake_report.result(check).status is Status.PASSED
    assert fake_report.count(Status.PASSED) >= 20


def test_fake_driver_report_records_method_times(fake_report: Report):
    timed = {timing.method for timing in fake_report.method_timings()}
    assert {"__init__", "get_storage", "list_volumes"} <= timed
    volume = fake_report.result("inventory.volume")
    assert [call.method for call in volume.calls] == ["list_volumes"]
    assert volume.calls[0].outcome == "ok"
    assert volume.duration_s >= volume.calls[0].duration_s > 0


def test_fake_driver_refuses_bad_access_info():
    info = fake_access_info()
    info["conformance"] = {"bad_access_info": [
        {"extra_attributes": {"faults": [{"type": "invalid_credentials"}]}},
        {"extra_attributes": {"faults": [{"type": "unreachable"}]}},
    ]}
    report = runner.run_conformance(FakeStorageDriver, info, checks=["sdk_errors"])
    result = report.result("sdk_errors")
    assert result.status is Status.PASSED, result.reason
    assert "2 bad access info(s) refused" in result.reason
    assert result.details[0].startswith("bad access info #0: refused as invalid_credential")
    assert result.details[1].startswith("bad access info #1: refused as unreachable")


@pytest.mark.parametrize(
    ("fault", "check", "fragment", "also"),
    [
        # Rejected volumes leave the memberships and views naming them dangling.
        ({"type": "malformed_records", "target": "volume", "share": 0.5},
         "inventory.volume", "volume records rejected", {"references"}),
        ({"type": "malformed_records", "target": "list_alerts", "share": 0.5},
         "list_alerts", "alert lacks required alert_id", set()),
        ({"type": "malformed_records", "target": "collect_perf_metrics", "share": 0.5},
         "perf_metrics", "labels lack 'resource_id'", set()),
        ({"type": "error", "target": "list_disks"},
         "inventory.disk", "list_disks raised StorageBackendException", set()),
        # Without capabilities the framework cannot know what to collect.
        ({"type": "timeout", "target": "get_capabilities", "hang_s": 2},
         "capabilities", "get_capabilities did not return within 0.5 s", {"perf_metrics"}),
    ],
)
def test_fake_driver_faults_fail_the_check_they_break(fault, check, fragment, also):
    report = runner.run_conformance(FakeStorageDriver, fake_access_info(faults=[fault]),
                                    timeout_s=0.5)
    failed = {r.check: r for r in report.results if r.status is not Status.PASSED}
    assert check in failed, report.summary()
    assert failed[check].status is Status.FAILED
    assert fragment in failed[check].reason
    assert set(failed) == {check, *also}, {c: r.reason for c, r in failed.items()}


# --- the broken driver -----------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_report() -> Report:
    return runner.run_conformance(BrokenDriver, runner.default_access_info("broken", "b1"),
                                  timeout_s=10)


@pytest.mark.parametrize(("check", "reason"), sorted(DEFECTS.items()))
def test_broken_driver_fails_each_defect_for_its_reason(broken_report, check, reason):
    result = broken_report.result(check)
    assert result.status is Status.FAILED
    assert reason in result.reason + "\n" + "\n".join(result.details)


def test_broken_parse_alert_names_both_defects(broken_report):
    details = "\n".join(broken_report.result("parse_alert").details)
    assert "lacks required alert_id" in details
    assert "severity must be a string, got list" in details


def test_broken_capabilities_name_both_defects(broken_report):
    details = "\n".join(broken_report.result("capabilities").details)
    assert "unknown metric 'latency' for resource type 'storage'" in details
    assert "volume.iops: wrong unit 'ops/s', expected 'IOPS'" in details


@pytest.mark.parametrize("check", SOUND_CHECKS)
def test_broken_driver_passes_what_it_does_not_break(broken_report, check):
    result = broken_report.result(check)
    assert result.status is Status.PASSED, result.reason


def test_broken_driver_is_not_conformant_and_skips_unclaimed(broken_report):
    assert not broken_report.ok
    assert broken_report.count(Status.FAILED) == len(DEFECTS)
    assert broken_report.count(Status.ERROR) == 0
    assert_not_supported_only_when_unclaimed(broken_report, BrokenDriver.supported_features())
    assert broken_report.result("inventory.share").status is Status.NOT_SUPPORTED


def test_minimal_driver_gets_not_supported_for_every_feature():
    report = runner.run_conformance(MinimalDriver, runner.default_access_info("min", "m1"))
    for check in GATED:
        assert report.result(check).status is Status.NOT_SUPPORTED, check
    assert report.result("references").reason == (
        "the driver does not claim any inventory list method"
    )
    assert report.result("inventory.volume").reason == "the driver does not claim list_volumes"
    others = [r for r in report.results if r.check not in GATED and r.check != "references"]
    assert others and all(r.status is Status.PASSED for r in others)
    assert report.ok


# --- small drivers, one behaviour each ---------------------------------------------------


class Overclaiming(MinimalDriver):
    FEATURES = frozenset({"get_storage", "list_volumes"})


def test_claim_without_implementation_fails():
    report = runner.run_conformance(Overclaiming, runner.default_access_info("o", "c"))
    assert "claims list_volumes but does not implement it" in report.result("declaration").reason
    volume = report.result("inventory.volume")
    assert volume.status is Status.FAILED
    assert volume.reason.startswith("claims list_volumes but raises NotSupported")


class Slow(MinimalDriver):
    FEATURES = frozenset({"get_storage", "list_volumes"})
    release = threading.Event()

    def list_volumes(self, context):
        self.release.wait(5)
        return []


def test_a_call_that_hangs_times_out():
    try:
        started = time.perf_counter()
        report = runner.run_conformance(Slow, runner.default_access_info("s", "l"),
                                        timeout_s=0.2, checks=["inventory.volume"])
        assert time.perf_counter() - started < 2
    finally:
        Slow.release.set()
    result = report.result("inventory.volume")
    assert result.status is Status.FAILED
    assert result.reason == "list_volumes did not return within 0.2 s"
    assert result.calls[-1].outcome == "timeout"


class Streaming(MinimalDriver):
    """Streams volumes from a generator that breaks half-way, as a lazy driver might."""

    FEATURES = frozenset({"get_storage", "list_volumes", "list_storage_host_groups"})

    def list_volumes(self, context):
        yield {"name": "v1", "native_volume_id": "vol-1", "status": "available"}
        raise KeyError("volume-2 has no 'size'")

    def list_storage_host_groups(self, context):
        groups = ({"name": f"g{i}", "native_storage_host_group_id": f"hg-{i}"} for i in range(3))
        return {"storage_host_groups": groups, "storage_host_grp_host_rels": iter(())}


def test_streamed_answers_are_drained_inside_the_guarded_call():
    report = runner.run_conformance(Streaming, runner.default_access_info("s", "t"))
    volume = report.result("inventory.volume")
    assert volume.status is Status.FAILED
    assert volume.reason.startswith("list_volumes raised bare KeyError")
    groups = report.result("inventory.storage_host_group")
    assert groups.status is Status.PASSED, groups.reason
    assert groups.reason.startswith("3 storage_host_group records, 0 storage_host_group_host")
    assert report.result("sdk_errors").status is Status.FAILED


class Unbuildable(MinimalDriver):
    FEATURES = frozenset({"get_storage", "list_alerts"})

    def __init__(self, **kwargs):
        raise exception.InvalidUsernameOrPassword()

    def list_alerts(self, context, query_para=None):
        return []


def test_a_driver_that_cannot_be_built():
    report = runner.run_conformance(Unbuildable, runner.default_access_info("u", "b"))
    storage = report.result("storage")
    assert storage.status is Status.FAILED
    assert "__init__ raised InvalidUsernameOrPassword: Invalid username or password" in (
        storage.reason
    )
    assert report.result("list_alerts").status is Status.ERROR
    assert "could not be constructed" in report.result("list_alerts").reason
    assert report.result("sdk_errors").status is Status.ERROR
    assert report.result("inventory.volume").status is Status.NOT_SUPPORTED
    assert not report.ok


class Picky(MinimalDriver):
    """Checks its password the way the access info says it should be checked."""

    failure: type[BaseException] | None = exception.InvalidCredential

    def get_storage(self, context):
        if self.access_info["rest"]["password"] != "x" and self.failure is not None:
            raise self.failure("password refused")
        return super().get_storage(context)


class Gullible(Picky):
    failure = None


class Sloppy(Picky):
    failure = RuntimeError


@pytest.mark.parametrize(
    ("driver", "status", "fragment"),
    [
        (Picky, Status.PASSED, "refused as invalid_credential (get_storage raised"),
        (Gullible, Status.FAILED, "accepted (get_storage succeeded)"),
        (Sloppy, Status.FAILED, "get_storage raised bare RuntimeError: password refused"),
    ],
)
def test_bad_access_info(driver, status, fragment):
    info = runner.default_access_info("p", "k")
    info["conformance"] = {"bad_access_info": {"rest": {"password": "wrong"}}}
    result = runner.run_conformance(driver, info, checks=["sdk_errors"]).result("sdk_errors")
    assert result.status is status
    assert fragment in result.reason + "\n".join(result.details)


TRAP = {"1.3.6.1.6.3.1.1.4.1.0": "1.3.6.1.4.1.2011.2.91.10.2.1.0.1",
        "1.3.6.1.4.1.2011.2.91.10.3.1.1.2": "disk 4 failed",
        "transport_address": "10.0.0.5", "storage_id": "s-1"}


class OwnTrapsOnly(MinimalDriver):
    FEATURES = frozenset({"get_storage", "parse_alert"})

    @staticmethod
    def parse_alert(context, alert):
        text = alert.get("1.3.6.1.4.1.2011.2.91.10.3.1.1.2")
        if text is None:
            raise exception.InvalidResults("not one of our traps")
        return {"alert_id": alert["1.3.6.1.6.3.1.1.4.1.0"], "alert_name": text,
                "severity": "Major", "category": "Fault", "type": "EquipmentAlarm",
                "occur_time": int(time.time() * 1000), "description": text,
                "resource_type": "disk"}


def test_driver_parsing_only_its_own_traps_needs_sample_traps():
    without = runner.run_conformance(OwnTrapsOnly, runner.default_access_info("o", "t"),
                                     checks=["parse_alert"]).result("parse_alert")
    assert without.status is Status.FAILED
    assert "generic trap: parse_alert raised InvalidResults" in without.reason
    assert "supply conformance.traps" in without.reason

    info = runner.default_access_info("o", "t")
    info["conformance"] = {"traps": [TRAP]}
    with_traps = runner.run_conformance(OwnTrapsOnly, info,
                                        checks=["parse_alert"]).result("parse_alert")
    assert with_traps.status is Status.PASSED, with_traps.reason
    assert with_traps.reason == "1 trap(s) parsed into valid alerts"
    assert "generic trap refused" in with_traps.details[0]


class Groups(MinimalDriver):
    """Delfin's dict form for host groups; one membership names a host that is not listed."""

    FEATURES = frozenset({"get_storage", "list_storage_hosts", "list_storage_host_groups"})
    extra_key = False

    def list_storage_hosts(self, context):
        return [{"name": "h1", "native_storage_host_id": "host-1", "status": "normal"}]

    def list_storage_host_groups(self, context):
        answer = {
            "storage_host_groups": [{"name": "g1", "native_storage_host_group_id": "hg-1",
                                     "storage_hosts": "host-1,host-9"}],
            "storage_host_grp_host_rels": [
                {"native_storage_host_group_id": "hg-1", "native_storage_host_id": "host-1"},
                {"native_storage_host_group_id": "hg-1", "native_storage_host_id": "host-9"},
            ],
        }
        if self.extra_key:
            answer["port_grp_port_rels"] = []
        return answer


class GroupsWithStrayKey(Groups):
    extra_key = True


def test_group_dict_form_memberships_are_validated_and_resolved():
    report = runner.run_conformance(Groups, runner.default_access_info("g", "d"))
    groups = report.result("inventory.storage_host_group")
    assert groups.status is Status.PASSED, groups.reason
    assert groups.reason == ("1 storage_host_group record, 2 storage_host_group_host records, "
                             "all valid, native ids unique")
    references = report.result("references")
    assert references.status is Status.FAILED
    assert "native_storage_host_id 'host-9' refers to no storage_host" in references.reason

    stray = runner.run_conformance(GroupsWithStrayKey, runner.default_access_info("g", "d"),
                                   checks=["inventory.storage_host_group"])
    assert "unknown keys ['port_grp_port_rels']" in stray.results[0].reason


# --- report, access info, command ------------------------------------------------------


def test_report_json_round_trip(broken_report, tmp_path):
    again = Report.from_json(broken_report.to_json())
    assert again == broken_report
    path = broken_report.write_json(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["ok"] is False
    assert data["summary"]["failed"] == len(DEFECTS)
    assert Report.from_dict(data) == broken_report


def test_report_renders_every_check_with_its_time(broken_report):
    buffer = io.StringIO()
    broken_report.render(Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    for result in broken_report.results:
        assert result.check in text
    assert "Driver method timings" in text
    assert "not conformant" in text
    assert "list_disks raised bare ValueError" in text


def test_load_access_info_json_and_conformance_options(tmp_path):
    path = tmp_path / "access.json"
    path.write_text(json.dumps({
        "vendor": "v", "model": "m", "rest": {"host": "10.0.0.1", "password": "p"},
        "conformance": {"traps": [TRAP], "bad_access_info": {"rest": {"password": "no"}}},
    }))
    raw = runner.load_access_info(path)
    access_info, traps, bad = runner.split_access_info(raw)
    assert "conformance" not in access_info and "conformance" in raw
    assert traps == [TRAP]
    session = runner.make_session(MinimalDriver, raw)
    assert session.bad_access_info[0]["rest"] == {"host": "10.0.0.1", "password": "no"}
    assert session.access_info["rest"]["password"] == "p"
    assert checks.generic_trap(session)["transport_address"] == "10.0.0.1"


def test_load_access_info_errors(tmp_path):
    bad_json = tmp_path / "a.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match="a.json"):
        runner.load_access_info(bad_json)
    listed = tmp_path / "b.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a mapping"):
        runner.load_access_info(listed)
    with pytest.raises(ValueError, match="conformance.traps"):
        runner.split_access_info({"conformance": {"traps": "trap"}})


def test_load_access_info_yaml(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("vendor: v\nmodel: m\nrest:\n  host: 10.0.0.2\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="PyYAML"):
            runner.load_access_info(path)
    else:
        assert runner.load_access_info(path)["rest"] == {"host": "10.0.0.2"}


def test_unknown_check_names_are_refused():
    with pytest.raises(ValueError, match="unknown check"):
        runner.run_conformance(MinimalDriver, {}, checks=["storage", "speling"])


def test_check_command_exit_codes_and_json(tmp_path, monkeypatch):
    console = Console(file=io.StringIO(), width=200, color_system=None)
    classes = {("broken", "b1"): BrokenDriver, ("min", "m1"): MinimalDriver}
    monkeypatch.setattr(runner, "find_driver_class", lambda v, m: classes[(v, m)])
    out = tmp_path / "broken.json"
    assert runner.check_command("broken", "b1", json_out=out, timeout_s=5,
                                console=console) == 1
    assert Report.from_json(out.read_text()).count(Status.FAILED) == len(DEFECTS)
    assert runner.check_command("min", "m1", console=console) == 0
    assert "min m1: conformant" in console.file.getvalue()


def test_check_command_reports_an_unknown_driver():
    console = Console(file=io.StringIO(), width=200, color_system=None)
    assert runner.check_command("no_such", "vendor", console=console) == 1
    assert "No storage driver registered for vendor 'no_such'" in console.file.getvalue()


def test_check_command_reports_a_missing_access_info_file(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "find_driver_class", lambda v, m: MinimalDriver)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    missing = tmp_path / "missing.json"
    assert runner.check_command("min", "m1", missing, console=console) == 1
    assert "missing.json" in console.file.getvalue()


def test_check_command_finds_the_fake_driver_in_the_registry(tmp_path):
    path = tmp_path / "fake.json"
    path.write_text(json.dumps({"extra_attributes": {"seed": 3}}))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    assert runner.check_command("fake_storage", "fake_driver", path, console=console) == 0
    assert "fake_storage fake_driver: conformant" in console.file.getvalue()


# --- the pytest plugin, in its own pytest process ----------------------------------------


def run_pytest(tmp_path: Path, *args: str, test_file: str | None = None) -> tuple[Any, str]:
    """Run pytest on tmp_path with only this plugin loaded; (junit root, output)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    if test_file is not None:
        (tmp_path / "test_author.py").write_text(textwrap.dedent(test_file))
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "pytest", "-p", "storfleet.testing.plugin",
               "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
               "-p", "no:cacheprovider", f"--junitxml={junit}", "-rA", *args, str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert junit.exists(), output
    return ET.parse(junit).getroot().find("testsuite"), output


def outcome_counts(suite: Any) -> dict[str, int]:
    return {key: int(suite.get(key)) for key in ("tests", "failures", "errors", "skipped")}


def test_plugin_runs_one_test_per_check_for_the_fake_driver(tmp_path, fake_report):
    access = tmp_path / "access.json"
    access.write_text(json.dumps({
        "extra_attributes": {"seed": 5},
        "conformance": {"bad_access_info": {
            "extra_attributes": {"faults": [{"type": "invalid_credentials"}]}}},
    }))
    suite, output = run_pytest(
        tmp_path, "--storfleet-driver", "fake_storage fake_driver",
        "--storfleet-access-info", str(access), "--storfleet-report",
        str(tmp_path / "report.json"),
        test_file="""
            def test_author_check(storfleet_driver):
                assert storfleet_driver.get_storage(None)["serial_number"]
        """,
    )
    checks_count = len(checks.all_checks())
    assert outcome_counts(suite) == {
        "tests": checks_count + 1, "failures": 0, "errors": 0,
        "skipped": fake_report.count(Status.NOT_SUPPORTED),
    }, output
    names = {case.get("name") for case in suite.iter("testcase")}
    assert "storfleet_conformance[inventory.volume]" in names
    assert "test_author_check" in names
    assert "storfleet conformance" in output  # the Rich summary at the end
    saved = Report.from_json((tmp_path / "report.json").read_text())
    assert len(saved.results) == checks_count and saved.ok
    assert "1 bad access info(s) refused" in saved.result("sdk_errors").reason


def test_plugin_fails_the_broken_driver_with_readable_reasons(tmp_path):
    suite, output = run_pytest(tmp_path, "--storfleet-driver", "broken b1",
                               "--storfleet-driver-class", BROKEN_CLASS,
                               "--storfleet-timeout", "10")
    counts = outcome_counts(suite)
    assert counts["failures"] == len(DEFECTS), output
    assert counts["errors"] == 0, output
    failures = {case.get("name"): case.find("failure").text
                for case in suite.iter("testcase") if case.find("failure") is not None}
    for check, reason in DEFECTS.items():
        message = failures[f"storfleet_conformance[{check}]"]
        assert reason in message, message
        assert "Traceback" not in message
    skipped = {case.get("name"): case.find("skipped").get("message")
               for case in suite.iter("testcase") if case.find("skipped") is not None}
    assert "the driver does not claim list_shares" in skipped[
        "storfleet_conformance[inventory.share]"]


def test_plugin_reports_an_unbuildable_driver_as_errors(tmp_path):
    expected = runner.run_conformance(Unbuildable, runner.default_access_info("u", "b"))
    suite, output = run_pytest(
        tmp_path, "--storfleet-driver-class", "tests.testing.test_conformance:Unbuildable"
    )
    assert outcome_counts(suite) == {
        "tests": len(expected.results),
        "failures": expected.count(Status.FAILED),
        "errors": expected.count(Status.ERROR),
        "skipped": expected.count(Status.NOT_SUPPORTED),
    }, output
    assert expected.count(Status.ERROR) >= 3
    assert "could not be constructed" in output


def test_plugin_is_inert_without_its_options(tmp_path):
    suite, output = run_pytest(tmp_path, test_file="""
        import sys

        def test_nothing_loaded():
            heavy = [name for name in sys.modules
                     if name.startswith(("storfleet.drivers", "storfleet.testing.checks",
                                         "storfleet.testing.runner", "rich"))]
            assert heavy == []

        def test_fixture_skips(storfleet_driver):
            raise AssertionError("unreachable")
    """)
    assert outcome_counts(suite) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 1}, (
        output)
    assert "no --storfleet-driver given" in output
    assert "storfleet_conformance" not in output
