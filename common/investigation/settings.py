"""How far and how finely an investigation reads; an agent builds it from its own settings (and their defaults)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InvestigationSettings"]


@dataclass(frozen=True)
class InvestigationSettings:
    """`lookback_seconds` when a request names no start, `step_seconds` the resolution of the signals read,
    `max_dependencies` the dependencies examined at most."""

    lookback_seconds: float
    step_seconds: float
    max_dependencies: int
