"""Delfin's published spec and its real answers (tests/api/reference), as the tests use them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

REFERENCE = Path(__file__).with_name("reference")
# Paths of the spec that Delfin really serves elsewhere (the reference README).
SERVED_ALSO_AT = {
    "/v1/storages/access-infos": "/v1/access-infos",
    "/v1/storages/snmp-configs": "/v1/snmp-configs",
}


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load((REFERENCE / "delfin-v1-openapi.yaml").read_text())


@cache
def real_answers() -> dict[str, Any]:
    return json.loads((REFERENCE / "delfin-v1-responses.json").read_text())["operations"]


def get_operations() -> list[str]:
    """Every GET path of the spec."""
    return [path for path, ops in spec()["paths"].items() if "get" in ops]


def collection_paths() -> list[str]:
    """GET paths answering a list (a body with one array property)."""
    found = []
    for path in get_operations():
        schema = response_schema(path)
        if schema is None:
            continue
        properties = schema.get("properties", {})
        if len(properties) == 1 and next(iter(properties.values())).get("type") == "array":
            found.append(path)
    return found


def resolve(node: Any) -> Any:
    """The schema with every $ref inlined (the spec has no recursive schema)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec()
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def response_schema(path: str) -> dict[str, Any] | None:
    ok = spec()["paths"][path]["get"]["responses"].get("200")
    if not ok or "content" not in ok:
        return None
    return resolve(ok["content"]["application/json"]["schema"])


# -- shapes of the real answers ---------------------------------------------------------------
_SAMPLES = {"str": "x", "int": 1, "bool": True, "float": 1.5, "NoneType": None}


def sample_of(shape: Any) -> Any:
    """A body with the shape and value types Delfin really answered."""
    if isinstance(shape, dict):
        return {k: sample_of(v) for k, v in shape.items()}
    if isinstance(shape, list):
        return [sample_of(v) for v in shape]
    return _SAMPLES[shape]


def shape_mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` lacks a key of Delfin's answer, or holds a value of another type
    (every item of a list is checked; a null has no type to compare)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where or '/'}: expected an object, got {type(actual).__name__}"]
        problems = []
        for key, sub in expected.items():
            if key not in actual:
                problems.append(f"{where}/{key}: missing")
            else:
                problems.extend(shape_mismatches(sub, actual[key], f"{where}/{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {type(actual).__name__}"]
        if not expected:
            return []
        return [
            p
            for i, item in enumerate(actual)
            for p in shape_mismatches(expected[0], item, f"{where}/{i}")
        ]
    if expected == "NoneType" or actual is None:  # a value present on both sides only
        return []
    if type(actual).__name__ != expected:
        return [f"{where}: Delfin answered {expected}, got {type(actual).__name__} {actual!r}"]
    return []


# -- validating against the spec where the spec and the real answers agree -------------------
def _errors(schema: dict[str, Any], instance: Any) -> dict[tuple, str]:
    """Errors keyed by (where, which rule[, which property]); list indices as ``*``.

    A null is never an error: the spec marks nothing nullable, yet real Delfin answers null
    for every value an array does not have (updated_at, storage_type, an FC port's ipv4).
    """
    found = {}
    for error in OAS30Validator(schema).iter_errors(instance):
        if error.validator == "type" and error.instance is None:
            continue
        at = tuple("*" if isinstance(p, int) else str(p) for p in error.absolute_path)
        rule = error.validator if error.validator != "required" else f"required {error.message}"
        found[(at, rule)] = f"/{'/'.join(at)}: {error.message[:200]}"
    return found


def spec_violations(path: str, body: Any) -> list[str]:
    """Errors of ``body`` against the spec's schema, except those Delfin's real answer
    makes too (same place, same rule): there the real answer is the contract."""
    schema = response_schema(path)
    shape = real_answers().get(path, {}).get("shape")
    if schema is None or shape is None:
        return []
    tolerated = _errors(schema, sample_of(shape))
    return [message for key, message in _errors(schema, body).items() if key not in tolerated]
