"""Validation of driver output against the resource declarations.

Strict where data would be wrong, lenient where real drivers are sloppy:

* rejected: a value of a type that cannot be coerced, a missing native id, a negative
  capacity. The message names driver, kind, native id and field.
* accepted with a warning: an enumeration value Delfin does not know (kept as given), an
  unknown key (ignored), a dangling reference (arrays report them; see ReferenceChecker).
* accepted silently: ``""`` (absent), an enumeration in another case (``Normal``), an
  integer where a string is declared (``serial_number: 123``), keys the framework owns
  (``id``, ``storage_id``, ``created_at``...) and keys a kind ignores by declaration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from storfleet.resources.fields import Field, FieldType, delfin_enums, enum_lookup
from storfleet.resources.kinds import FRAMEWORK_KEYS, KINDS, Kind


class RecordRejected(ValueError):
    """A driver record that cannot be stored; ``str()`` is the operator-facing message."""

    def __init__(
        self,
        kind: str,
        native_id: str | None,
        field_name: str | None,
        reason: str,
        driver: str | None = None,
    ) -> None:
        self.kind = kind
        self.native_id = native_id
        self.field = field_name
        self.reason = reason
        self.driver = driver
        where = f"{kind} {native_id!r}" if native_id is not None else f"{kind} (no native id)"
        prefix = f"driver {driver!r}: " if driver else ""
        detail = f"{field_name} {reason}" if field_name else reason
        super().__init__(f"{prefix}{where}: {detail}")


class _Bad(Exception):
    """Raised by a coercer: the value cannot be coerced (message completes 'field ...')."""


class _UnknownEnum(Exception):
    def __init__(self, value: str) -> None:
        self.value = value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float or kind is Decimal:
        return str(value)
    if kind is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise _Bad(f"must be text, got undecodable bytes {_shown(value)}") from None
    raise _Bad(f"must be a string, got {type(value).__name__} {_shown(value)}")


def _integer_coercer(non_negative: bool) -> Callable[[Any], int]:
    expectation = "an integer >= 0" if non_negative else "an integer"

    def coerce(value: Any) -> int:
        kind = type(value)
        if kind is int:
            number = value
        elif kind is bool:
            raise _Bad(f"must be {expectation}, got a boolean {value!r}")
        elif kind is float or kind is Decimal:
            if not math.isfinite(value):
                raise _Bad(f"must be {expectation}, got {_shown(value)}")
            number = round(value)
        elif kind is str:
            text = value.strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    as_float = float(text)
                except ValueError:
                    raise _Bad(f"must be {expectation}, got {_shown(value)}") from None
                if not math.isfinite(as_float):
                    raise _Bad(f"must be {expectation}, got {_shown(value)}") from None
                number = round(as_float)
        else:
            raise _Bad(f"must be {expectation}, got {type(value).__name__} {_shown(value)}")
        if non_negative and number < 0:
            raise _Bad(f"must be {expectation}, got {_shown(value)}")
        return number

    return coerce


_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def _to_boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Bad(f"must be a boolean, got {_shown(value)}")


def _enum_coercer(enum_name: str) -> Callable[[Any], str]:
    lookup = enum_lookup(enum_name)

    def coerce(value: Any) -> str:
        text = _to_string(value)
        canonical = lookup.get(text.lower())
        if canonical is None:
            raise _UnknownEnum(text)
        return canonical

    return coerce


def coercer_for(spec: Field) -> Callable[[Any], Any]:
    if spec.type is FieldType.INTEGER:
        return _integer_coercer(spec.non_negative)
    if spec.type is FieldType.BOOLEAN:
        return _to_boolean
    if spec.type is FieldType.ENUM:
        assert spec.enum is not None
        return _enum_coercer(spec.enum)
    return _to_string  # STRING and REFERENCE


@dataclass
class Validated:
    """A clean record (every declared field, ``None`` where absent) and its warnings."""

    record: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# Fast-path codes: how a value that is already of the declared type is recognised.
_FAST_STRING, _FAST_INTEGER, _FAST_NON_NEGATIVE, _FAST_BOOLEAN, _FAST_ENUM = range(5)


def _fast_code(spec: Field) -> int:
    if spec.type is FieldType.INTEGER:
        return _FAST_NON_NEGATIVE if spec.non_negative else _FAST_INTEGER
    if spec.type is FieldType.BOOLEAN:
        return _FAST_BOOLEAN
    if spec.type is FieldType.ENUM:
        return _FAST_ENUM
    return _FAST_STRING


class KindValidator:
    """Validates records of one kind; build once per sync, call per record.

    Each field has a fast path for a value already of its declared type (a plain str, an
    int >= 0, a canonical enum spelling...) and falls back to its coercer otherwise; the
    fast path is what keeps validation near 2 µs per record on a million-record sync.
    """

    def __init__(self, kind: Kind, driver: str | None = None) -> None:
        self.kind = kind
        self.driver = driver
        self._plan = tuple(
            (
                f.name,
                _fast_code(f),
                coercer_for(f),
                frozenset(delfin_enums()[f.enum]) if f.enum else frozenset(),
            )
            for f in kind.fields
        )
        self._known = frozenset(kind.field_names) | FRAMEWORK_KEYS | kind.ignored
        self._enum_of = {f.name: f.enum for f in kind.fields if f.enum}

    def _native_id_of(self, record: Mapping[str, Any]) -> str | None:
        values = [record.get(name) for name in self.kind.key]
        if any(v is None or v == "" for v in values):
            return None
        return "/".join(str(v) for v in values)

    def validate(self, record: Any, position: int | None = None) -> Validated:
        kind = self.kind
        if not isinstance(record, Mapping):
            where = f" #{position}" if position is not None else ""
            raise RecordRejected(
                kind.name,
                None,
                None,
                f"record{where} must be a mapping, got {type(record).__name__}",
                self.driver,
            )
        get = record.get
        clean: dict[str, Any] = {}
        warnings: list[str] = []
        for name, fast, coerce, canonical in self._plan:
            value = get(name)
            if value is None:
                clean[name] = None
                continue
            kind_of = type(value)
            if fast == _FAST_STRING:
                if kind_of is str:
                    clean[name] = value or None
                    continue
            elif fast == _FAST_ENUM:
                if kind_of is str and value in canonical:
                    clean[name] = value
                    continue
            elif fast == _FAST_NON_NEGATIVE:
                if kind_of is int and value >= 0:
                    clean[name] = value
                    continue
            elif fast == _FAST_INTEGER:
                if kind_of is int:
                    clean[name] = value
                    continue
            elif kind_of is bool:
                clean[name] = value
                continue
            if value == "":
                clean[name] = None
                continue
            try:
                clean[name] = coerce(value)
            except _UnknownEnum as unknown:
                clean[name] = unknown.value
                enum_name = self._enum_of[name]
                allowed = ", ".join(delfin_enums()[enum_name])
                warnings.append(
                    f"{kind.name} {self._native_id_of(record)!r}: {name} {unknown.value!r} is "
                    f"not a known {enum_name} value ({allowed}); stored as given"
                )
            except _Bad as bad:
                raise RecordRejected(
                    kind.name, self._native_id_of(record), name, str(bad), self.driver
                ) from None
        for name in kind.key:
            if clean[name] is None:
                label = f"record #{position}" if position is not None else "record"
                hint = f" (name {clean['name']!r})" if clean.get("name") else ""
                raise RecordRejected(
                    kind.name, None, name, f"is missing in {label}{hint}", self.driver
                )
        if not self._known.issuperset(record.keys()):
            native_id = self._native_id_of(record)
            warnings.extend(
                f"{kind.name} {native_id!r}: unknown field {key!r} ignored"
                for key in sorted(map(str, record.keys() - self._known))
            )
        return Validated(clean, warnings)


def validate_record(kind: str | Kind, record: Any, driver: str | None = None) -> Validated:
    """Validate one record (convenience; a sync builds a KindValidator once instead)."""
    spec = KINDS[kind] if isinstance(kind, str) else kind
    return KindValidator(spec, driver).validate(record)


def native_id_of(kind: Kind, record: Mapping[str, Any]) -> str | tuple[str, ...]:
    """The sync key of a clean record: a string, or a tuple for relations."""
    if len(kind.key) == 1:
        return record[kind.key[0]]
    return tuple(record[name] for name in kind.key)


class ReferenceChecker:
    """Finds dangling references once every kind of a storage has been fetched.

    References are not foreign keys: arrays do report dangling ones, so they are warnings.
    """

    def __init__(self, known_ids: Mapping[str, Iterable[str]]) -> None:
        self.known = {name: set(ids) for name, ids in known_ids.items()}

    def check(self, kind: Kind, records: Iterable[Mapping[str, Any]]) -> list[str]:
        warnings: list[str] = []
        refs = [(f.name, f.ref) for f in kind.references if f.ref in self.known]
        if not refs:
            return warnings
        for record in records:
            for name, target in refs:
                value = record.get(name)
                if value is not None and value not in self.known[target]:
                    own = "/".join(str(record.get(k)) for k in kind.key)
                    warnings.append(
                        f"{kind.name} {own!r}: {name} {value!r} refers to no {target} "
                        "of this storage"
                    )
        return warnings
