"""ASGI middleware that writes every mutating call to the audit log.

It sees the raw request body (redacted before it is stored), the caller the auth
dependency identified, and the response's status and error; the entry is written before
the response leaves, so a client that got an answer can rely on the entry existing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storfleet.auth import audit
from storfleet.auth.roles import READ_METHODS, Principal

MAX_ERROR_BODY = 16 * 1024


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        call = _Call(scope, receive, send)
        try:
            await self.app(scope, call.receive, call.send)
        finally:
            if not call.recorded:  # it failed before answering: the outer layer sends a 500
                await call.record(500, "unexpected error")


class _Call:
    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        scope.setdefault("state", {})
        self._receive = receive
        self._send = send
        self.body = bytearray()
        self.started = time.monotonic()
        self.start: Message | None = None
        self.recorded = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and len(self.body) <= audit.MAX_BODY_BYTES:
            self.body.extend(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message  # held until the first body chunk: the error is in it
            return
        if message["type"] == "http.response.body" and self.start is not None:
            status = self.start["status"]
            await self.record(status, _outcome(status, message.get("body", b"")))
            start, self.start = self.start, None
            await self._send(start)
        await self._send(message)

    async def record(self, status: int, outcome: str | None) -> None:
        self.recorded = True
        app = self.scope["app"]
        principal: Principal | None = self.scope["state"].get("principal")
        client = self.scope.get("client")
        values: dict[str, Any] = {
            "actor": principal.id if principal else "anonymous",
            "actor_name": principal.name if principal else None,
            "role": principal.role.value if principal else None,
            "method": self.scope["method"],
            "path": self.scope["path"],
            "query": audit.redact_query(self.scope.get("query_string", b"").decode("latin-1")),
            "body": audit.redact_body(bytes(self.body)),
            "status": status,
            "outcome": outcome,
            "remote": client[0] if client else None,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 2),
        }
        await anyio.to_thread.run_sync(lambda: audit.record(app.state.db.engine, **values))


def _outcome(status: int, body: bytes) -> str:
    """'ok', or the error's code and message (Delfin's body) for a failed call."""
    if status < 400:
        return "ok"
    if len(body) > MAX_ERROR_BODY:
        return f"HTTP {status}"
    try:
        error = json.loads(body)
        return f"{error['error_code']}: {error['error_msg']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}"
