"""Field declarations: what a resource attribute is, and how driver output is coerced into it.

Driver output is validated by hand-built coercers rather than a Pydantic model per record:
a sync streams up to millions of records, the rules are lenient in ways Pydantic does not
express cheaply (``""`` is absent, an unknown enum value is kept with a warning, an integer
serial number becomes a string), and a rejected record must name driver, kind, native id and
field. The coercers below are small closures; the API schemas are still Pydantic (see
``storfleet.resources.schemas``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources as importlib_resources
from typing import Any


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"  # capacities are integers in bytes
    BOOLEAN = "boolean"
    ENUM = "enum"
    REFERENCE = "reference"  # a native id of another kind in the same storage


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute of a resource kind.

    ``volatile`` fields (used capacity and the like) are kept current by sync but do not
    produce change-feed rows on their own. ``filter`` marks an exact-match filter of the
    Delfin list API. ``index`` asks the store for an index (list queries by it).
    """

    name: str
    type: FieldType = FieldType.STRING
    enum: str | None = None  # name of the Delfin enumeration (delfin_enums.json)
    ref: str | None = None  # kind a REFERENCE points at
    non_negative: bool = False
    volatile: bool = False
    filter: bool = False
    index: bool = False
    description: str = ""


def string(name: str, **kw: Any) -> Field:
    return Field(name, FieldType.STRING, **kw)


def integer(name: str, **kw: Any) -> Field:
    kw.setdefault("non_negative", True)
    return Field(name, FieldType.INTEGER, **kw)


def capacity(name: str, **kw: Any) -> Field:
    """A capacity in bytes: an integer >= 0."""
    return Field(name, FieldType.INTEGER, non_negative=True, **kw)


def boolean(name: str, **kw: Any) -> Field:
    return Field(name, FieldType.BOOLEAN, **kw)


def enumeration(name: str, enum_name: str, **kw: Any) -> Field:
    return Field(name, FieldType.ENUM, enum=enum_name, **kw)


def reference(name: str, kind: str, **kw: Any) -> Field:
    return Field(name, FieldType.REFERENCE, ref=kind, **kw)


@cache
def delfin_enums() -> dict[str, tuple[str, ...]]:
    """Delfin's enumerations (reference/delfin-enums.json, shipped in storfleet/data)."""
    text = importlib_resources.files("storfleet.data").joinpath("delfin_enums.json").read_text()
    return {name: tuple(values) for name, values in json.loads(text)["enums"].items()}


@cache
def enum_lookup(enum_name: str) -> dict[str, str]:
    """Case-insensitive lookup: lower-cased spelling -> canonical Delfin value."""
    return {v.lower(): v for v in delfin_enums()[enum_name]}
