"""Errors a driver raises, and Delfin's names for them.

The framework does not care which of Delfin's ~50 exception classes a driver raised: it
keys on six categories (``Unreachable``, ``InvalidCredential``, ``UnsupportedVersion``,
``NotSupported``, ``BackendError``, ``DriverTimeout``) to tell the operator why a
registration failed, or to record "not supported" instead of failing a sync. Delfin's
names are kept as subclasses of those categories so a ported driver's
``raise exception.InvalidUsernameOrPassword()`` lands in the right bucket unchanged.

Use :func:`category_of` rather than ``isinstance`` chains: it also classifies plain
Python errors (``NotImplementedError``, ``TimeoutError``, ``ConnectionError``).
"""

from __future__ import annotations

import re
import string
from typing import Any

_PLACEHOLDER = re.compile(r"[:\s]*\{[^{}]*\}")


class DriverError(Exception):
    """Base of every SDK error (Delfin's ``DelfinException``).

    ``msg_fmt`` is formatted with the positional and keyword arguments, as in Delfin
    (``StorageBackendException("disk 3 failed")``). Keyword arguments are kept in
    ``self.kwargs`` so callers can read structured details (``status``, ``host``...).
    """

    msg_fmt = "An unknown exception occurred."
    code = 500
    category = "error"

    def __init__(self, *args: Any, message: str | None = None, **kwargs: Any) -> None:
        self.error_args = args
        self.kwargs = kwargs
        self.msg = str(message) if message is not None else self._format(args, kwargs)
        super().__init__(self.msg)

    @classmethod
    def _format(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        fmt = cls.msg_fmt
        has_fields = any(field is not None for _, field, _, _ in string.Formatter().parse(fmt))
        if not has_fields:
            # Delfin silently dropped arguments a placeholder-less message had no room for;
            # an operator needs them, so append.
            extra = " ".join(str(a) for a in args)
            return f"{fmt} {extra}".strip() if extra else fmt
        try:
            return fmt.format(*args, **kwargs)
        except (IndexError, KeyError, ValueError):
            base = _PLACEHOLDER.sub("", fmt).strip()
            extra = " ".join(str(a) for a in args)
            return f"{base} {extra}".strip() if extra else base

    @property
    def error_code(self) -> str:
        """Delfin's machine-readable code: the class name."""
        return type(self).__name__


DelfinException = DriverError


# --- the six categories the framework keys on ----------------------------------------

class Unreachable(DriverError):
    """The array cannot be reached (DNS, refused, no route, TLS handshake)."""

    msg_fmt = "Storage unreachable: {0}"
    code = 400
    category = "unreachable"


class Invalid(DriverError):
    """Delfin's base for unacceptable parameters (HTTP 400)."""

    msg_fmt = "Unacceptable parameters."
    code = 400


class InvalidCredential(Invalid):
    """The array refused the credentials (or we refused the array's identity)."""

    msg_fmt = "The credentials are invalid."
    category = "invalid_credential"


class UnsupportedVersion(DriverError):
    """The array's firmware/API version is not one this driver supports."""

    msg_fmt = "Unsupported storage version: {0}"
    code = 400
    category = "unsupported_version"


class NotSupported(DriverError):
    """The driver does not implement this feature; the framework records, not fails."""

    msg_fmt = "Not supported: {0}"
    code = 501
    category = "not_supported"


class BackendError(DriverError):
    """The array answered, but with an error or something unusable."""

    msg_fmt = "Exception from storage backend: {0}"
    category = "backend_error"


class DriverTimeout(DriverError):
    """A call to the array did not finish in time."""

    msg_fmt = "Timed out: {0}"
    category = "timeout"


CATEGORIES: dict[str, type[DriverError]] = {
    cls.category: cls
    for cls in (Unreachable, InvalidCredential, UnsupportedVersion, NotSupported,
                BackendError, DriverTimeout)
}


# --- Delfin's names, filed under the categories ---------------------------------------
# Unreachable
class InvalidIpOrPort(Unreachable):
    msg_fmt = "Invalid ip or port."


# InvalidCredential
class InvalidUsernameOrPassword(InvalidCredential):
    msg_fmt = "Invalid username or password."


class NotAuthorized(InvalidCredential):
    msg_fmt = "Not authorized."
    code = 403


class InvalidPrivateKey(InvalidCredential):
    msg_fmt = "not a valid RSA private key."


class UntrustedServer(InvalidCredential):
    """The server's identity (TLS certificate, SSH host key) is not the one trusted."""

    msg_fmt = "Server identity not trusted: {0}"


class SSLCertificateFailed(UntrustedServer):
    msg_fmt = "SSL Certificate Failed. {0}"


class SSLHandshakeFailed(UntrustedServer):
    msg_fmt = "SSL handshake failure. {0}"


class SSHNotFoundKnownHosts(UntrustedServer):
    msg_fmt = "{0} not found in known_hosts."


class SSHHostKeyRejected(UntrustedServer):
    """Carries ``offered_fingerprint`` (SHA256:...) so the operator can compare it."""

    msg_fmt = "SSH host key rejected: {0}"

    @property
    def offered_fingerprint(self) -> str | None:
        return self.kwargs.get("offered_fingerprint")


# NotSupported
class NotImplementedException(NotSupported):
    msg_fmt = "Not implemented: {0}"


class StorageCapabilityNotSupported(NotSupported):
    msg_fmt = "Capability feature not supported by storage"


# BackendError
class StorageBackendException(BackendError):
    msg_fmt = "Exception from Storage Backend: {0}."


class StorageBackendNotFound(BackendError):
    msg_fmt = "Storage backend could not be found."
    code = 404


class BadResponse(BackendError):
    msg_fmt = "Bad response from server"


class InvalidResults(BackendError):
    msg_fmt = "The results are invalid. {0}"


class SSHException(BackendError):
    msg_fmt = "Exception in SSH protocol negotiation or logic. {0}"


class StorageListAlertFailed(BackendError):
    msg_fmt = "Failed to list alerts. Reason: {0}."


class StorageClearAlertFailed(BackendError):
    msg_fmt = "Failed to clear alert. Reason: {0}."


class StoragePerformanceCollectionFailed(BackendError):
    msg_fmt = "Failed to collect performance metrics. Reason: {0}."


# DriverTimeout
class ConnectTimeout(DriverTimeout):
    msg_fmt = "Connect timeout."


class SSHConnectTimeout(DriverTimeout):
    msg_fmt = "SSH connect timeout."


class HTTPConnectionTimeout(DriverTimeout):
    msg_fmt = "HTTP connection timeout: {0}."


# Invalid input (no category of its own: the framework answers 400 with the message)
class BadRequest(Invalid):
    msg_fmt = "The server could not comply with the request: {0}"


class InvalidInput(Invalid):
    msg_fmt = "Invalid input received. {0}"


class InvalidSNMPConfig(Invalid):
    msg_fmt = "Invalid SNMP configuration: {0}"


class StorageSerialNumberMismatch(Invalid):
    msg_fmt = "Storage serial number mismatch. {0}"


class StorageAlreadyExists(Invalid):
    msg_fmt = "Storage already exists."


class InvalidCAPath(Invalid):
    msg_fmt = "Invalid CA path: {0}."


class SSHInjectionThreat(Invalid):
    msg_fmt = "SSH command injection detected: {0}."


class IncompleteTrapInformation(Invalid):
    msg_fmt = (
        "Incomplete trap information. Storage {0} alert information needs to be synchronized."
    )


class TrapInformationNotMatch(Invalid):
    msg_fmt = "Trap information does not match storage {0}."


# Not found
class NotFound(DriverError):
    msg_fmt = "Resource could not be found."
    code = 404


class StorageNotFound(NotFound):
    msg_fmt = "Storage {0} could not be found."


class StorageDriverNotFound(NotFound):
    """Raised by the registry when no driver is registered under "vendor model"."""

    msg_fmt = "Storage driver '{0}' could not be found."


def category_of(exc: BaseException) -> str:
    """The category name the framework reports for ``exc``.

    One of ``CATEGORIES`` keys, or ``"error"`` for anything else (a driver bug, an
    uncategorised ``DriverError``).
    """
    if isinstance(exc, DriverError):
        return exc.category
    if isinstance(exc, NotImplementedError):
        return NotSupported.category
    if isinstance(exc, TimeoutError):
        return DriverTimeout.category
    if isinstance(exc, ConnectionError):
        return Unreachable.category
    return DriverError.category
