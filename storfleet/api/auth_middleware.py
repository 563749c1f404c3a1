"""ASGI middleware that authenticates every request before anything else looks at it.

A dependency alone would run after FastAPI has parsed the body, so a caller without a
token could still learn that its JSON was malformed, or that a path exists; here a request
without a valid token gets its 401 first, whatever else is wrong with it. The caller is
left in the request state for the routes' role checks and for the audit log.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from storfleet.api.errors import error_response
from storfleet.auth.roles import INSECURE

# No token needed: the probes, and the API's own description.
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
METRICS_PATH = "/metrics"


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        verifier = scope["app"].state.verifier
        if verifier is None:  # serve --insecure-no-auth
            state["principal"] = INSECURE
            await self.app(scope, receive, send)
            return
        scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = "this endpoint needs a bearer token (Authorization: Bearer ...)"
        else:
            principal = await anyio.to_thread.run_sync(verifier.verify, token.strip())
            if principal is not None:
                state["principal"] = principal
                await self.app(scope, receive, send)
                return
            message = "the bearer token is unknown or revoked"
        response = error_response(
            401, "NotAuthorized", message, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)

    @staticmethod
    def _open(scope: Scope) -> bool:
        path = scope["path"]
        if path in OPEN_PATHS:
            return True
        settings = scope["app"].state.db.settings
        return path == METRICS_PATH and bool(getattr(settings, "metrics_open", False))
