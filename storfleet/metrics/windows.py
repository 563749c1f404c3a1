"""Which time range a collection asks for, what is lost for good, when to retry.

Pure arithmetic on epoch milliseconds, so the rules are tested without an array:

* a storage's collection advances a high-water mark (``collected_until_ms``): everything
  up to it is stored or counted as lost, nothing after it is. The next window starts
  right after it and ends now, so a window that failed is simply asked again (with the
  time that passed since) until it succeeds: windows are never dropped after N retries
  as Delfin's were.
* The first collection of a storage, or the first after storfleet was down, starts as far
  back as the driver keeps data (its retention window): a backfill.
* Only what has left the driver's retention window is lost; it is counted in windows of
  the collection interval, so "lost windows" means what an operator thinks it means.
* A backfill is cut into driver calls of bounded length, so one call never asks an array
  for hours of every series at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowPlan:
    chunks: tuple[tuple[int, int], ...]  # inclusive [start_ms, end_ms] ranges, oldest first
    lost: tuple[int, int] | None  # inclusive range given up (out of the driver's retention)
    lost_windows: int  # that range in collection intervals (rounded up)


def plan(
    collected_until_ms: int | None,
    now_ms: int,
    *,
    retention_ms: int,
    interval_ms: int,
    max_window_ms: int,
) -> WindowPlan:
    """The ranges to ask for now. ``retention_ms`` is how far back the driver still has
    data (at least one interval: a driver without history still answers for "now")."""
    retention_ms = max(retention_ms, interval_ms)
    oldest = now_ms - retention_ms
    lost: tuple[int, int] | None = None
    if collected_until_ms is None:
        start = oldest
    else:
        start = collected_until_ms + 1
        if start < oldest:
            lost = (start, oldest - 1)
            start = oldest
    chunks: list[tuple[int, int]] = []
    step = max(1, max_window_ms)
    while start <= now_ms:
        end = min(now_ms, start + step - 1)
        chunks.append((start, end))
        start = end + 1
    lost_windows = 0
    if lost is not None:
        lost_windows = -(-(lost[1] - lost[0] + 1) // max(1, interval_ms))
    return WindowPlan(tuple(chunks), lost, lost_windows)


def retry_delay_s(failures: int, *, base_s: float, max_s: float, retention_s: float) -> float:
    """Back-off after ``failures`` failures in a row: base, 2x base, 4x base ... capped by
    ``max_s`` and by a quarter of the retention window, so a few retries still happen
    before the oldest missed data leaves the array."""
    cap = max(base_s, min(max_s, retention_s / 4))
    return min(cap, base_s * 2 ** max(0, failures - 1))


def buckets(start_ms: int, end_ms: int, step_ms: int) -> tuple[int, int]:
    """The whole ``step_ms`` buckets inside [start_ms, end_ms]: (first start, end exclusive).
    Empty when first >= end."""
    first = -(-start_ms // step_ms) * step_ms
    last = (end_ms + 1) // step_ms * step_ms
    return first, last
