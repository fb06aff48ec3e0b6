"""The time window an investigation reads: what it looks back over, and at which resolution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """Unix seconds; `step` is the resolution of range queries, in seconds."""

    start: float
    end: float
    step: float

    @classmethod
    def asked(
        cls,
        start: datetime | None,
        end: datetime | None,
        *,
        lookback_seconds: float,
        step_seconds: float,
        now: datetime | None = None,
    ) -> Window:
        """The window a request asks for: up to its `end` (else now), from its `start` (else the look-back)."""
        until = (end or now or datetime.now(UTC)).timestamp()
        since = start.timestamp() if start is not None else until - lookback_seconds
        return cls(start=since, end=until, step=step_seconds)
