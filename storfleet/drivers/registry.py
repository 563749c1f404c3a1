"""Finding drivers: stevedore entry points named ``"vendor model"``.

A driver package declares, in its ``pyproject.toml``::

    [project.entry-points."storfleet.drivers"]
    "acme flasharray" = "acme_storfleet.driver:AcmeDriver"

Delfin's group ``delfin.storage.drivers`` is read too, so an installed but unported
Delfin driver shows up in ``storfleet drivers list`` with the reason it cannot load,
instead of being invisible. A plugin that fails to import is reported with its error;
it never stops the others from loading.

The scan imports every driver module once and is cached; call :func:`refresh` after
installing or removing a driver package in a running process.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from stevedore import ExtensionManager

from storfleet.drivers.driver import StorageDriver
from storfleet.drivers.exception import StorageDriverNotFound

LOG = logging.getLogger(__name__)

GROUP = "storfleet.drivers"
LEGACY_GROUP = "delfin.storage.drivers"


@dataclass(frozen=True)
class DriverInfo:
    """One registered driver, loadable or not (``error`` says why not)."""

    vendor: str
    model: str
    version: str | None
    features: frozenset[str]
    max_concurrency: int | None
    module: str
    error: str | None = None
    group: str = GROUP
    target: str = field(default="", compare=False)  # the entry point's "module:Class"

    @property
    def name(self) -> str:
        """The entry point name, ``"vendor model"``."""
        return f"{self.vendor} {self.model}"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Entry:
    info: DriverInfo
    cls: type[StorageDriver] | None


_lock = threading.Lock()
_entries: dict[str, _Entry] | None = None


def _split_name(name: str) -> tuple[str, str]:
    vendor, _, model = name.strip().partition(" ")
    return vendor, model.strip()


def _describe(name: str, ep: Any, plugin: Any, error: BaseException | None, group: str) -> _Entry:
    vendor, model = _split_name(name)
    module = getattr(ep, "module", None) or str(getattr(ep, "value", "")).partition(":")[0]
    target = str(getattr(ep, "value", ""))
    if error is None and not (isinstance(plugin, type) and issubclass(plugin, StorageDriver)):
        if group == LEGACY_GROUP:
            reason = "a Delfin driver not yet ported to storfleet.drivers"
        else:
            reason = "not a subclass of storfleet.drivers.driver.StorageDriver"
        return _Entry(
            DriverInfo(vendor, model, None, frozenset(), None, module,
                       f"{target} is {reason}", group, target),
            None,
        )
    if error is not None:
        return _Entry(
            DriverInfo(vendor, model, None, frozenset(), None, module,
                       f"{type(error).__name__}: {error}", group, target),
            None,
        )
    try:
        features = plugin.supported_features()
    except Exception as exc:  # a driver bug must not break listing the others
        return _Entry(
            DriverInfo(vendor, model, None, frozenset(), None, module,
                       f"supported_features() failed: {type(exc).__name__}: {exc}", group, target),
            None,
        )
    info = DriverInfo(vendor, model, str(plugin.VERSION), features, plugin.max_concurrency,
                      module, None, group, target)
    return _Entry(info, plugin)


def _scan_group(group: str) -> dict[str, _Entry]:
    failures: list[tuple[Any, BaseException]] = []

    def on_failure(_manager: Any, ep: Any, exc: BaseException) -> None:
        failures.append((ep, exc))

    # stevedore keeps a per-process entry point cache keyed by group; drop it so a
    # refresh sees packages installed since.
    ExtensionManager.ENTRY_POINT_CACHE.pop(group, None)
    manager = ExtensionManager(group, invoke_on_load=False, on_load_failure_callback=on_failure)
    found: dict[str, _Entry] = {}
    described = [(ext.name, ext.entry_point, ext.plugin, None) for ext in manager.extensions]
    described += [(ep.name, ep, None, exc) for ep, exc in failures]
    for name, ep, plugin, exc in described:
        entry = _describe(name, ep, plugin, exc, group)
        if name in found and found[name].info.target != entry.info.target:
            clash = f"registered twice: {found[name].info.target} and {entry.info.target}"
            info = found[name].info
            entry = _Entry(
                DriverInfo(info.vendor, info.model, None, frozenset(), None, info.module,
                           clash, group, info.target),
                None,
            )
        found[name] = entry
    return found


def _load() -> dict[str, _Entry]:
    global _entries
    with _lock:
        if _entries is None:
            entries = _scan_group(LEGACY_GROUP)
            entries.update(_scan_group(GROUP))  # a storfleet registration wins a name
            for entry in entries.values():
                if entry.info.error:
                    LOG.warning("driver %r (%s) cannot be loaded: %s",
                                entry.info.name, entry.info.group, entry.info.error)
            _entries = entries
        return _entries


def refresh() -> None:
    """Forget the cached scan; the next call rescans the entry points."""
    global _entries
    with _lock:
        _entries = None


def list_drivers() -> list[DriverInfo]:
    """Every registered driver, sorted by name; broken ones carry their ``error``."""
    return [entry.info for _, entry in sorted(_load().items())]


def _not_found(vendor: str, model: str, entries: dict[str, _Entry]) -> StorageDriverNotFound:
    known = ", ".join(repr(n) for n in sorted(entries)) or "none"
    return StorageDriverNotFound(
        message=f"No storage driver registered for vendor {vendor!r} model {model!r}. "
        f"Known drivers: {known}.",
        vendor=vendor,
        model=model,
    )


def find_driver_class(vendor: str, model: str) -> type[StorageDriver]:
    """The driver class registered as ``"vendor model"``.

    Raises :class:`StorageDriverNotFound` naming the known drivers, or giving the load
    error when the driver is registered but broken.
    """
    entries = _load()
    entry = entries.get(f"{vendor} {model}")
    if entry is None:
        raise _not_found(vendor, model, entries)
    if entry.cls is None:
        raise StorageDriverNotFound(
            message=f"Storage driver {entry.info.name!r} ({entry.info.target}) is registered "
            f"but cannot be loaded: {entry.info.error}",
            vendor=vendor,
            model=model,
        )
    return entry.cls


def get_driver_info(vendor: str, model: str) -> DriverInfo:
    """The :class:`DriverInfo` of ``"vendor model"``, broken or not."""
    entries = _load()
    entry = entries.get(f"{vendor} {model}")
    if entry is None:
        raise _not_found(vendor, model, entries)
    return entry.info
