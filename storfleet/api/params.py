"""List parameters: paging, sorting and exact filters, Delfin's way or storfleet's.

Delfin's list endpoints take ``limit`` (default and cap 1000), ``offset``, ``marker`` (the
id of the last item seen), ``sort=key:dir,...`` or the older ``sort_key``/``sort_dir``, and
exact filters on documented fields; anything else is ignored. storfleet keeps that on
Delfin's paths but names what it ignored (``X-Ignored-Params``); its own endpoints refuse
an unknown parameter with a 400 naming it, because a typo silently returning everything
is worse than an error.

A :class:`Listing` is derived from a kind's declaration: its filters are the declared
filter fields (Delfin) or every field (storfleet), its sort keys every column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from storfleet.api.errors import bad_request
from storfleet.resources import STORAGE, FieldType, Kind
from storfleet.resources.fields import delfin_enums

MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1
INT64 = (-(2**63), 2**63 - 1)
PAGING = ("limit", "offset", "marker", "sort", "sort_key", "sort_dir")
DEFAULT_SORT = (("created_at", True),)
DIRECTIONS = {"asc": False, "desc": True}


@dataclass(frozen=True)
class ListQuery:
    limit: int
    offset: int = 0
    marker: str | None = None
    # (key, descending), always ending with ``id`` so the order is total.
    sort: tuple[tuple[str, bool], ...] = DEFAULT_SORT
    filters: dict[str, list[Any]] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


def _integer(name: str, text: str) -> int:
    """A 64-bit integer (what the database stores); anything else is a 400."""
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {text!r}", name) from None
    if not INT64[0] <= value <= INT64[1]:
        raise bad_request(f"{name} is out of range (64-bit integers)", name)
    return value


def _boolean(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_request(f"{name} must be true or false, got {text!r}", name)


_CONVERTERS: dict[FieldType, Callable[[str, str], Any]] = {
    FieldType.INTEGER: _integer,
    FieldType.BOOLEAN: _boolean,
}
_OPENAPI_SCHEMAS: dict[FieldType, dict[str, Any]] = {
    FieldType.INTEGER: {
        "type": "integer",
        "format": "int64",
        "minimum": INT64[0],
        "maximum": INT64[1],
    },
    FieldType.BOOLEAN: {"type": "boolean"},
}


@dataclass(frozen=True)
class FilterSpec:
    name: str
    type: FieldType = FieldType.STRING
    description: str = ""

    def convert(self, text: str) -> Any:
        converter = _CONVERTERS.get(self.type)
        return converter(self.name, text) if converter else text


class Listing:
    """The parameters one list endpoint accepts, and how strictly."""

    def __init__(
        self,
        filters: Iterable[FilterSpec],
        sort_keys: Iterable[str],
        *,
        strict: bool,
    ) -> None:
        self.filters = {f.name: f for f in filters}
        self.sort_keys = frozenset(sort_keys) | {"id"}
        self.strict = strict

    # -- parsing ------------------------------------------------------------------------
    def parse(self, params: QueryParams) -> ListQuery:
        unknown = sorted({k for k in params if k not in PAGING and k not in self.filters})
        if unknown and self.strict:
            known = ", ".join(sorted(self.filters)) or "none"
            raise bad_request(
                f"unknown parameter(s) {', '.join(unknown)} (filters here: {known})", *unknown
            )
        filters = {
            name: [self.filters[name].convert(v) for v in params.getlist(name)]
            for name in self.filters
            if name in params
        }
        return ListQuery(
            limit=self._limit(params.get("limit")),
            offset=self._offset(params.get("offset")),
            marker=params.get("marker") or None,
            sort=self._sort(params),
            filters=filters,
            ignored=tuple(unknown),
        )

    def _limit(self, text: str | None) -> int:
        if text is None:
            return MAX_LIMIT
        limit = _integer("limit", text)
        if limit < 0:
            raise bad_request(f"limit must be >= 0, got {limit}", "limit")
        if limit > MAX_LIMIT:
            if self.strict:
                raise bad_request(f"limit must be <= {MAX_LIMIT}, got {limit}", "limit")
            return MAX_LIMIT  # Delfin caps silently
        return limit

    @staticmethod
    def _offset(text: str | None) -> int:
        if text is None:
            return 0
        offset = _integer("offset", text)
        if not 0 <= offset <= MAX_OFFSET:
            raise bad_request(f"offset must be in 0..{MAX_OFFSET}, got {offset}", "offset")
        return offset

    def _sort(self, params: QueryParams) -> tuple[tuple[str, bool], ...]:
        pairs: list[tuple[str, str]] = []
        if params.get("sort"):  # wins over sort_key / sort_dir, as in Delfin
            for item in params["sort"].split(","):
                key, _, direction = item.partition(":")
                if key.strip():
                    pairs.append((key.strip(), direction.strip() or "desc"))
        elif params.get("sort_key"):
            keys = params.getlist("sort_key")
            dirs = params.getlist("sort_dir")
            for i, key in enumerate(keys):
                pairs.append((key.strip(), (dirs[i] if i < len(dirs) else "desc").strip()))
        elif params.get("sort_dir"):
            pairs.append(("created_at", params["sort_dir"].strip()))
        if not pairs:
            pairs = [("created_at", "desc")]
        order: list[tuple[str, bool]] = []
        for key, direction in pairs:
            if key not in self.sort_keys:
                shown = ", ".join(sorted(self.sort_keys))
                raise bad_request(f"unknown sort key {key!r} (sort keys: {shown})", key)
            if direction.lower() not in DIRECTIONS:
                raise bad_request(
                    f"sort direction of {key!r} must be asc or desc, got {direction!r}", key
                )
            if key not in (k for k, _ in order):
                order.append((key, DIRECTIONS[direction.lower()]))
        if "id" not in (k for k, _ in order):
            order.append(("id", order[-1][1]))  # a total order, for markers
        return tuple(order)

    # -- documentation --------------------------------------------------------------------
    def openapi_parameters(self) -> list[dict[str, Any]]:
        limit_schema: dict[str, Any] = {"type": "integer", "minimum": 0, "default": MAX_LIMIT}
        if self.strict:
            limit_schema["maximum"] = MAX_LIMIT
        paging = [
            query_param(
                "limit",
                limit_schema,
                f"Page size (default {MAX_LIMIT}"
                + (", at most 1000)" if self.strict else "; larger values are capped)"),
            ),
            query_param(
                "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "Items to skip"
            ),
            query_param("marker", {"type": "string"}, "Id of the last item of the previous page"),
            query_param(
                "sort",
                {"type": "string", "pattern": self._sort_pattern()},
                "Comma-separated key:dir (asc/desc, default desc); keys: "
                + ", ".join(sorted(self.sort_keys)),
            ),
            query_param(
                "sort_key",
                {"type": "string", "enum": sorted(self.sort_keys)},
                "Older form of sort: the key (sort wins when both are given)",
            ),
            query_param("sort_dir", {"type": "string", "enum": ["asc", "desc"]}, "With sort_key"),
        ]
        filters = [
            query_param(f.name, _OPENAPI_SCHEMAS.get(f.type, {"type": "string"}), f.description)
            for f in self.filters.values()
        ]
        return paging + filters

    def _sort_pattern(self) -> str:
        item = f"({'|'.join(sorted(self.sort_keys))})(:(asc|desc))?"
        return f"^({item}(,{item})*)?$"


def refuse_unknown(request: Any, known: Iterable[str]) -> None:
    """storfleet's own endpoints name a parameter they do not know instead of ignoring it."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise bad_request(
            f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})",
            *unknown,
        )


def query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _describe(kind: Kind, name: str) -> str:
    spec = kind.field_map.get(name)
    if spec is None:
        return {"id": "Exact id", "storage_id": "Id of the storage"}.get(name, "")
    text = spec.description or f"Exact {name}"
    if spec.enum:
        text += " (one of: " + ", ".join(delfin_enums().get(spec.enum, ())) + ")"
    return text


def _filter_spec(kind: Kind, name: str) -> FilterSpec:
    spec = kind.field_map.get(name)
    return FilterSpec(name, spec.type if spec else FieldType.STRING, _describe(kind, name))


def _framework_filters(kind: Kind) -> tuple[str, ...]:
    return ("id",) if kind is STORAGE else ("id", "storage_id")


def sort_keys_of(kind: Kind) -> tuple[str, ...]:
    return ("id", "created_at", "updated_at", *kind.field_names) + (
        () if kind is STORAGE else ("storage_id",)
    )


def delfin_listing(kind: Kind, *, scoped: bool = False) -> Listing:
    """Delfin's list: its documented exact filters; unknown parameters ignored.
    ``scoped``: the storage is in the path, so storage_id is not a filter."""
    names = [
        n for n in (*_framework_filters(kind), *kind.filters) if not (scoped and n == "storage_id")
    ]
    return Listing(
        [_filter_spec(kind, n) for n in dict.fromkeys(names)], sort_keys_of(kind), strict=False
    )


def strict_listing(kind: Kind) -> Listing:
    """storfleet's own list: every declared field filters; unknown parameters refused."""
    names = (*_framework_filters(kind), *kind.field_names)
    return Listing(
        [_filter_spec(kind, n) for n in dict.fromkeys(names)], sort_keys_of(kind), strict=True
    )
