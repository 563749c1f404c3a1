"""The context the framework passes first to every driver method.

Delfin passed its request context positionally and drivers ignored it; storfleet keeps the
position and gives it three useful things: a request id to correlate logs, the storage
the call is for, and an optional deadline so a driver (and the SDK's REST/SSH clients)
can shorten its own timeouts instead of overrunning the framework's.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace


def _new_request_id() -> str:
    return "req-" + uuid.uuid4().hex


@dataclass(frozen=True)
class RequestContext:
    """Per-call information. ``deadline`` is wall-clock epoch seconds so it survives
    being sent to another process (a Celery worker)."""

    request_id: str = field(default_factory=_new_request_id)
    storage_id: str | None = None
    deadline: float | None = None

    @classmethod
    def with_timeout(
        cls, seconds: float, *, storage_id: str | None = None, request_id: str | None = None
    ) -> RequestContext:
        """A context whose deadline is ``seconds`` from now."""
        return cls(
            request_id=request_id or _new_request_id(),
            storage_id=storage_id,
            deadline=time.time() + seconds,
        )

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.time())

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        remaining = self.remaining()
        return remaining is not None and remaining <= 0.0

    def timeout(self, default: float) -> float:
        """``default`` capped by the time left, for a socket or HTTP timeout."""
        remaining = self.remaining()
        return default if remaining is None else min(default, remaining)

    def for_storage(self, storage_id: str) -> RequestContext:
        """The same request, addressed to one storage."""
        return replace(self, storage_id=storage_id)
