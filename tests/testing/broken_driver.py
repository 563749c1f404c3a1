"""A deliberately broken driver: one defect per conformance check, nothing else wrong.

Each defect is named in a comment and in ``DEFECTS`` (check id -> text the failure reason
must contain), so the test can assert that every check it breaks fails for that reason
and that every check it does not break passes.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from storfleet.drivers.driver import StorageDriver, metric_struct

# check id -> a fragment the failure reason must contain
DEFECTS: dict[str, str] = {
    "inventory.storage_pool": "duplicate storage_pool native ids: 'pool-1' x2",
    "inventory.volume": "total_capacity must be an integer >= 0, got -10",
    "inventory.disk": "list_disks raised bare ValueError: disk enclosure parse error",
    "references": "native_parent_id 'ctrl-9' refers to no controller",
    "capacity": "filesystem 'fs-1': used 80 + free 40 > total 100",
    "parse_alert": "alert lacks required alert_id",
    "list_alerts": "severity '3' is not a known Severity value",
    "capabilities": "wrong unit 'ops/s', expected 'IOPS'",
    "perf_metrics": "outside the asked window",
    "sdk_errors": "list_disks raised bare ValueError",
}
# Checks the defects above must not break.
SOUND_CHECKS = ("declaration", "storage", "inventory.controller", "inventory.port",
                "inventory.filesystem")


class BrokenDriver(StorageDriver):
    VERSION = "0.1.0"
    FEATURES = frozenset({
        "get_storage",
        "list_storage_pools",
        "list_volumes",
        "list_controllers",
        "list_ports",
        "list_disks",
        "list_filesystems",
        "parse_alert",
        "list_alerts",
        "get_capabilities",
        "collect_perf_metrics",
    })

    def get_storage(self, context: Any) -> dict[str, Any]:
        return {
            "name": "broken", "vendor": "broken_vendor", "model": "broken_model",
            "status": "normal", "serial_number": "BRK-0001", "firmware_version": "1.0",
            "total_capacity": 1000, "used_capacity": 400, "free_capacity": 600,
        }

    def list_storage_pools(self, context: Any) -> list[dict[str, Any]]:
        # Defect: two pools share a native id.
        return [
            _pool("pool-1", "first"), _pool("pool-2", "second"), _pool("pool-1", "again"),
        ]

    def list_volumes(self, context: Any) -> list[dict[str, Any]]:
        # Defect: a negative capacity.
        return [
            _volume("vol-1", total=100, used=10, free=90),
            _volume("vol-neg", total=-10, used=0, free=0),
        ]

    def list_controllers(self, context: Any) -> list[dict[str, Any]]:
        return [{"name": "ctrl A", "native_controller_id": "ctrl-1", "status": "normal"}]

    def list_ports(self, context: Any) -> list[dict[str, Any]]:
        # Defect: the second port's controller does not exist.
        return [
            {"name": "port 1", "native_port_id": "port-1", "native_parent_id": "ctrl-1",
             "type": "fc", "health_status": "normal"},
            {"name": "port 2", "native_port_id": "port-2", "native_parent_id": "ctrl-9",
             "type": "fc", "health_status": "normal"},
        ]

    def list_disks(self, context: Any) -> list[dict[str, Any]]:
        # Defect: a plain Python exception instead of a storfleet DriverError.
        raise ValueError("disk enclosure parse error")

    def list_filesystems(self, context: Any) -> list[dict[str, Any]]:
        # Defect: used + free exceed total (each value is valid on its own).
        return [{"name": "fs one", "native_filesystem_id": "fs-1", "native_pool_id": "pool-2",
                 "status": "normal", "total_capacity": 100, "used_capacity": 80,
                 "free_capacity": 40}]

    @staticmethod
    def parse_alert(context: Any, alert: Any) -> dict[str, Any]:
        # Defect: no alert_id, and a severity of the wrong type.
        return {"alert_name": "disk failed", "severity": ["Major"], "category": "Fault",
                "type": "EquipmentAlarm", "occur_time": int(time.time() * 1000),
                "description": "disk 3 failed", "resource_type": "storage"}

    def list_alerts(self, context: Any, query_para: Any = None) -> list[dict[str, Any]]:
        # Defect: a numeric severity, not one of Delfin's names.
        return [{"alert_id": "0x01", "alert_name": "fan", "severity": 3,
                 "category": "Fault", "type": "EquipmentAlarm", "sequence_number": "17",
                 "occur_time": int(time.time() * 1000), "description": "fan 2 slow",
                 "resource_type": "storage"}]

    CAPABILITIES: ClassVar[dict[str, Any]] = {
        "is_historic": True,
        "resource_metrics": {
            "storage": {
                "throughput": {"unit": "MB/s", "description": "Total data per second"},
                # Defect: not a metric of Delfin's vocabulary.
                "latency": {"unit": "ms", "description": "Latency"},
            },
            # Defect: iops is counted in IOPS.
            "volume": {"iops": {"unit": "ops/s", "description": "Operations per second"}},
        },
    }

    def get_capabilities(self, context: Any, filters: Any = None) -> dict[str, Any]:
        return self.CAPABILITIES

    def collect_perf_metrics(
        self, context: Any, storage_id: str, resource_metrics: Any, start_time: int,
        end_time: int,
    ) -> list[Any]:
        # Defect: one sample a minute before the asked window.
        labels = {"storage_id": storage_id, "resource_type": "storage",
                  "resource_id": "BRK-0001", "type": "RAW", "unit": "MB/s"}
        return [metric_struct("throughput", labels,
                              {start_time - 60_000: 12.5, end_time: 13.0})]


def _pool(native_id: str, name: str) -> dict[str, Any]:
    return {"name": name, "native_storage_pool_id": native_id, "status": "normal",
            "total_capacity": 500, "used_capacity": 100, "free_capacity": 400}


def _volume(native_id: str, *, total: int, used: int, free: int) -> dict[str, Any]:
    return {"name": native_id, "native_volume_id": native_id, "status": "available",
            "native_storage_pool_id": "pool-2", "total_capacity": total,
            "used_capacity": used, "free_capacity": free}


class MinimalDriver(StorageDriver):
    """Claims nothing beyond get_storage: every feature check must say "not supported"."""

    VERSION = "1.0.0"
    FEATURES = frozenset({"get_storage"})

    def get_storage(self, context: Any) -> dict[str, Any]:
        return {"name": "minimal", "vendor": "minimal", "model": "m1", "status": "normal",
                "serial_number": "MIN-1", "total_capacity": 10, "used_capacity": 0,
                "free_capacity": 10}
