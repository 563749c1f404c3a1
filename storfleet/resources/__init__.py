"""The declarative resource model: one declaration per inventory kind.

Tables (storfleet.store.schema), API schemas (storfleet.resources.schemas), driver-output
validation (storfleet.resources.validation) and sync keys all derive from ``kinds``.
"""

from storfleet.resources.alerts import ALERT
from storfleet.resources.fields import Field, FieldType
from storfleet.resources.kinds import (
    ALL_KINDS,
    GROUP_RELATIONS,
    INVENTORY_KINDS,
    KINDS,
    STORAGE,
    Kind,
    kind_for,
)
from storfleet.resources.validation import (
    KindValidator,
    RecordRejected,
    ReferenceChecker,
    Validated,
    native_id_of,
    validate_record,
)

__all__ = [
    "ALERT",
    "ALL_KINDS",
    "GROUP_RELATIONS",
    "INVENTORY_KINDS",
    "KINDS",
    "STORAGE",
    "Field",
    "FieldType",
    "Kind",
    "KindValidator",
    "RecordRejected",
    "ReferenceChecker",
    "Validated",
    "kind_for",
    "native_id_of",
    "validate_record",
]
