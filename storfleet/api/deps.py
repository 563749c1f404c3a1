"""Dependencies shared by the routers: the database, a read connection, the caller.

AuthMiddleware authenticates every request first; ``authorize`` then applies the role,
keyed on the HTTP method (readers may GET, admins may do anything), so a router only has
to depend on it and every endpoint it adds is covered.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storfleet.api.errors import ApiError, error_responses
from storfleet.auth.roles import INSECURE, Principal, Role
from storfleet.fleet.manager import DriverManager
from storfleet.store.database import Database

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `storfleet tokens create` (or the data directory's admin-token)",
)

# OpenAPI entries every protected router declares.
PROTECTED = error_responses(401)
MUTATING = error_responses(401, 403)


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_manager(request: Request) -> DriverManager:
    return request.app.state.manager


def read_conn(request: Request) -> Iterator[sa.Connection]:
    with request.app.state.db.engine.connect() as conn:
        yield conn


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "NotAuthorized", message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    """The caller: the one AuthMiddleware identified, or (without it) from the bearer
    token. Declaring the bearer scheme here also documents it in the OpenAPI."""
    known = getattr(request.state, "principal", None)
    if known is not None:
        return known
    verifier = request.app.state.verifier
    if verifier is None:
        principal = INSECURE
    elif credentials is None:
        raise _unauthorized("this endpoint needs a bearer token (Authorization: Bearer ...)")
    else:
        found = verifier.verify(credentials.credentials)
        if found is None:
            raise _unauthorized("the bearer token is unknown or revoked")
        principal = found
    request.state.principal = principal
    return principal


def authorize(request: Request, principal: Principal = Depends(authenticate)) -> Principal:
    """Readers may read; only admins may change anything."""
    if not principal.may(request.method):
        raise ApiError(
            403,
            "Forbidden",
            f"role {principal.role.value} may only read; {request.method} needs an admin token",
        )
    return principal


def metrics_access(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal | None:
    """For GET /metrics: a token like any read, unless the ``metrics_open`` setting opens it
    for a Prometheus that cannot send one."""
    if getattr(request.app.state.db.settings, "metrics_open", False):
        return None
    return authenticate(request, credentials)


def require_admin(principal: Principal = Depends(authenticate)) -> Principal:
    """For reads only admins may make (the audit log)."""
    if principal.role is not Role.ADMIN:
        raise ApiError(403, "Forbidden", "only an admin token may read this")
    return principal
