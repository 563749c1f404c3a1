"""storfleet's driver SDK: everything a driver author imports, and nothing else of storfleet.

A Delfin driver ports by changing its imports::

    from storfleet.drivers import driver      # was: from delfin.drivers import driver
    from storfleet.drivers import constants   # was: from delfin.common import constants
    from storfleet.drivers import exception   # was: from delfin import exception
    from storfleet.drivers import cryptor     # was: from delfin import cryptor

The connection helpers (``storfleet.drivers.rest``, ``storfleet.drivers.ssh``) and the
registry are imported on demand so loading one driver does not pull in paramiko.
"""

from storfleet.drivers.context import RequestContext
from storfleet.drivers.driver import (
    ALERT_FIELDS,
    INTERFACE_METHODS,
    Alert,
    StorageDriver,
    metric_struct,
)
from storfleet.drivers.exception import (
    BackendError,
    DriverError,
    DriverTimeout,
    InvalidCredential,
    NotSupported,
    Unreachable,
    UnsupportedVersion,
    category_of,
)

__all__ = [
    "ALERT_FIELDS",
    "INTERFACE_METHODS",
    "Alert",
    "BackendError",
    "DriverError",
    "DriverTimeout",
    "InvalidCredential",
    "NotSupported",
    "RequestContext",
    "StorageDriver",
    "Unreachable",
    "UnsupportedVersion",
    "category_of",
    "metric_struct",
]
