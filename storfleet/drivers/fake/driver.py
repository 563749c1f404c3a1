"""FakeStorageDriver: the simulated array behind the driver interface.

Every call first pays the configured latency and consults the fault injector, *before*
returning a lazy generator, so an injected error is raised by the call itself as a real
array's would be. One sync sees one generation: the generation is pinned by get_storage()
(or the first other call) and kept until the next get_storage() or reset_connection().
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from storfleet.drivers import driver, exception
from storfleet.drivers.context import RequestContext
from storfleet.drivers.fake import alerts, perf
from storfleet.drivers.fake.config import FakeConfig, FakeConfigError
from storfleet.drivers.fake.faults import FaultInjector, FaultSpec, break_record, break_records
from storfleet.drivers.fake.generator import FakeArray
from storfleet.drivers.fake.kinds import RELATIONS, SPECS

DEFAULT_VENDOR = "fake_storage"
DEFAULT_MODEL = "fake_driver"


class FakeStorageDriver(driver.StorageDriver):
    """A deterministic simulated array, configured by ``extra_attributes`` (the knobs
    are listed in the package docstring, :mod:`storfleet.drivers.fake`)."""

    VERSION = "1.0.0"
    max_concurrency = 4
    FEATURES = frozenset(driver.INTERFACE_METHODS)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.trap_configs: list[Mapping[str, Any]] = []
        self._configure(kwargs)

    def _configure(self, access_info: Mapping[str, Any]) -> None:
        try:
            config = FakeConfig.from_extra_attributes(access_info.get("extra_attributes"))
        except FakeConfigError as exc:
            raise exception.InvalidInput(str(exc)) from None
        self.config = config
        self.array = FakeArray(config)
        self.vendor = access_info.get("vendor") or DEFAULT_VENDOR
        self.model = access_info.get("model") or DEFAULT_MODEL
        # the class attribute is the default; an instance may accept more calls at once
        self.max_concurrency = config.max_concurrency
        self.faults = FaultInjector(config.faults)
        self.password = _password_of(access_info)
        self._pinned: int | None = None
        self._cleared: set[str] = set()

    # plumbing ---------------------------------------------------------------------------
    @property
    def pinned_generation(self) -> int | None:
        """The generation this instance answers from (None until the first call)."""
        return self._pinned

    def _generation(self) -> int:
        with self._lock:
            if self._pinned is None:
                self._pinned = self.array.generation_at()
            return self._pinned

    def _enter(self, method: str) -> FaultSpec | None:
        """Latency, then faults: raises for error faults, returns a malformed one."""
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000.0)
        if self.config.password_file:
            self._check_password(method)
        fault = self.faults.check(method)
        if fault is None or fault.type == "malformed_records":
            return fault
        where = f"fake array {self.array.serial_number}: {method}"
        if fault.type == "timeout":
            time.sleep(fault.hang_s)
            raise exception.ConnectTimeout(f"{where} did not answer within {fault.hang_s:g} s")
        if fault.type == "invalid_credentials":
            raise exception.InvalidUsernameOrPassword(f"{where} refused the credentials")
        if fault.type == "unreachable":
            raise exception.InvalidIpOrPort(f"{where}: no route to the array")
        raise exception.StorageBackendException(f"{where} failed (injected fault)")

    def _check_password(self, method: str) -> None:
        """The array's password lives in a file its "operator" may rewrite at any time."""
        path = self.config.password_file
        with open(path) as handle:
            current = handle.read().strip()
        if self.password != current:
            with open(f"{path}.refused", "a") as refused:
                refused.write(f"{time.time():.6f} {os.getpid()}\n")
            raise exception.InvalidUsernameOrPassword(
                f"fake array {self.array.serial_number}: {method} refused the credentials"
            )

    def _list(self, kind: str, method: str) -> Iterator[dict[str, Any]]:
        fault = self._enter(method)
        records = self.array.records(kind, self._generation(), self.storage_id)
        if fault is not None:
            records = break_records(records, kind, f"native_{kind}_id", fault.share)
        return records

    def _groups(self, kind: str, method: str) -> dict[str, Iterator[dict[str, Any]]]:
        fault = self._enter(method)
        result = self.array.group_records(kind, self._generation(), self.storage_id)
        if fault is not None:
            rel = RELATIONS[kind]
            groups, rels = SPECS[kind].collection, rel.key
            result[groups] = break_records(result[groups], kind, f"native_{kind}_id", fault.share)
            result[rels] = break_records(result[rels], rel.key, rel.group_field, fault.share)
        return result

    # storage and connection ---------------------------------------------------------------
    def get_storage(self, context: RequestContext) -> dict[str, Any]:
        fault = self._enter("get_storage")
        with self._lock:  # a new sync: answer from the generation in force now
            self._pinned = self.array.generation_at()
            generation = self._pinned
        storage = self.array.storage(generation, self.storage_id, self.vendor, self.model)
        if fault is not None:
            break_record(storage, "storage", "serial_number", 0)
        return storage

    def reset_connection(self, context: RequestContext, **kwargs: Any) -> None:
        """Reconnect; new access info (with extra_attributes) rebuilds the array first, so
        an update that lifts a fault lets this very call succeed."""
        if "extra_attributes" in kwargs:
            self.storage_id = kwargs.get("storage_id", self.storage_id)
            self.access_info = dict(kwargs)
            self._configure(kwargs)
        self._enter("reset_connection")
        with self._lock:
            self._pinned = None

    # inventory ------------------------------------------------------------------------------
    def list_storage_pools(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("storage_pool", "list_storage_pools")

    def list_volumes(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("volume", "list_volumes")

    def list_controllers(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("controller", "list_controllers")

    def list_ports(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("port", "list_ports")

    def list_disks(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("disk", "list_disks")

    def list_quotas(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("quota", "list_quotas")

    def list_filesystems(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("filesystem", "list_filesystems")

    def list_qtrees(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("qtree", "list_qtrees")

    def list_shares(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("share", "list_shares")

    def list_storage_host_initiators(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("storage_host_initiator", "list_storage_host_initiators")

    def list_storage_hosts(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("storage_host", "list_storage_hosts")

    def list_storage_host_groups(
        self, context: RequestContext
    ) -> dict[str, Iterator[dict[str, Any]]]:
        return self._groups("storage_host_group", "list_storage_host_groups")

    def list_port_groups(self, context: RequestContext) -> dict[str, Iterator[dict[str, Any]]]:
        return self._groups("port_group", "list_port_groups")

    def list_volume_groups(self, context: RequestContext) -> dict[str, Iterator[dict[str, Any]]]:
        return self._groups("volume_group", "list_volume_groups")

    def list_masking_views(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        return self._list("masking_view", "list_masking_views")

    # alerts ---------------------------------------------------------------------------------
    def add_trap_config(self, context: RequestContext, trap_config: Mapping[str, Any]) -> None:
        self._enter("add_trap_config")
        with self._lock:
            if trap_config not in self.trap_configs:
                self.trap_configs.append(trap_config)

    def remove_trap_config(self, context: RequestContext, trap_config: Mapping[str, Any]) -> None:
        self._enter("remove_trap_config")
        with self._lock:
            if trap_config in self.trap_configs:
                self.trap_configs.remove(trap_config)

    @staticmethod
    def parse_alert(context: RequestContext, alert: Mapping[str, Any]) -> dict[str, Any]:
        return alerts.parse_trap(alert)

    def list_alerts(
        self, context: RequestContext, query_para: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        fault = self._enter("list_alerts")
        snap = self.array.snapshot(self._generation())
        found = [
            alert
            for alert in alerts.current_alerts(
                snap, self.array.serial_number, self.config.churn_period_s
            )
            if alert["sequence_number"] not in self._cleared and alerts.in_window(alert, query_para)
        ]
        if fault is not None:
            found = list(break_records(found, "alert", "alert_id", fault.share))
        return found

    def clear_alert(self, context: RequestContext, sequence_number: str) -> None:
        self._enter("clear_alert")
        with self._lock:
            self._cleared.add(str(sequence_number))

    def get_alert_sources(self, context: RequestContext) -> list[dict[str, Any]]:
        self._enter("get_alert_sources")
        return []

    # performance ----------------------------------------------------------------------------
    def get_capabilities(
        self, context: RequestContext, filters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        self._enter("get_capabilities")
        return perf.capabilities(self.config.retention_window_s, self.config.collect_interval)

    def collect_perf_metrics(
        self,
        context: RequestContext,
        storage_id: str,
        resource_metrics: Mapping[str, Iterable[str]],
        start_time: int,
        end_time: int,
    ) -> list[Any]:
        fault = self._enter("collect_perf_metrics")
        generation = self._generation()
        sid = storage_id or self.storage_id
        series = perf.collect(
            self.array.snapshot(generation),
            self.array.storage(generation, sid, self.vendor, self.model),
            sid,
            resource_metrics,
            start_time,
            end_time,
            interval_s=self.config.perf_interval_s,
            resources_max=self.config.perf_resources_max,
        )
        if fault is not None:
            series = perf.break_series(series, fault.share)
        return series

    def get_latest_perf_timestamp(self, context: RequestContext) -> int:
        self._enter("get_latest_perf_timestamp")
        return perf.latest_timestamp(self.config.perf_interval_s)


def _password_of(access_info: Mapping[str, Any]) -> str | None:
    for block in ("rest", "ssh", "cli", "smis"):
        section = access_info.get(block)
        if isinstance(section, Mapping) and section.get("password") is not None:
            return str(section["password"])
    return None
