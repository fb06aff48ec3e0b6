"""Parsing of the times and durations people and models write.

Times: `now`, `now-1h`, `now+5m`, RFC 3339 (`2026-11-21T10:00:00Z`), or unix seconds.
Durations: `30s`, `5m`, `1h30m`, `2d`, `1w`, or plain seconds. Times are unix seconds (float).

Every time lies between 1970 and 2262-04-11T23:47:16Z, where nanoseconds since 1970 (what Loki,
Prometheus' Go code and the log store keep, in a signed 64-bit integer) run out: a time outside
is an InputError naming the argument, never an overflow further in. Tool arguments take a time
as text or as a JSON number of unix seconds (`TimeArgument`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from common.errors import InputError

__all__ = [
    "LATEST_NS",
    "SUPPORTED_TIMES",
    "TimeArgument",
    "TimeRange",
    "check_unix_ns",
    "format_duration",
    "iso",
    "parse_duration",
    "parse_time",
    "unix_ns",
]

TimeArgument = str | float
"""A tool's time argument: `now-1h`, RFC 3339, or unix seconds as text or as a JSON number."""

LATEST_NS = 2**63 - 1
"""The last time in nanoseconds since 1970 a signed 64-bit integer holds (2262-04-11T23:47:16Z)."""
_LATEST_SECONDS = LATEST_NS // 10**9
SUPPORTED_TIMES = "from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z"

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(.+))?")

_TIME_FORMS = "Use 'now', 'now-1h', an RFC 3339 time such as '2026-11-21T10:00:00Z', or unix seconds."


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def unix_ns(seconds: float) -> int:
    """Nanoseconds since 1970 of unix seconds `seconds`."""
    return round(seconds * 1e9)


def check_unix_ns(ns: int, what: str) -> int:
    """`ns`, or InputError naming `what` when it is outside the supported times."""
    if not 0 <= ns <= LATEST_NS:
        raise InputError(
            f"{what} is {ns} ns since 1970, outside the times supported ({SUPPORTED_TIMES}). "
            "Send nanoseconds since 1970 within that range."
        )
    return ns


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as `90s`, `5m`, `1h30m` or a number of seconds."""
    if isinstance(value, bool):
        raise InputError(f"Invalid duration {value!r}: give a number of seconds or a text such as '5m'.")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _DURATION.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise InputError(
                    f"Invalid duration {value!r}: use a number with a unit, such as '30s', '5m', '1h30m' or '2d'."
                ) from None
    if seconds < 0 or seconds != seconds:
        raise InputError(f"Invalid duration {value!r}: it must be zero or positive.")
    if seconds > _LATEST_SECONDS:
        raise InputError(
            f"Invalid duration {value!r}: it is longer than any span of supported times ({SUPPORTED_TIMES})."
        )
    return seconds


def format_duration(seconds: float) -> str:
    """The compact form Prometheus accepts (`90` -> `1m30s`; sub-second values as `250ms`)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def parse_time(value: str | float | int, *, now: float | None = None, name: str = "time") -> float:
    """Unix seconds for `now`, `now-1h`, an RFC 3339 time or unix seconds; errors name the argument `name`."""
    if isinstance(value, bool):
        raise InputError(f"Invalid {name} {value!r}. {_TIME_FORMS}")
    if isinstance(value, int | float):
        return _unix(float(value), value, name)
    current = time.time() if now is None else now
    text = value.strip()
    if relative := _RELATIVE.fullmatch(text.lower()):
        sign, offset = relative.groups()
        if sign is None:
            return current
        try:
            delta = parse_duration(offset)
        except InputError as exc:
            raise InputError(f"Invalid {name} {value!r}: {exc}") from None
        return _supported(current - delta if sign == "-" else current + delta, value, name)
    try:
        return _unix(float(text), value, name)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"Invalid {name} {value!r}. {_TIME_FORMS}") from None
    if parsed.tzinfo is None:
        raise InputError(
            f"Invalid {name} {value!r}: it has no time zone. Add 'Z' for UTC or an offset such as '+01:00'."
        )
    return _supported(parsed.timestamp(), value, name)


def _unix(seconds: float, original: object, name: str) -> float:
    if not 0 <= seconds <= _LATEST_SECONDS:
        # Milliseconds passed as seconds land in the year 50000+: say which unit is meant.
        raise InputError(
            f"Invalid {name} {original!r}: unix times are seconds since 1970, and supported times run "
            f"{SUPPORTED_TIMES}. {_TIME_FORMS}"
        )
    return seconds


def _supported(seconds: float, original: object, name: str) -> float:
    if not 0 <= seconds <= _LATEST_SECONDS:
        raise InputError(f"Invalid {name} {original!r}: it falls outside the times supported ({SUPPORTED_TIMES}).")
    return seconds


@dataclass(frozen=True)
class TimeRange:
    """A half-open window [start, end] in unix seconds."""

    start: float
    end: float

    @classmethod
    def parse(cls, start: TimeArgument, end: TimeArgument, *, now: float | None = None) -> TimeRange:
        current = time.time() if now is None else now
        window = cls(parse_time(start, now=current, name="start"), parse_time(end, now=current, name="end"))
        if window.start >= window.end:
            raise InputError(f"The start ({start!r}) must be before the end ({end!r}).")
        return window

    @property
    def seconds(self) -> float:
        return self.end - self.start
