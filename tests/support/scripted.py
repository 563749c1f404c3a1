"""A driver whose answers a test scripts: precise control for the sync and registration
tests (the fake array covers scale and realism). The script is chosen by
``extra_attributes.script`` and lives in this process (SCRIPTS), so tests can change what
the "array" reports between two syncs."""

from __future__ import annotations

import threading
import time
from typing import Any

from storfleet.drivers import driver, exception

SCRIPTS: dict[str, dict[str, Any]] = {}
# Every constructor call (credentials seen), for the driver-manager tests.
CONSTRUCTED: list[dict[str, Any]] = []

KIND_METHODS = {
    "storage_pool": "list_storage_pools",
    "volume": "list_volumes",
    "controller": "list_controllers",
    "port": "list_ports",
    "disk": "list_disks",
    "quota": "list_quotas",
    "filesystem": "list_filesystems",
    "qtree": "list_qtrees",
    "share": "list_shares",
    "storage_host_initiator": "list_storage_host_initiators",
    "storage_host": "list_storage_hosts",
    "storage_host_group": "list_storage_host_groups",
    "port_group": "list_port_groups",
    "volume_group": "list_volume_groups",
    "masking_view": "list_masking_views",
}


def new_script(name: str, serial: str = "SCRIPTED-1", **kinds: Any) -> dict[str, Any]:
    script = {
        "storage": {
            "name": name,
            "vendor": "storfleet_test",
            "model": "scripted",
            "serial_number": serial,
            "status": "normal",
            "total_capacity": 1000,
            "used_capacity": 400,
            "free_capacity": 600,
        },
        "password": "pw-right-7731",
        "fail": {},  # method -> exception instance to raise
        "hang": {},  # method -> seconds to sleep before answering
        "calls": [],
        **kinds,
    }
    SCRIPTS[name] = script
    return script


class ScriptedDriver(driver.StorageDriver):
    VERSION = "1.0.0"
    max_concurrency = 2
    FEATURES = frozenset({"get_storage", *KIND_METHODS.values()})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        extra = kwargs.get("extra_attributes") or {}
        self.script = SCRIPTS[extra["script"]]
        rest = kwargs.get("rest") or {}
        CONSTRUCTED.append({"script": extra["script"], "password": rest.get("password")})
        if rest.get("password") != self.script["password"]:
            raise exception.InvalidCredential("wrong password for the scripted array")
        self.lock = threading.Lock()

    def _answer(self, method: str, value: Any) -> Any:
        self.script["calls"].append(method)
        delay = self.script["hang"].get(method)
        if delay:
            time.sleep(delay)
        error = self.script["fail"].get(method)
        if error is not None:
            raise error
        return value

    def get_storage(self, context: Any) -> dict[str, Any]:
        return self._answer("get_storage", dict(self.script["storage"]))



def _lister(kind: str, method: str) -> Any:
    def list_kind(self: ScriptedDriver, context: Any) -> Any:
        return self._answer(method, self.script.get(kind, []))

    list_kind.__name__ = method
    return list_kind


for _kind, _method in KIND_METHODS.items():
    setattr(ScriptedDriver, _method, _lister(_kind, _method))
