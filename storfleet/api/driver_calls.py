"""Live calls to a storage's driver from the API (Delfin's live alert list, capabilities).

A failing array is not the client's fault, so its errors are 5xx with Delfin's body and the
reason (502 the array failed or refused, 504 it did not answer in time, 501 the driver
does not do this); a wrong argument the driver rejects is a 400, an unknown item a 404.
Registration failures are different: the operator gave the address and credentials, so
they are 400s naming the reason (see ``registration_error``).
"""

from __future__ import annotations

import logging
from typing import Any

from storfleet.api.errors import ApiError, storage_not_found
from storfleet.drivers import exception
from storfleet.fleet.manager import DriverManager, StorageGone
from storfleet.fleet.registration import RegistrationError

log = logging.getLogger(__name__)

_CATEGORY_STATUS = {"not_supported": 501, "timeout": 504}


def driver_error(exc: BaseException, what: str) -> ApiError:
    category = exception.category_of(exc)
    code = getattr(exc, "error_code", None) or type(exc).__name__
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, exception.NotFound):
        return ApiError(404, code, f"{what}: {detail}")
    if isinstance(exc, exception.Invalid) and category == "error":
        return ApiError(400, code, f"{what}: {detail}")
    status = _CATEGORY_STATUS.get(category, 502)
    if category == "error" and not isinstance(exc, exception.DriverError):
        log.warning("%s: driver bug", what, exc_info=exc)
        detail = f"driver bug: {type(exc).__name__}: {detail}"
    return ApiError(status, code, f"{what} failed ({category}): {detail}", category)


def call_driver(manager: DriverManager, storage_id: str, method: str, *args: Any) -> Any:
    """``manager.call`` with its failures turned into API errors (blocking: threadpool)."""
    try:
        return manager.call(storage_id, method, *args)
    except StorageGone:
        raise storage_not_found(storage_id) from None
    except Exception as exc:
        raise driver_error(exc, f"{method} on storage {storage_id}") from exc


# RegistrationError.reason -> (status, Delfin's error code)
_REGISTRATION = {
    "invalid_access_info": (400, "InvalidInput"),
    "unknown_driver": (400, "StorageDriverNotFound"),
    "unreachable": (400, "InvalidIpOrPort"),
    "invalid_credential": (400, "InvalidUsernameOrPassword"),
    "unsupported_version": (400, "UnsupportedVersion"),
    "timeout": (400, "ConnectTimeout"),
    "backend_error": (400, "StorageBackendException"),
    "invalid_storage": (400, "InvalidResults"),
    "already_registered": (409, "StorageAlreadyExists"),
    "serial_mismatch": (400, "StorageSerialNumberMismatch"),
    "not_found": (404, "StorageNotFound"),
}


def registration_error(exc: RegistrationError) -> ApiError:
    """The reason travels in error_args[0], stable for scripts."""
    status, code = _REGISTRATION.get(exc.reason, (400, "InvalidInput"))
    return ApiError(status, code, str(exc), exc.reason)
