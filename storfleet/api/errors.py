"""Errors in Delfin's shape, ``{"error_code", "error_msg", "error_args"}``, for every failure.

Delfin answered bad input with 500s and FastAPI answers it with 422 ``{"detail"}``; a Delfin
client understands neither. Every handler below turns its failure into Delfin's body with
the right status, and ``error_responses`` documents those statuses in the OpenAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Delfin's error body."""

    error_code: str = Field(description="Machine-readable code, e.g. StorageNotFound")
    error_msg: str = Field(description="What went wrong, for a human")
    error_args: list[str] = Field(description="The values the message is about")


class ApiError(Exception):
    """An error the API answers with (status, Delfin error code, message, args)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *args: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.args_ = [str(a) for a in args]
        self.headers = headers
        super().__init__(message)

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.args_, self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    args: Iterable[Any] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error_code": code, "error_msg": message, "error_args": [str(a) for a in args]}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_request(message: str, *args: Any) -> ApiError:
    return ApiError(400, "InvalidInput", message, *args)


def not_found(what: str, ident: str, code: str = "NotFound") -> ApiError:
    return ApiError(404, code, f"{what} {ident} could not be found", ident)


def storage_not_found(storage_id: str) -> ApiError:
    return not_found("storage", storage_id, "StorageNotFound")


DESCRIPTIONS = {
    400: "Bad request: invalid parameters or body (the message names them)",
    401: "No token, or a token that is unknown or revoked",
    403: "The token's role may not do this (reader tokens may only read)",
    404: "The resource does not exist",
    409: "Conflict: already registered, or a sync is already running or queued",
    501: "The storage's driver does not support this",
    502: "The storage array failed or refused the call",
    504: "The storage array did not answer in time",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {s: {"model": ErrorBody, "description": DESCRIPTIONS[s]} for s in statuses}


def _location(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        head, rest = parts[0], parts[1:]
        return f"{head}.{'.'.join(rest)}" if rest else head
    return ".".join(parts)


def validation_message(exc: RequestValidationError) -> tuple[str, list[str]]:
    """One line per problem: where, and what is wrong, without echoing the input."""
    lines, where = [], []
    for error in exc.errors():
        loc = _location(error.get("loc", ()))
        where.append(loc)
        msg = error.get("msg", "invalid")
        if error.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines) or "invalid request", where


_STATUS_CODES = {404: "NotFound", 405: "MethodNotAllowed", 401: "NotAuthorized"}


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path (Starlette names only the first
    route's, and one path often has several: GET and DELETE /v1/storages/{id})."""
    app = request.app
    patterns = getattr(app.state, "path_methods", None)
    if patterns is None:
        patterns = [
            (re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", path) + "$"), methods)
            for path, methods in app.openapi().get("paths", {}).items()
        ]
        app.state.path_methods = patterns
    found: set[str] = set()
    for pattern, methods in patterns:
        if pattern.match(request.url.path):
            found |= {m.upper() for m in methods}
    return sorted(found)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error Delfin's body."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, where = validation_message(exc)
        return error_response(400, "InvalidInput", message, where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTPError")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here (allowed: {', '.join(allowed)})"
        return error_response(exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "InternalError", "an unexpected error occurred (see the log)")
