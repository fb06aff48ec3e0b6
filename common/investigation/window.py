"""The time window an investigation reads: what it looks back over, and at which resolution."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """Unix seconds; `step` is the resolution of range queries, in seconds."""

    start: float
    end: float
    step: float
