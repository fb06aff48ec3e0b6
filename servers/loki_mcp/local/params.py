"""Query parameters of Loki's HTTP API, read and checked as Loki reads and checks them.

Times are nanosecond integers, Unix seconds with a fraction (kept to the millisecond), or RFC
3339; an integer of at most 10 digits is seconds. A time outside 1970..2262-04-11 (what int64
nanoseconds hold) is refused by name, as is a step longer than an int64 of nanoseconds. Steps are
seconds (`60`, `0.5`) or durations (`1m`). The limits and their messages are Loki's defaults, so
a client's hints apply unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import datetime

from common.errors import InputError
from common.timerange import LATEST_NS, SUPPORTED_TIMES
from servers.loki_mcp.logql import parse_duration_ns
from servers.loki_mcp.models import Direction

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_ENTRIES_LIMIT",
    "MAX_POINTS",
    "MAX_QUERY_LENGTH_NS",
    "check_length",
    "default_step_ns",
    "parse_direction",
    "parse_limit",
    "parse_step_ns",
    "parse_time_ns",
    "window",
]

DEFAULT_LIMIT = 100
MAX_ENTRIES_LIMIT = 5000
MAX_POINTS = 11_000
MAX_QUERY_LENGTH_NS = 721 * 3600 * 10**9
_MAX_QUERY_LENGTH_TEXT = "30d1h"
_DEFAULT_LOOKBACK_NS = 3600 * 10**9


def parse_time_ns(value: str | None, default_ns: int, name: str) -> int:
    """`value` in nanoseconds since 1970; InputError naming `name` if it is not a time or not a supported one."""
    if not value:
        return default_ns
    return _supported(_time_ns(value, name), value, name)


def _time_ns(value: str, name: str) -> int:
    if "." in value:
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise _outside(value, name)
            whole = math.floor(number)
            return whole * 10**9 + round((number - whole) * 1000) * 10**6
    try:
        integer = int(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise InputError(f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp') from None
        return int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000
    return integer * 10**9 if len(value.lstrip("-")) <= 10 else integer


def _supported(ns: int, value: str, name: str) -> int:
    if not 0 <= ns <= LATEST_NS:
        raise _outside(value, name)
    return ns


def _outside(value: str, name: str) -> InputError:
    return InputError(f'invalid parameter "{name}": "{value}" is outside the times supported ({SUPPORTED_TIMES})')


def window(params: Mapping[str, str]) -> tuple[int, int]:
    """(start_ns, end_ns): `end` defaults to now and `start` to an hour before `end`."""
    end_ns = parse_time_ns(params.get("end"), time.time_ns(), "end")
    start_ns = parse_time_ns(params.get("start"), max(0, end_ns - _DEFAULT_LOOKBACK_NS), "start")
    if end_ns < start_ns:
        raise InputError("end timestamp must not be before or equal to start time")
    return start_ns, end_ns


def check_length(start_ns: int, end_ns: int) -> None:
    if end_ns - start_ns > MAX_QUERY_LENGTH_NS:
        raise InputError(
            f"the query time range exceeds the limit (query length: {_go_duration(end_ns - start_ns)}, "
            f"limit: {_MAX_QUERY_LENGTH_TEXT})"
        )


def _go_duration(ns: int) -> str:
    """A duration as Go's time.Duration.String writes it at second precision (`744h1m0s`)."""
    total = ns // 10**9
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else (f"{minutes}m{secs}s" if minutes else f"{secs}s")


def parse_limit(value: str | None, *, default: int = DEFAULT_LIMIT) -> int:
    if not value:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise InputError(f'invalid parameter "limit": cannot parse "{value}" as an integer') from None
    if limit <= 0:
        raise InputError("limit must be a positive value")
    if limit > MAX_ENTRIES_LIMIT:
        raise InputError(
            f"max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_ENTRIES_LIMIT})"
        )
    return limit


def parse_direction(value: str | None) -> Direction:
    lowered = (value or "backward").lower()
    if lowered == "forward":
        return "forward"
    if lowered == "backward":
        return "backward"
    raise InputError(f'invalid parameter "direction": invalid direction "{value}", use forward or backward')


def default_step_ns(start_ns: int, end_ns: int) -> int:
    """Loki's step when none is given: the window over 250, in whole seconds, at least one."""
    return max((end_ns - start_ns) // 10**9 // 250, 1) * 10**9


def parse_step_ns(value: str | None, start_ns: int, end_ns: int) -> int:
    if not value:
        return default_step_ns(start_ns, end_ns)
    try:
        seconds = float(value)
    except ValueError:
        try:
            step_ns = parse_duration_ns(value)
        except ValueError as exc:
            raise InputError(f'invalid parameter "step": cannot parse "{value}" to a valid duration: {exc}') from None
    else:
        if not seconds * 1e9 <= LATEST_NS:  # also NaN
            raise InputError(
                f'invalid parameter "step": {value} seconds is longer than the longest duration, 2562047h47m16s '
                "(about 292 years)"
            )
        step_ns = round(seconds * 1e9)
    if step_ns <= 0:
        raise InputError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end_ns - start_ns) / step_ns > MAX_POINTS:
        raise InputError(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step "
            "parameter"
        )
    return step_ns
