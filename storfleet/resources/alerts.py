"""The alert record a driver returns from parse_alert and list_alerts (Delfin's fields).

Declared like an inventory kind so the same validator checks it, but it is not an
inventory table: stored alerts (with lifecycle, counts, states) live in the framework's own
alert table.
"""

from storfleet.resources.fields import enumeration, integer, string
from storfleet.resources.kinds import Kind

ALERT = Kind(
    name="alert",
    collection="alerts",
    key=("alert_id",),
    fields=(
        string("alert_id"),
        string("alert_name"),
        enumeration("severity", "Severity"),
        enumeration("category", "Category"),
        enumeration("type", "EventType"),
        string("sequence_number"),
        integer("occur_time", description="epoch milliseconds"),
        string("description"),
        string("recovery_advice"),
        enumeration("resource_type", "ResourceType"),
        string("location"),
        string("match_key"),
        string("serial_number"),
        string("storage_name"),
        string("vendor"),
        string("model"),
        enumeration("clear_type", "ClearType"),
    ),
)
