"""Calling into a driver: every call runs in a worker thread and has a timeout.

A Python thread cannot be killed, so a call that times out is abandoned: its thread runs on
as a daemon until the driver returns, and the caller discards that driver instance so the
next call gets a fresh one (and a fresh connection) instead of queueing behind a hung one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from storfleet.drivers import exception

T = TypeVar("T")


class CallTimedOut(exception.DriverTimeout):
    """The framework's own timeout fired (the driver did not return in time)."""

    msg_fmt = "{0}"


def call_with_timeout(
    func: Callable[..., T], *args: Any, timeout: float, what: str = "driver call"
) -> T:
    """Run ``func(*args)`` in a daemon thread; raise CallTimedOut after ``timeout`` s."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"storfleet-call:{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CallTimedOut(f"{what} did not finish within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
