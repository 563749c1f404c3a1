"""The conformance checks: one suite for every driver, gated on what the driver claims.

As in libStorageMgmt's plugin test suite, a driver declares its features
(``supported_features()``); a check of a feature the driver does not claim is reported
"not supported", and a check of a feature it claims fails when the behaviour is wrong.

Each check is a plain function of a :class:`ConformanceSession`, returning an
:class:`Outcome`. The session owns the driver instance and every call to it: a call runs in
a thread with a timeout, is timed and recorded, and an exception becomes a
:class:`CallFailed` naming the method and what went wrong. Results of read-only calls are
memoised, so the inventory is fetched once even though several checks (per-kind validity,
references, capacities, SDK errors) look at it, and so each check can also run alone (the
pytest plugin runs them as separate tests).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from storfleet.drivers.context import RequestContext
from storfleet.drivers.driver import INTERFACE_METHODS, StorageDriver
from storfleet.drivers.exception import DriverError, NotSupported
from storfleet.metrics.vocabulary import validate_capabilities, validate_samples
from storfleet.resources import (
    ALERT,
    GROUP_RELATIONS,
    INVENTORY_KINDS,
    KINDS,
    Kind,
    KindValidator,
    RecordRejected,
    ReferenceChecker,
    native_id_of,
)
from storfleet.testing.report import MethodCall, Status

# How many individual problems a reason lists before summarising the rest as a count.
MAX_DETAILS = 5
# Inventory kinds a driver lists by its own method (relations come with their group).
LISTED_KINDS: tuple[Kind, ...] = tuple(k for k in INVENTORY_KINDS if not k.relation)
# Kinds whose records carry total / used / free capacities that must add up.
CAPACITY_KINDS = ("storage", "storage_pool", "volume", "filesystem")
ALERT_REQUIRED = ("alert_id", "severity", "category", "occur_time")
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SYS_UPTIME_OID = "1.3.6.1.2.1.1.3.0"
# Epoch milliseconds below this are before 1973: a driver sent seconds.
_MS_PLAUSIBLE = 100_000_000_000
PERF_WINDOW_MS = 15 * 60 * 1000


# ---------------------------------------------------------------------------------------
# Harness


class CallFailed(Exception):
    """A driver call that did not return a value; ``str()`` is the readable reason."""

    def __init__(
        self, method: str, category: str, message: str, error_category: str | None = None
    ) -> None:
        self.method = method
        self.category = category  # "not_supported", "sdk_error", "bare", "timeout"
        self.error_category = error_category  # a DriverError's own category ("unreachable")
        super().__init__(message)


class DriverUnavailable(Exception):
    """The driver could not be constructed, so a check that needs it cannot run."""


@dataclass
class Outcome:
    status: Status
    reason: str
    details: list[str] = field(default_factory=list)


def passed(reason: str, details: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.PASSED, reason, list(details))


def failed(reason: str, details: Iterable[str] = ()) -> Outcome:
    return Outcome(Status.FAILED, reason, list(details))


def not_supported(feature: str) -> Outcome:
    return Outcome(Status.NOT_SUPPORTED, f"the driver does not claim {feature}")


def _limited(lines: list[str]) -> list[str]:
    """The first few problems and a count of the rest: enough to act on, short to read."""
    if len(lines) <= MAX_DETAILS:
        return list(lines)
    return [*lines[:MAX_DETAILS], f"... and {len(lines) - MAX_DETAILS} more"]


def _timed_call(func: Callable[..., Any], args: tuple, timeout_s: float) -> tuple:
    """Run ``func(*args)`` in a daemon thread: (finished, value, exception, seconds).

    A driver that hangs is abandoned, not killed (Python cannot kill a thread); the thread
    is a daemon so it never keeps the process alive.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the check, never lost
            box["error"] = exc

    name = getattr(func, "__name__", "driver-call")
    thread = threading.Thread(target=target, name=f"conformance-{name}", daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(timeout_s)
    elapsed = time.perf_counter() - started
    if thread.is_alive():
        return False, None, None, elapsed
    return True, box.get("value"), box.get("error"), elapsed


def _materialized(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with a lazy answer drained inside the call: a driver may stream records
    from a generator (or a dict of generators), and that work belongs to the timed,
    guarded call, not to whoever iterates later."""

    def drained(*args: Any) -> Any:
        value = func(*args)
        if isinstance(value, Iterator):
            return list(value)
        if isinstance(value, Mapping) and any(isinstance(v, Iterator) for v in value.values()):
            return {k: list(v) if isinstance(v, Iterator) else v for k, v in value.items()}
        return value

    drained.__name__ = getattr(func, "__name__", "driver-call")
    return drained


def claimed_features(driver_cls: type) -> frozenset[str]:
    """The method names a driver class claims; get_storage is mandatory, hence implied."""
    claim = getattr(driver_cls, "supported_features", None)
    features = claim() if callable(claim) else getattr(driver_cls, "FEATURES", ())
    return frozenset(features or ()) | {"get_storage"}


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def merge_access_info(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, one level of blocks deep (``{"rest": {"password":
    "wrong"}}`` changes only the password)."""
    merged = {key: dict(value) if isinstance(value, Mapping) else value
              for key, value in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


class ConformanceSession:
    """One driver under test: its instance, its calls, and what they returned."""

    def __init__(
        self,
        driver_cls: type,
        access_info: Mapping[str, Any],
        *,
        timeout_s: float = 60.0,
        traps: Iterable[Mapping[str, Any]] = (),
        bad_access_info: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.driver_cls = driver_cls
        self.access_info = dict(access_info)
        self.access_info.setdefault("storage_id", str(uuid.uuid4()))
        self.timeout_s = timeout_s
        self.sample_traps = [dict(trap) for trap in traps]
        self.bad_access_info = [merge_access_info(self.access_info, bad)
                                for bad in bad_access_info]
        self.features = claimed_features(driver_cls)
        vendor = self.access_info.get("vendor", "?")
        model = self.access_info.get("model", "?")
        self.driver_name = f"{vendor} {model}"
        self.calls: list[MethodCall] = []
        self.bare_errors: list[str] = []
        self._memo: dict[str, tuple[bool, Any]] = {}

    @property
    def storage_id(self) -> str:
        return str(self.access_info["storage_id"])

    def claims(self, feature: str) -> bool:
        return feature in self.features

    # -- calls -------------------------------------------------------------------------

    def invoke(self, label: str, func: Callable[..., Any], *args: Any) -> Any:
        """Call ``func`` with the timeout, record it, translate a failure to CallFailed."""
        finished, value, error, elapsed = _timed_call(_materialized(func), args, self.timeout_s)
        if not finished:
            self.calls.append(MethodCall(label, elapsed, "timeout",
                                         f"no answer within {self.timeout_s:g} s"))
            raise CallFailed(label, "timeout",
                             f"{label} did not return within {self.timeout_s:g} s")
        if error is None:
            self.calls.append(MethodCall(label, elapsed))
            return value
        self.calls.append(MethodCall(label, elapsed, type(error).__name__, str(error)))
        raise self._failure(label, error) from error

    def _failure(self, label: str, error: BaseException) -> CallFailed:
        detail = _describe_error(error)
        if isinstance(error, NotSupported):
            return CallFailed(label, "not_supported", f"claims {label} but raises {detail}")
        if isinstance(error, DriverError):
            return CallFailed(label, "sdk_error", f"{label} raised {detail}",
                              getattr(error, "category", None))
        message = f"{label} raised bare {detail} (not a storfleet DriverError)"
        self.bare_errors.append(message)
        return CallFailed(label, "bare", message)

    def context(self) -> RequestContext:
        """A fresh context per call whose deadline is the kit's timeout, so a driver that
        honours deadlines gives up (with a DriverTimeout) before the kit abandons it."""
        return RequestContext.with_timeout(self.timeout_s, storage_id=self.storage_id)

    def call(self, method: str, *args: Any) -> Any:
        """Call a driver method (the context is passed first, as every method expects)."""
        return self.invoke(method, getattr(self.driver, method), self.context(), *args)

    def construct(self, access_info: Mapping[str, Any]) -> Any:
        return self.invoke("__init__", lambda: self.driver_cls(**access_info))

    @property
    def driver(self) -> Any:
        """The driver instance, built on first use; DriverUnavailable if that failed."""
        try:
            return self.memo("__init__", lambda: self.construct(self.access_info))
        except CallFailed as failure:
            raise DriverUnavailable(f"the driver could not be constructed: {failure}") from None

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per session; a failure is remembered and raised again."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except (CallFailed, DriverUnavailable) as failure:
                self._memo[key] = (False, failure)
        ok, value = self._memo[key]
        if ok:
            return value
        raise value


# ---------------------------------------------------------------------------------------
# Fetching and validating inventory (memoised: several checks read the same records)


@dataclass
class KindRecords:
    """What one list method returned for one kind, after validation."""

    kind: Kind
    total: int = 0
    clean: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicates: dict[Any, int] = field(default_factory=dict)
    shape: list[str] = field(default_factory=list)  # problems with the container itself

    @property
    def problems(self) -> list[str]:
        dupes = [f"{self.kind.name}: native id {key!r} appears {count} times"
                 for key, count in self.duplicates.items()]
        return [*self.shape, *self.rejected, *dupes, *self.warnings]

    def summary(self) -> str:
        parts = list(self.shape)
        if self.rejected:
            parts.append(f"{len(self.rejected)} of {self.total} {self.kind.name} records "
                         f"rejected (first: {self.rejected[0]})")
        if self.duplicates:
            names = ", ".join(f"{key!r} x{count}" for key, count in
                              list(self.duplicates.items())[:MAX_DETAILS])
            more = len(self.duplicates) - MAX_DETAILS
            tail = f" and {more} more" if more > 0 else ""
            parts.append(f"duplicate {self.kind.name} native ids: {names}{tail}")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s) (first: {self.warnings[0]})")
        return "; ".join(parts)


def validate_records(kind: Kind, records: Any, driver_name: str) -> KindRecords:
    """Validate every record of a kind and find duplicate native ids."""
    result = KindRecords(kind)
    if isinstance(records, Mapping | str | bytes) or not isinstance(records, Iterable):
        result.shape.append(f"{kind.name}: expected a list of records, got "
                            f"{type(records).__name__}")
        return result
    validator = KindValidator(kind, driver_name)
    seen: Counter = Counter()
    for position, record in enumerate(records):
        result.total += 1
        try:
            validated = validator.validate(record, position)
        except RecordRejected as rejection:
            result.rejected.append(str(rejection))
            continue
        result.clean.append(validated.record)
        result.warnings.extend(validated.warnings)
        seen[native_id_of(kind, validated.record)] += 1
    result.duplicates = {key: count for key, count in seen.items() if count > 1}
    return result


def _split_group_answer(kind: Kind, answer: Any) -> tuple[Any, Any, list[str]]:
    """A group method answers a list of groups, or Delfin's dict of groups + memberships."""
    if not isinstance(answer, Mapping):
        return answer, None, []
    relation = GROUP_RELATIONS[kind.name]
    shape = []
    if kind.collection not in answer:
        shape.append(f"{kind.list_method} returned a dict without {kind.collection!r}")
    unknown = sorted(map(str, answer.keys() - {kind.collection, relation.relation_key}))
    if unknown:
        shape.append(f"{kind.list_method} returned unknown keys {unknown} (expected "
                     f"{kind.collection!r} and {relation.relation_key!r})")
    return answer.get(kind.collection, []), answer.get(relation.relation_key), shape


def fetch_kind(session: ConformanceSession, kind: Kind) -> list[KindRecords]:
    """The validated records of a kind (and of its membership relation, for a group)."""

    def compute() -> list[KindRecords]:
        answer = session.call(kind.list_method)
        if kind.name not in GROUP_RELATIONS:
            return [validate_records(kind, answer, session.driver_name)]
        groups, members, shape = _split_group_answer(kind, answer)
        results = [validate_records(kind, groups, session.driver_name)]
        results[0].shape[:0] = shape
        if members is not None:
            relation = GROUP_RELATIONS[kind.name]
            results.append(validate_records(relation, members, session.driver_name))
        return results

    return session.memo(f"records:{kind.name}", compute)


def fetch_storage(session: ConformanceSession) -> KindRecords:
    return session.memo(
        "records:storage",
        lambda: validate_records(KINDS["storage"], [session.call("get_storage")],
                                 session.driver_name),
    )


def fetched_inventory(session: ConformanceSession) -> list[KindRecords]:
    """Every claimed kind that could be fetched (a kind that failed is its own check's
    business; the cross-kind checks work on the rest)."""
    fetched = []
    for kind in LISTED_KINDS:
        if session.claims(kind.list_method):
            try:
                fetched.extend(fetch_kind(session, kind))
            except CallFailed:
                continue
    return fetched


# ---------------------------------------------------------------------------------------
# The checks


def check_declaration(session: ConformanceSession) -> Outcome:
    """VERSION and the feature claim are what `drivers list` shows and the suite gates on."""
    cls = session.driver_cls
    problems = []
    version = getattr(cls, "VERSION", None)
    if not isinstance(version, str) or not version.strip():
        problems.append(f"VERSION must be a non-empty string, got {version!r}")
    known = set(INTERFACE_METHODS)
    for feature in sorted(session.features - known):
        problems.append(f"claims {feature!r}, which is not a StorageDriver method")
    for feature in sorted(session.features & known):
        if _inherited(cls, StorageDriver, feature):
            problems.append(f"claims {feature} but does not implement it")
    concurrency = getattr(cls, "max_concurrency", 1)
    if type(concurrency) is not int or concurrency < 1:
        problems.append(f"max_concurrency must be an integer >= 1, got {concurrency!r}")
    if problems:
        return failed("; ".join(problems[:2]) + _more(problems, 2), _limited(problems))
    return passed(f"VERSION {version}, claims {len(session.features)} methods")


def _inherited(cls: type, base: type, name: str) -> bool:
    """True when ``cls`` gets ``name`` unchanged from the SDK base class (or above it)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass is base or not issubclass(klass, base)
    return True


def _records(count: int, kind: str) -> str:
    return f"{count} {kind} record" + ("" if count == 1 else "s")


def _more(items: list[str], shown: int) -> str:
    return f" (and {len(items) - shown} more)" if len(items) > shown else ""


def check_storage(session: ConformanceSession) -> Outcome:
    """The driver builds from its access info and get_storage returns a valid record."""
    try:
        session.driver  # noqa: B018 - construction is what is being checked
    except DriverUnavailable as unavailable:
        return failed(str(unavailable))
    storage = fetch_storage(session)
    if storage.problems:
        return failed(storage.summary(), _limited(storage.problems))
    record = storage.clean[0]
    return passed(f"storage {record['name']!r}, serial number {record['serial_number']!r}")


def make_inventory_check(kind: Kind) -> Callable[[ConformanceSession], Outcome]:
    def check(session: ConformanceSession) -> Outcome:
        if not session.claims(kind.list_method):
            return not_supported(kind.list_method)
        results = fetch_kind(session, kind)
        problems = [p for result in results for p in result.problems]
        if problems:
            reason = "; ".join(r.summary() for r in results if r.problems)
            return failed(reason, _limited(problems))
        counts = ", ".join(_records(r.total, r.kind.name) for r in results)
        return passed(f"{counts}, all valid, native ids unique")

    check.__name__ = f"check_inventory_{kind.name}"
    check.__doc__ = f"Every {kind.name} record validates and native ids are unique."
    return check


def check_references(session: ConformanceSession) -> Outcome:
    """Every reference between kinds points at a record the driver also listed."""
    if not any(session.claims(kind.list_method) for kind in LISTED_KINDS):
        return not_supported("any inventory list method")
    fetched = fetched_inventory(session)
    known = {result.kind.name: [native_id_of(result.kind, r) for r in result.clean]
             for result in fetched if not result.kind.relation}
    checker = ReferenceChecker(known)
    dangling: list[str] = []
    checked = 0
    for result in fetched:
        refs = [f for f in result.kind.references if f.ref in known]
        checked += sum(1 for r in result.clean for f in refs if r.get(f.name) is not None)
        dangling.extend(checker.check(result.kind, result.clean))
    if dangling:
        return failed(f"{len(dangling)} dangling reference(s): {dangling[0]}"
                      f"{_more(dangling, 1)}", _limited(dangling))
    return passed(f"{checked} references between {len(known)} kinds, none dangling")


def check_capacity(session: ConformanceSession) -> Outcome:
    """used + free <= total wherever a record gives all three (storage, pools, volumes,
    filesystems): a report that does not add up misleads capacity planning."""
    records: list[KindRecords] = []
    with contextlib.suppress(CallFailed):  # the storage check reports that failure
        records.append(fetch_storage(session))
    records.extend(r for r in fetched_inventory(session) if r.kind.name in CAPACITY_KINDS)
    offenders: list[str] = []
    checked = 0
    for result in records:
        for record in result.clean:
            total, used, free = (record.get(f"{n}_capacity") for n in ("total", "used", "free"))
            if total is None or used is None or free is None:
                continue
            checked += 1
            if used + free > total:
                own = native_id_of(result.kind, record)
                offenders.append(f"{result.kind.name} {own!r}: used {used} + free {free} "
                                 f"> total {total}")
    if offenders:
        return failed(f"capacities do not add up in {len(offenders)} record(s): "
                      f"{offenders[0]}{_more(offenders, 1)}", _limited(offenders))
    if not checked:
        return passed("no record gives total, used and free capacity (nothing to add up)")
    return passed(f"{checked} records: used + free <= total")


def generic_trap(session: ConformanceSession) -> dict[str, Any]:
    """A trap in Delfin's form as the trap receiver hands it to parse_alert."""
    rest = session.access_info.get("rest") or session.access_info.get("ssh") or {}
    host = rest.get("host") if isinstance(rest, Mapping) else None
    return {
        SYS_UPTIME_OID: "123456",
        SNMP_TRAP_OID: "1.3.6.1.4.1.99999.0.1",
        "1.3.6.1.4.1.99999.1.1": "storfleet conformance test trap",
        "transport_address": host or "127.0.0.1",
        "storage_id": session.storage_id,
    }


def alert_problems(alert: Any, label: str, driver_name: str) -> list[str]:
    """An alert record must validate cleanly and carry the fields the alert store needs."""
    if not isinstance(alert, Mapping):
        return [f"{label}: expected an alert dict, got {type(alert).__name__} {alert!r:.60}"]
    problems = [f"{label}: alert lacks required {name}" for name in ALERT_REQUIRED
                if alert.get(name) in (None, "")]
    try:
        validated = KindValidator(ALERT, driver_name).validate(alert)
    except RecordRejected as rejection:
        if not (rejection.field in ALERT_REQUIRED and "missing" in rejection.reason):
            problems.append(f"{label}: {rejection}")
        return problems
    problems.extend(f"{label}: {warning}" for warning in validated.warnings)
    occur = validated.record.get("occur_time")
    if occur is not None and occur < _MS_PLAUSIBLE:
        problems.append(f"{label}: occur_time {occur} looks like seconds; expected epoch "
                        "milliseconds")
    return problems


def parsed_traps(session: ConformanceSession) -> list[tuple[str, Any]]:
    """(label, alert or CallFailed) for each sample trap and the generic one."""

    def compute() -> list[tuple[str, Any]]:
        traps = [(f"sample trap #{i}", trap) for i, trap in enumerate(session.sample_traps)]
        traps.append(("generic trap", generic_trap(session)))
        answers: list[tuple[str, Any]] = []
        for label, trap in traps:
            try:
                answers.append((label, session.call("parse_alert", trap)))
            except CallFailed as failure:
                answers.append((label, failure))
        return answers

    return session.memo("parse_alert", compute)


def check_parse_alert(session: ConformanceSession) -> Outcome:
    """A trap in Delfin's form parses into a valid alert (alert_id, severity, category,
    occur_time). A driver may refuse the generic trap with an SDK error only when the
    access info supplies sample traps of its own (``conformance.traps``)."""
    if not session.claims("parse_alert"):
        return not_supported("parse_alert")
    problems: list[str] = []
    notes: list[str] = []
    for label, answer in parsed_traps(session):
        if not isinstance(answer, CallFailed):
            problems.extend(alert_problems(answer, label, session.driver_name))
        elif (label == "generic trap" and session.sample_traps
              and answer.category == "sdk_error"):
            notes.append(f"generic trap refused ({answer}); allowed with sample traps")
        elif label == "generic trap" and answer.category == "sdk_error":
            problems.append(f"{label}: {answer} (supply conformance.traps in the access "
                            "info if the driver parses only its own traps)")
        else:
            problems.append(f"{label}: {answer}")
    if problems:
        return failed(problems[0] + _more(problems, 1), _limited(problems))
    parsed = len(session.sample_traps) + 1 - len(notes)
    return passed(f"{parsed} trap(s) parsed into valid alerts", notes)


def check_list_alerts(session: ConformanceSession) -> Outcome:
    """list_alerts returns a list of valid alerts."""
    if not session.claims("list_alerts"):
        return not_supported("list_alerts")
    alerts = session.memo("list_alerts", lambda: session.call("list_alerts", None))
    if isinstance(alerts, Mapping | str | bytes) or not isinstance(alerts, Iterable):
        return failed(f"list_alerts must return a list of alerts, got {type(alerts).__name__}")
    alerts = list(alerts)
    problems = [p for i, alert in enumerate(alerts)
                for p in alert_problems(alert, f"alert #{i}", session.driver_name)]
    if problems:
        return failed(f"{len(problems)} problem(s) in {len(alerts)} alerts: {problems[0]}",
                      _limited(problems))
    if not alerts:
        return passed("no current alerts (nothing to validate)")
    return passed(f"{len(alerts)} valid alerts")


def capabilities_of(session: ConformanceSession) -> Any:
    return session.memo("get_capabilities", lambda: session.call("get_capabilities", None))


def check_capabilities(session: ConformanceSession) -> Outcome:
    """get_capabilities names only Delfin's resource types, metrics and units."""
    if not session.claims("get_capabilities"):
        return not_supported("get_capabilities")
    problems = validate_capabilities(capabilities_of(session))
    if problems:
        return failed(f"{len(problems)} problem(s): {problems[0]}{_more(problems, 1)}",
                      _limited(problems))
    metrics = capabilities_of(session).get("resource_metrics") or {}
    count = sum(len(m) for m in metrics.values())
    return passed(f"{count} metrics over {len(metrics)} resource types, all in the vocabulary")


def perf_samples(session: ConformanceSession) -> tuple[list[Any], int, int]:
    """collect_perf_metrics for the last 15 minutes: (samples, start_ms, end_ms)."""

    def compute() -> tuple[list[Any], int, int]:
        caps = capabilities_of(session)
        resource_metrics = caps.get("resource_metrics", {}) if isinstance(caps, Mapping) else {}
        end_ms = int(time.time() * 1000)
        start_ms = end_ms - PERF_WINDOW_MS
        samples = session.call("collect_perf_metrics", session.storage_id,
                               resource_metrics, start_ms, end_ms)
        return samples, start_ms, end_ms

    return session.memo("collect_perf_metrics", compute)


def check_perf_metrics(session: ConformanceSession) -> Outcome:
    """Collected series are declared in the capabilities and lie inside the asked window."""
    if not session.claims("collect_perf_metrics"):
        return not_supported("collect_perf_metrics")
    if not session.claims("get_capabilities"):
        return failed("claims collect_perf_metrics but not get_capabilities: the framework "
                      "cannot know which metrics to collect")
    samples, start_ms, end_ms = perf_samples(session)
    problems = validate_samples(samples, capabilities_of(session), start_ms, end_ms)
    if problems:
        return failed(f"{len(problems)} problem(s): {problems[0]}{_more(problems, 1)}",
                      _limited(problems))
    series = list(samples)
    points = sum(len(_values_of(s)) for s in series)
    if not series:
        return passed(f"no samples in [{start_ms}, {end_ms}] (nothing to validate)")
    return passed(f"{len(series)} series, {points} samples, all declared and in the window")


def _values_of(item: Any) -> Mapping:
    values = item.get("values") if isinstance(item, Mapping) else getattr(item, "values", None)
    if isinstance(item, tuple) and not isinstance(values, Mapping):
        values = item[2]
    return values if isinstance(values, Mapping) else {}


def check_latest_perf_timestamp(session: ConformanceSession) -> Outcome:
    """The latest sample time is None or epoch milliseconds not in the future."""
    if not session.claims("get_latest_perf_timestamp"):
        return not_supported("get_latest_perf_timestamp")
    stamp = session.memo("get_latest_perf_timestamp",
                         lambda: session.call("get_latest_perf_timestamp"))
    if stamp is None:
        return passed("no performance data yet (None)")
    now_ms = int(time.time() * 1000)
    if type(stamp) is not int:
        return failed(f"get_latest_perf_timestamp must return epoch milliseconds (int) or "
                      f"None, got {type(stamp).__name__} {stamp!r:.60}")
    if stamp < _MS_PLAUSIBLE:
        return failed(f"get_latest_perf_timestamp returned {stamp}: seconds, not milliseconds?")
    if stamp > now_ms + 5 * 60 * 1000:
        return failed(f"get_latest_perf_timestamp returned {stamp}, more than 5 minutes "
                      f"ahead of now ({now_ms})")
    return passed(f"{stamp} ({(now_ms - stamp) / 1000:.0f} s ago)")


def _exercise(session: ConformanceSession) -> None:
    """Run every claimed read-only method once (memoised: free after the other checks)."""
    steps: list[Callable[[], Any]] = [lambda: fetch_storage(session)]
    steps += [lambda k=k: fetch_kind(session, k) for k in LISTED_KINDS
              if session.claims(k.list_method)]
    if session.claims("parse_alert"):
        steps.append(lambda: parsed_traps(session))
    if session.claims("list_alerts"):
        steps.append(lambda: session.memo("list_alerts",
                                          lambda: session.call("list_alerts", None)))
    if session.claims("get_capabilities"):
        steps.append(lambda: capabilities_of(session))
        if session.claims("collect_perf_metrics"):
            steps.append(lambda: perf_samples(session))
    if session.claims("get_latest_perf_timestamp"):
        steps.append(lambda: session.memo("get_latest_perf_timestamp",
                                          lambda: session.call("get_latest_perf_timestamp")))
    for step in steps:
        try:
            step()
        except CallFailed:
            continue


def _bad_access_problems(session: ConformanceSession) -> tuple[list[str], list[str]]:
    """Each bad access info must be refused with an SDK error, at construction or at the
    first get_storage, within the timeout."""
    problems: list[str] = []
    notes: list[str] = []
    for index, access_info in enumerate(session.bad_access_info):
        label = f"bad access info #{index}"
        try:
            driver = session.construct(access_info)
            session.invoke("get_storage", driver.get_storage, session.context())
        except CallFailed as failure:
            if failure.category == "sdk_error":
                notes.append(f"{label}: refused as {failure.error_category} ({failure})")
            else:
                problems.append(f"{label}: {failure}")
            continue
        problems.append(f"{label}: accepted (get_storage succeeded); expected an "
                        "Unreachable or InvalidCredential error")
    return problems, notes


def check_sdk_errors(session: ConformanceSession) -> Outcome:
    """Every exception a driver raises is one of the SDK's DriverError categories, so the
    framework can tell the operator what went wrong instead of logging a stack trace."""
    session.driver  # noqa: B018 - raises DriverUnavailable (an error result) if unbuildable
    _exercise(session)
    problems = list(dict.fromkeys(session.bare_errors))
    bad_problems, notes = _bad_access_problems(session)
    problems += bad_problems
    if problems:
        return failed(problems[0] + _more(problems, 1), _limited(problems))
    calls = len(session.calls)
    extra = f"; {len(notes)} bad access info(s) refused" if notes else ""
    return passed(f"no call raised anything but a DriverError ({calls} calls){extra}", notes)


# ---------------------------------------------------------------------------------------
# The suite


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    run: Callable[[ConformanceSession], Outcome]
    feature: str | None = None  # the claimed method that gates it (None: always runs)


def all_checks() -> list[CheckSpec]:
    """The suite, in the order it runs: declaration and storage first, errors last."""
    specs = [
        CheckSpec("declaration", "VERSION and feature claim", check_declaration),
        CheckSpec("storage", "construction and get_storage", check_storage),
    ]
    specs += [
        CheckSpec(f"inventory.{kind.name}", f"{kind.list_method} records",
                  make_inventory_check(kind), kind.list_method)
        for kind in LISTED_KINDS
    ]
    specs += [
        CheckSpec("references", "references between kinds resolve", check_references),
        CheckSpec("capacity", "used + free <= total", check_capacity),
        CheckSpec("parse_alert", "parse_alert of a trap", check_parse_alert, "parse_alert"),
        CheckSpec("list_alerts", "list_alerts records", check_list_alerts, "list_alerts"),
        CheckSpec("capabilities", "get_capabilities vocabulary", check_capabilities,
                  "get_capabilities"),
        CheckSpec("perf_metrics", "collect_perf_metrics samples", check_perf_metrics,
                  "collect_perf_metrics"),
        CheckSpec("latest_perf_timestamp", "get_latest_perf_timestamp",
                  check_latest_perf_timestamp, "get_latest_perf_timestamp"),
        CheckSpec("sdk_errors", "errors are DriverErrors", check_sdk_errors),
    ]
    return specs
