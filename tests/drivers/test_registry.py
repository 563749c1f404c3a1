"""Driver discovery through real entry points.

Each test writes a throwaway ``*.dist-info`` (METADATA + entry_points.txt) and a plugin
module into a temporary directory put on ``sys.path``: importlib.metadata, and so
stevedore, find it exactly as they find a pip-installed driver package.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storfleet.drivers import exception, registry
from storfleet.drivers.driver import INTERFACE_METHODS

PluginFactory = Callable[[dict[str, list[str]], str], str]

GOOD_MODULE = """
from storfleet.drivers import driver


class AcmeDriver(driver.StorageDriver):
    VERSION = "1.4.2"
    max_concurrency = 3
    FEATURES = {"get_storage", "list_volumes"}

    def get_storage(self, context):
        return {"name": "acme"}

    def list_volumes(self, context):
        return iter(())


class NotADriver:
    pass
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginFactory]:
    """Returns ``make(entry_points, module_source) -> module name``.

    ``entry_points`` maps a group to lines ``"name = {module}:Attr"``; ``{module}`` is
    replaced by the generated module's unique name.
    """
    created: list[str] = []

    def make(entry_points: dict[str, list[str]], source: str) -> str:
        module = f"sf_test_plugin_{uuid.uuid4().hex[:12]}"
        root = tmp_path / module
        root.mkdir()
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = root / f"{module}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n"
        )
        sections = []
        for group, lines in entry_points.items():
            body = "\n".join(line.format(module=module) for line in lines)
            sections.append(f"[{group}]\n{body}\n")
        (dist_info / "entry_points.txt").write_text("\n".join(sections))
        monkeypatch.syspath_prepend(str(root))
        created.append(module)
        return module

    registry.refresh()
    yield make
    registry.refresh()
    for module in created:
        sys.modules.pop(module, None)


def _info(name: str) -> registry.DriverInfo:
    matches = [info for info in registry.list_drivers() if info.name == name]
    assert len(matches) == 1, [i.name for i in registry.list_drivers()]
    return matches[0]


def test_driver_found_through_entry_point(plugins: PluginFactory) -> None:
    module = plugins({"storfleet.drivers": ["acme flasharray = {module}:AcmeDriver"]},
                     GOOD_MODULE)
    cls = registry.find_driver_class("acme", "flasharray")
    assert cls.__name__ == "AcmeDriver" and cls.__module__ == module
    info = _info("acme flasharray")
    assert info == registry.DriverInfo(
        vendor="acme", model="flasharray", version="1.4.2",
        features=frozenset({"get_storage", "list_volumes"}), max_concurrency=3,
        module=module, error=None,
    )
    assert info.ok and info.target == f"{module}:AcmeDriver"
    assert registry.get_driver_info("acme", "flasharray") == info


def test_unknown_driver_lists_known_ones(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme flasharray = {module}:AcmeDriver"]}, GOOD_MODULE)
    with pytest.raises(exception.StorageDriverNotFound) as info:
        registry.find_driver_class("acme", "nosuchmodel")
    message = str(info.value)
    assert "'acme'" in message and "'nosuchmodel'" in message
    assert "'acme flasharray'" in message
    with pytest.raises(exception.StorageDriverNotFound):
        registry.get_driver_info("acme", "nosuchmodel")


def test_broken_plugin_reported_not_fatal(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme flasharray = {module}:AcmeDriver"]}, GOOD_MODULE)
    plugins(
        {"storfleet.drivers": ["broken box = {module}:Driver"]},
        "import storfleet_no_such_dependency_xyz\n",
    )
    broken = _info("broken box")
    assert not broken.ok
    assert "storfleet_no_such_dependency_xyz" in (broken.error or "")
    assert broken.version is None and broken.features == frozenset()
    with pytest.raises(exception.StorageDriverNotFound, match="cannot be loaded"):
        registry.find_driver_class("broken", "box")
    assert registry.find_driver_class("acme", "flasharray").__name__ == "AcmeDriver"


def test_non_driver_class_reported(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme thing = {module}:NotADriver"]}, GOOD_MODULE)
    assert "not a subclass" in (_info("acme thing").error or "")
    with pytest.raises(exception.StorageDriverNotFound):
        registry.find_driver_class("acme", "thing")


def test_missing_attribute_reported(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme ghost = {module}:Ghost"]}, GOOD_MODULE)
    assert "Ghost" in (_info("acme ghost").error or "")


@pytest.mark.filterwarnings("ignore:invalid escape sequence")  # the guide's "\\opt\\path"
def test_legacy_delfin_group_is_listed(plugins: PluginFactory) -> None:
    plugins(
        {
            "delfin.storage.drivers": [
                "oldco oldmodel = delfin.drivers.oldco.driver:OldDriver",
                "sample_vendor sample_model = "
                "tests.fixtures.delfin_sample_driver:SampleStorageDriver",
            ]
        },
        "",
    )
    old = _info("oldco oldmodel")
    assert old.group == registry.LEGACY_GROUP and not old.ok
    # a ported driver still registered under Delfin's group loads fine
    cls = registry.find_driver_class("sample_vendor", "sample_model")
    assert cls.__name__ == "SampleStorageDriver"
    assert _info("sample_vendor sample_model").features == frozenset(INTERFACE_METHODS)


def test_storfleet_group_wins_over_legacy(plugins: PluginFactory) -> None:
    plugins(
        {
            "delfin.storage.drivers": ["acme flasharray = delfin.drivers.acme:Old"],
            "storfleet.drivers": ["acme flasharray = {module}:AcmeDriver"],
        },
        GOOD_MODULE,
    )
    info = _info("acme flasharray")
    assert info.ok and info.group == registry.GROUP


def test_same_name_registered_twice_is_reported(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme twin = {module}:AcmeDriver"]}, GOOD_MODULE)
    plugins({"storfleet.drivers": ["acme twin = {module}:AcmeDriver"]}, GOOD_MODULE)
    assert "registered twice" in (_info("acme twin").error or "")


def test_scan_is_cached_until_refresh(plugins: PluginFactory) -> None:
    plugins({"storfleet.drivers": ["acme flasharray = {module}:AcmeDriver"]}, GOOD_MODULE)
    assert registry.find_driver_class("acme", "flasharray")
    plugins({"storfleet.drivers": ["acme later = {module}:AcmeDriver"]}, GOOD_MODULE)
    with pytest.raises(exception.StorageDriverNotFound):
        registry.find_driver_class("acme", "later")  # installed after the scan
    registry.refresh()
    assert registry.find_driver_class("acme", "later").__name__ == "AcmeDriver"


def test_list_is_sorted_by_name(plugins: PluginFactory) -> None:
    plugins(
        {"storfleet.drivers": ["zeta z = {module}:AcmeDriver", "alpha a = {module}:AcmeDriver"]},
        GOOD_MODULE,
    )
    names = [info.name for info in registry.list_drivers()]
    assert names == sorted(names)
    assert {"alpha a", "zeta z"} <= set(names)
