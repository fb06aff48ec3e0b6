"""How every MCP server bounds a tool call, and the result fields that say so.

A call that asks for more than a server allows is not refused: what it asked is lowered to the
server's maximum and each such clamp is written to `notes`, which becomes the result's
`limits_applied`, so the model reads what it got and why. A window longer than the longest one a
server reads keeps its end (the recent part, where an investigation looks) and loses the start;
a step too fine for the window is raised. `bounds` fills the fields every bounded result carries
(`BoundedResult`), the same way in every tool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from typing import Any, TypedDict

from common.pagination import Page
from common.timerange import TimeRange, format_duration, iso

__all__ = ["Bounds", "bounds", "choose_step", "clamp_limit", "clamp_window", "page_bounds"]


class Bounds(TypedDict):
    """The fields of `BoundedResult`, for `Result(..., **bounds(...))`."""

    returned: int
    total: int
    truncated: bool
    next_cursor: str | None
    limits_applied: list[str]
    warnings: list[str]


def clamp_limit(requested: int | None, maximum: int, what: str, notes: list[str], *, default: int | None = None) -> int:
    """`requested`, at most `maximum` (a clamp is noted); `default` (or the maximum) when none was asked."""
    if requested is None:
        return maximum if default is None else default
    if requested > maximum:
        notes.append(f"limit lowered from {requested} to the maximum of {maximum} {what}")
        return maximum
    return requested


def clamp_window(window: TimeRange, longest: float, notes: list[str], *, what: str = "window") -> TimeRange:
    """`window`, or its last `longest` seconds (a clamp is noted)."""
    if window.seconds <= longest:
        return window
    start = window.end - longest
    notes.append(
        f"the {what} was {format_duration(window.seconds)}, longer than the {format_duration(longest)} allowed; "
        f"it now starts at {iso(start)}"
    )
    return TimeRange(start, window.end)


_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def choose_step(
    window: TimeRange, requested: float | None, notes: list[str], *, default_points: int, max_points: int
) -> float:
    """Seconds between the points of a range query over `window`.

    None asked: the first round step that gives at most `default_points` points. A step so fine
    that a series would have more than `max_points` points (the backend refuses those) is raised.
    """
    if requested is None:
        target = window.seconds / default_points
        return float(next((s for s in _NICE_STEPS if s >= target), math.ceil(target)))
    minimum = window.seconds / (max_points - 1)
    if requested < minimum:
        raised = math.ceil(minimum * 1000) / 1000
        notes.append(
            f"step raised from {format_duration(requested)} to {format_duration(raised)} so that each series "
            f"has at most {max_points} points"
        )
        return raised
    return requested


def bounds(
    shown: Sized,
    total: int,
    notes: list[str],
    *,
    truncated: bool | None = None,
    next_cursor: str | None = None,
    warnings: Sequence[str] = (),
) -> Bounds:
    """The bounded-result fields of `shown` out of `total` matches; truncated unless all are shown."""
    return {
        "returned": len(shown),
        "total": total,
        "truncated": total > len(shown) if truncated is None else truncated,
        "next_cursor": next_cursor,
        "limits_applied": notes,
        "warnings": list(warnings),
    }


def page_bounds(page: Page[Any], notes: list[str], warnings: Sequence[str] = ()) -> Bounds:
    """The bounded-result fields of one page of a list."""
    return bounds(
        page.items, page.total, notes, truncated=page.truncated, next_cursor=page.next_cursor, warnings=warnings
    )
