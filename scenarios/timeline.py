"""A scenario's clock: its relative times made absolute against one `now`, and its seeded randomness."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.errors import InputError

__all__ = ["Timeline", "rfc3339", "seeded"]


@dataclass(frozen=True)
class Timeline:
    """`now` in integer milliseconds (Prometheus' precision) and the history before it."""

    now_ms: int
    duration_s: int
    step_s: int

    @classmethod
    def of(cls, now: datetime, duration_s: int, step_s: int) -> Timeline:
        if now.tzinfo is None:
            raise InputError("`now` must be a timezone-aware datetime, e.g. datetime.now(UTC).")
        return cls(round(now.timestamp() * 1000), duration_s, step_s)

    @property
    def start_ms(self) -> int:
        return self.now_ms - self.duration_s * 1000

    def ms(self, offset_s: int) -> int:
        """The instant `offset_s` seconds from now (negative: before)."""
        return self.now_ms + offset_s * 1000

    def datetime(self, offset_s: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.ms(offset_s))

    def sample_times(self, until_ms: int | None = None) -> list[int]:
        """Every `step` over `duration`, ending exactly at now, or carried on to `until_ms` (live samples)."""
        count = self.duration_s // self.step_s
        ahead = max(0, (until_ms - self.now_ms) // (self.step_s * 1000)) if until_ms is not None else 0
        return [self.now_ms - k * self.step_s * 1000 for k in range(count, -ahead - 1, -1)]


def seeded(seed: int, *parts: object) -> random.Random:
    """A random generator of its own for each part of a scenario, so that adding a series or a
    log line leaves the data of the others unchanged."""
    key = "\x1f".join([str(seed), *(repr(part) for part in parts)])
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))  # noqa: S311


def rfc3339(at: datetime) -> str:
    """UTC with a `Z`, milliseconds only when there are any (as Go formats RFC 3339)."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    millis = at.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
