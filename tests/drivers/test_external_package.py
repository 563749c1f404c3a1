"""A third-party driver ships as its own pip package with an entry point: once installed
it is listed by `storfleet drivers list` and registers a storage. The ported Delfin sample
driver does the same."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from storfleet.drivers import registry
from storfleet.fleet.registration import register_storage
from storfleet.store import access_infos, schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DIST = "storfleet-test-external-drivers"

ACME = '''
"""A minimal storfleet driver, as a vendor would ship it."""
from storfleet.drivers import driver, exception


class AcmeDriver(driver.StorageDriver):
    VERSION = "2.3.0"
    FEATURES = {"get_storage", "list_volumes"}

    def __init__(self, **access_info):
        super().__init__(**access_info)
        rest = access_info["rest"]
        if rest["password"] != "acme-pass":
            raise exception.InvalidCredential("acme refused the login")

    def get_storage(self, context):
        return {"name": "acme-1", "vendor": "Acme", "model": "Array9000",
                "serial_number": "ACME-0001", "status": "normal",
                "total_capacity": 10 * 2**40, "used_capacity": 2**40,
                "free_capacity": 9 * 2**40}

    def list_volumes(self, context):
        for i in range(3):
            yield {"name": f"acme-vol-{i}", "native_volume_id": f"av{i}",
                   "status": "available", "total_capacity": 2**30}
'''


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def external_package(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("external-driver")
    package = root / "storfleet_test_external"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "acme.py").write_text(textwrap.dedent(ACME))
    shutil.copy(FIXTURES / "delfin_sample_driver.py", package / "sample.py")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{DIST}"
            version = "0.1.0"

            [project.entry-points."storfleet.drivers"]
            "acme array9000" = "storfleet_test_external.acme:AcmeDriver"
            "sample_vendor sample_model" = "storfleet_test_external.sample:SampleStorageDriver"

            [tool.setuptools]
            packages = ["storfleet_test_external"]
            """
        )
    )
    _pip("install", "--no-build-isolation", "--no-deps", str(root))
    registry.refresh()
    yield root
    _pip("uninstall", "-y", DIST)
    registry.refresh()


def test_installed_package_is_listed(external_package) -> None:
    storfleet = Path(sys.executable).with_name("storfleet")
    listing = subprocess.run(
        [str(storfleet), "drivers", "list"],
        check=True,
        capture_output=True,
        text=True,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    ).stdout
    rows = {line.split("│")[1].strip(): line for line in listing.splitlines() if "│" in line}
    assert "acme" in rows and "2.3.0" in rows["acme"] and "list_volumes" in rows["acme"]
    assert "sample_vendor" in rows and "0.0.0" in rows["sample_vendor"]
    assert "fake_storage" in rows


def test_installed_package_registers_and_syncs(external_package, db, manager) -> None:
    from storfleet.sync import sync_storage

    body = {
        "vendor": "acme",
        "model": "array9000",
        "rest": {"host": "127.0.0.1", "port": 443, "username": "u", "password": "acme-pass"},
    }
    row = register_storage(manager, body)
    assert row["serial_number"] == "ACME-0001"
    result = sync_storage(db, manager, row["id"])
    assert result.state == "synced"
    assert result.kinds["volume"].total == 3
    assert result.kinds["disk"].status == "not_supported"


def test_ported_delfin_sample_registers_as_the_guide_does(external_package, db, manager):
    from storfleet.sync import sync_storage

    # Exactly the guide's curl body: vendor and model inside "rest", port as a string.
    body = {
        "rest": {
            "host": "127.0.0.1",
            "port": "22",
            "username": "username",
            "password": "password",
            "vendor": "sample_vendor",
            "model": "sample_model",
        }
    }
    row = register_storage(manager, body)
    assert row["serial_number"] == "123"  # the guide's integer serial, coerced
    assert row["name"] == "sample"
    with db.engine.connect() as conn:
        stored = access_infos.load(conn, db.keyring, row["id"])
    assert stored["vendor"] == "sample_vendor" and "vendor" not in stored["rest"]
    result = sync_storage(db, manager, row["id"])
    assert result.kinds["volume"].total == 1  # the guide's `return` inside the loop
    assert result.kinds["storage_host_group_host"].total == 4
    with db.engine.connect() as conn:
        pools = conn.execute(
            sa.select(sa.func.count()).select_from(schema.inventory["storage_pool"])
        ).scalar_one()
    assert pools == 3  # list_storage_pools returns after its loop
