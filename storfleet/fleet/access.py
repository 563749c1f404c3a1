"""The access info an operator gives: normalised before it is verified and stored."""

from __future__ import annotations

import copy
from typing import Any

BLOCKS = ("rest", "ssh", "cli", "smis")


class InvalidAccessInfo(ValueError):
    pass


def normalize(body: dict[str, Any]) -> dict[str, Any]:
    """Delfin's two forms to one: vendor and model at the top level (the design doc) or
    inside the ``rest`` block (the driver guide's curl example)."""
    info = copy.deepcopy(body)
    for key in ("vendor", "model"):
        if not info.get(key):
            for block in BLOCKS:
                section = info.get(block)
                if isinstance(section, dict) and section.get(key):
                    info[key] = section[key]
                    break
        for block in BLOCKS:
            section = info.get(block)
            if isinstance(section, dict):
                section.pop(key, None)
    missing = [key for key in ("vendor", "model") if not info.get(key)]
    if missing:
        raise InvalidAccessInfo(f"access info needs {' and '.join(missing)}")
    if not any(isinstance(info.get(block), dict) and info[block] for block in BLOCKS):
        raise InvalidAccessInfo("access info needs at least one of rest, ssh, cli, smis")
    for block in BLOCKS:
        section = info.get(block)
        if section is None:
            info.pop(block, None)
            continue
        if not isinstance(section, dict):
            raise InvalidAccessInfo(f"{block} must be an object")
        port = section.get("port")
        if isinstance(port, str) and port.strip().isdigit():
            section["port"] = int(port)
    extra = info.get("extra_attributes")
    if extra is None:
        info["extra_attributes"] = {}
    elif not isinstance(extra, dict):
        raise InvalidAccessInfo("extra_attributes must be an object")
    return info


def driver_name(info: dict[str, Any]) -> str:
    return f"{info['vendor']} {info['model']}"
