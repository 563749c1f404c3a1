"""A REST client for drivers: safe defaults, so every driver need not rediscover them.

Built from an access-info ``rest`` block::

    {"host": "10.0.0.5", "port": 8443, "username": "admin", "password": "...",
     "verify": true, "ca_bundle": "/etc/storfleet/acme-ca.pem", "timeout": 30}

* TLS certificates are verified unless the block says ``verify: false`` explicitly
  (then a warning, without secrets, is logged once per host).
* Every request has a connect and a read timeout (invariant: one slow array never
  stalls the others), capped by the request context's deadline.
* Idempotent requests are retried with back-off on connection errors and 502/503/504.
  A read timeout is not retried by default: a slow array is reported, not hammered.
* ``login()`` is a hook: the default sends HTTP basic auth; a subclass obtains a
  session token instead. On a 401 the client logs in again once and retries.
* Errors come out as the SDK's categories (``Unreachable``, ``DriverTimeout``,
  ``InvalidCredential``, ``BackendError``) naming host:port, never a password.
* Environment proxies, ``.netrc`` and CA variables are ignored: the access info alone
  says how to reach an array.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from storfleet.drivers import exception
from storfleet.drivers.context import RequestContext

LOG = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
RETRY_STATUSES = (502, 503, 504)
EXCERPT_CHARS = 200

_OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*")
_FALSE_WORDS = {"false", "no", "off", "0"}
_warned_insecure: set[str] = set()
_warned_lock = threading.Lock()


def _is_false(value: Any) -> bool:
    """Only an explicit false disables verification; anything unclear keeps it on."""
    if isinstance(value, bool):
        return not value
    return isinstance(value, str) and value.strip().lower() in _FALSE_WORDS


def _parse_timeout(value: Any) -> tuple[float, float]:
    if value is None:
        return DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    if isinstance(value, Mapping):
        return (float(value.get("connect", DEFAULT_CONNECT_TIMEOUT)),
                float(value.get("read", DEFAULT_READ_TIMEOUT)))
    if isinstance(value, list | tuple):
        connect, read = value
        return float(connect), float(read)
    return float(value), float(value)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A one-line, bounded piece of a response body for an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RestClient:
    """A ``requests.Session`` wrapper bound to one array's REST endpoint.

    Subclass and override :meth:`login` (and :meth:`logout`) for token sessions; inside
    them call :meth:`request` with ``relogin=False``.
    """

    scheme = "https"
    base_path = ""

    def __init__(
        self,
        rest: Mapping[str, Any],
        *,
        retries: int = 3,
        read_retries: int = 0,
        backoff_factor: float = 0.5,
        pool_maxsize: int = 10,
    ) -> None:
        host = rest.get("host")
        if not host:
            raise exception.InvalidInput("rest.host is required")
        self.host: str = str(host)
        self.scheme = str(rest.get("scheme") or self.scheme).lower()
        if self.scheme not in ("http", "https"):
            raise exception.InvalidInput(f"rest.scheme must be http or https, not {self.scheme}")
        default_port = 443 if self.scheme == "https" else 80
        try:
            self.port: int = int(rest.get("port") or default_port)
        except (TypeError, ValueError):
            port = rest.get("port")
            raise exception.InvalidInput(f"rest.port is not a number: {port!r}") from None
        self.username: str | None = rest.get("username")
        self._password: str | None = rest.get("password")
        self.connect_timeout, self.read_timeout = _parse_timeout(rest.get("timeout"))

        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self._verify_setting(rest)
        retry = Retry(
            total=retries + read_retries,
            connect=retries,
            read=read_retries,
            status=retries,
            other=0,
            backoff_factor=backoff_factor,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
            raise_on_status=False,
            # an array's Retry-After must not stretch a call past its timeout budget
            respect_retry_after_header=False,
            backoff_max=10,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=pool_maxsize)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

        self._login_lock = threading.Lock()
        self._login_generation = 0
        self._logged_in = False

    # --- configuration ------------------------------------------------------------
    @property
    def address(self) -> str:
        """``host:port`` for messages (IPv6 hosts bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.address}{self.base_path}"

    def _verify_setting(self, rest: Mapping[str, Any]) -> bool | str:
        if _is_false(rest.get("verify", True)):
            key = f"{self.scheme}://{self.address}"
            with _warned_lock:
                first = key not in _warned_insecure
                _warned_insecure.add(key)
            if first and self.scheme == "https":
                LOG.warning("TLS certificate verification is disabled for %s (rest.verify is "
                            "false): the array's identity is not checked", self.address)
            return False
        ca_bundle = rest.get("ca_bundle")
        if ca_bundle:
            if not os.path.exists(ca_bundle):
                raise exception.InvalidCAPath(ca_bundle)
            return str(ca_bundle)
        return True

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (an absolute URL is returned unchanged)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} user={self.username!r}>"

    # --- session hooks ------------------------------------------------------------
    def login(self) -> None:
        """Authenticate the session. Default: HTTP basic auth with the block's user.

        Override to obtain a token, e.g. ``r = self.post('/session', json={'user':
        self.username, 'password': self._password}, relogin=False)`` then
        ``self.session.headers['X-Auth-Token'] = r.json()[...]``.
        Raise :class:`~storfleet.drivers.exception.InvalidCredential` on refusal (a 401 or
        403 from :meth:`request` already does).
        """
        if self.username is not None:
            self.session.auth = (self.username, self._password or "")

    def logout(self) -> None:
        """End the array-side session; default does nothing."""

    def close(self) -> None:
        """Log out (best effort) and close pooled connections."""
        try:
            if self._logged_in:
                self.logout()
        except exception.DriverError as exc:
            LOG.debug("logout from %s failed: %s", self.address, exc)
        finally:
            self._logged_in = False
            self.session.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _login_if_needed(self, seen_generation: int | None) -> None:
        """Log in once; with ``seen_generation`` (after a 401) only if nobody else has
        re-logged in since that request was sent."""
        with self._login_lock:
            if seen_generation is None and self._logged_in:
                return
            if seen_generation is not None and seen_generation != self._login_generation:
                return
            self.login()
            self._logged_in = True
            self._login_generation += 1

    # --- requests -----------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        context: RequestContext | None = None,
        timeout: float | tuple[float, float] | None = None,
        relogin: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return the 2xx/3xx response or raise an SDK error.

        ``relogin=False`` is for the login request itself: no lazy login, no retry on
        401. Other ``kwargs`` go to ``requests`` (``params``, ``json``, ``data``,
        ``headers``...).
        """
        method = method.upper()
        if relogin:
            self._login_if_needed(None)
        generation = self._login_generation
        response = self._send(method, path, context, timeout, kwargs)
        if response.status_code == 401 and relogin:
            response.close()
            LOG.info("%s %s: 401 from %s, logging in again", method, path, self.address)
            self._login_if_needed(generation)
            response = self._send(method, path, context, timeout, kwargs)
        if response.status_code in (401, 403):
            raise exception.InvalidCredential(
                message=f"{self.address} refused the credentials of user {self.username!r} "
                f"(HTTP {response.status_code} on {method} {path})",
                status=response.status_code,
            )
        if response.status_code >= 400:
            raise exception.BackendError(
                message=f"{method} {path} on {self.address} failed with HTTP "
                f"{response.status_code}: {excerpt(response.text)}",
                status=response.status_code,
            )
        return response

    def _timeout(
        self, context: RequestContext | None, timeout: float | tuple[float, float] | None
    ) -> tuple[float, float]:
        connect, read = (
            _parse_timeout(timeout) if timeout is not None
            else (self.connect_timeout, self.read_timeout)
        )
        if context is not None:
            if context.expired:
                raise exception.DriverTimeout(f"deadline passed before calling {self.address}")
            connect, read = context.timeout(connect), context.timeout(read)
        return connect, read

    def _send(
        self,
        method: str,
        path: str,
        context: RequestContext | None,
        timeout: float | tuple[float, float] | None,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        url = self.url(path)
        connect_timeout, read_timeout = self._timeout(context, timeout)
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, timeout=(connect_timeout, read_timeout), **kwargs
            )
        except requests.exceptions.SSLError as exc:
            raise exception.SSLCertificateFailed(
                message=f"TLS verification of {self.address} failed ({_reason(exc)}); give "
                "rest.ca_bundle, or set rest.verify to false to accept any certificate",
            ) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise exception.ConnectTimeout(
                message=f"Connecting to {self.address} timed out "
                f"after {connect_timeout:g}s",
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise exception.DriverTimeout(
                message=f"{method} {path} on {self.address}: no answer within "
                f"{read_timeout:g}s",
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            if isinstance(_root(exc), ReadTimeoutError):  # urllib3 wraps it when not retried
                raise exception.DriverTimeout(
                    message=f"{method} {path} on {self.address}: no answer within "
                    f"{read_timeout:g}s",
                ) from exc
            raise exception.Unreachable(
                message=f"Cannot connect to {self.address}: {_reason(exc)}",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise exception.BackendError(
                message=f"{method} {path} on {self.address} failed: {_reason(exc)}",
            ) from exc
        LOG.debug("%s %s -> %s in %.3fs", method, url, response.status_code,
                  time.monotonic() - started)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` and decode its JSON body (BackendError if it is not JSON)."""
        response = self.get(path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise exception.BackendError(
                message=f"GET {path} on {self.address} did not return JSON: "
                f"{excerpt(response.text)}",
            ) from exc


def _root(exc: BaseException) -> BaseException:
    """The urllib3 error inside a requests error (``MaxRetryError.reason``)."""
    inner: Any = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    reason = getattr(inner, "reason", None)
    return reason if isinstance(reason, BaseException) else inner


def _reason(exc: BaseException) -> str:
    """The root cause of a requests error, without urllib3's object reprs."""
    return excerpt(_OBJECT_REPR.sub("", str(_root(exc))), 300)
