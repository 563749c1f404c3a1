"""The driver conformance kit: one suite for every driver, gated on what it claims.

Use it from the command line (``storfleet drivers check VENDOR MODEL``), from pytest
(``pytest --storfleet-driver "VENDOR MODEL"``, see ``storfleet.testing.plugin``) or from
Python (``run_conformance(DriverClass, access_info)``).

The names below are imported lazily: the pytest plugin lives in this package and is
loaded into every pytest run, so importing the package must cost nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_conformance": "storfleet.testing.runner",
    "check_command": "storfleet.testing.runner",
    "load_access_info": "storfleet.testing.runner",
    "default_access_info": "storfleet.testing.runner",
    "load_driver_class": "storfleet.testing.runner",
    "Report": "storfleet.testing.report",
    "CheckResult": "storfleet.testing.report",
    "MethodCall": "storfleet.testing.report",
    "Status": "storfleet.testing.report",
    "all_checks": "storfleet.testing.checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
