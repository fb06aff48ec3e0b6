"""Parsing of the times and durations people and models write.

Times: `now`, `now-1h`, `now+5m`, RFC 3339 (`2026-11-21T10:00:00Z`), or unix seconds.
Durations: `30s`, `5m`, `1h30m`, `2d`, `1w`, or plain seconds. Times are unix seconds (float).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from common.errors import InputError

__all__ = ["TimeRange", "format_duration", "iso", "parse_duration", "parse_time"]

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(.+))?")

_TIME_FORMS = "Use 'now', 'now-1h', an RFC 3339 time such as '2026-11-21T10:00:00Z', or unix seconds."


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as `90s`, `5m`, `1h30m` or a number of seconds."""
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


def parse_time(value: str | float | int, *, now: float | None = None) -> float:
    """Unix seconds for `now`, `now-1h`, an RFC 3339 time or unix seconds."""
    current = time.time() if now is None else now
    if isinstance(value, int | float):
        return _unix(float(value), value)
    text = value.strip()
    if relative := _RELATIVE.fullmatch(text.lower()):
        sign, offset = relative.groups()
        if sign is None:
            return current
        delta = parse_duration(offset)
        return current - delta if sign == "-" else current + delta
    try:
        return _unix(float(text), value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"Invalid time {value!r}. {_TIME_FORMS}") from None
    if parsed.tzinfo is None:
        raise InputError(f"Invalid time {value!r}: it has no time zone. Add 'Z' for UTC or an offset such as '+01:00'.")
    return parsed.timestamp()


def _unix(seconds: float, original: object) -> float:
    # Milliseconds passed as seconds land in the year 50000+; catch the slip early.
    if not 0 <= seconds < 1e11:
        raise InputError(f"Invalid time {original!r}: unix times are seconds since 1970. {_TIME_FORMS}")
    return seconds


@dataclass(frozen=True)
class TimeRange:
    """A half-open window [start, end] in unix seconds."""

    start: float
    end: float

    @classmethod
    def parse(cls, start: str | float, end: str | float, *, now: float | None = None) -> TimeRange:
        current = time.time() if now is None else now
        window = cls(parse_time(start, now=current), parse_time(end, now=current))
        if window.start >= window.end:
            raise InputError(f"The start ({start!r}) must be before the end ({end!r}).")
        return window

    @property
    def seconds(self) -> float:
        return self.end - self.start
