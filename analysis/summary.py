"""Compact descriptions of time series, so a long result fits a model's context.

`summarize` reduces a series to min/max/mean/first/last and a least-squares trend;
`downsample` keeps the shape of a long series in at most `n` bucket means. Non-finite
values (NaN, ±Inf) are counted but left out of the statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SeriesSummary", "downsample", "summarize"]

Point = tuple[float, float]


@dataclass(frozen=True)
class SeriesSummary:
    points: int
    non_finite: int
    min: float | None
    max: float | None
    mean: float | None
    first: float | None
    last: float | None
    trend_per_second: float | None
    """Least-squares slope of value over time; None with fewer than two finite points."""


def summarize(points: Sequence[Point]) -> SeriesSummary:
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    if not finite:
        return SeriesSummary(len(points), len(points), None, None, None, None, None, None)
    values = [v for _, v in finite]
    return SeriesSummary(
        points=len(points),
        non_finite=len(points) - len(finite),
        min=min(values),
        max=max(values),
        mean=math.fsum(values) / len(values),
        first=values[0],
        last=values[-1],
        trend_per_second=_slope(finite),
    )


def downsample(points: Sequence[Point], n: int) -> list[Point]:
    """At most `n` points: the mean of each of `n` equal runs of points, at the run's last timestamp."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if len(points) <= n:
        return list(points)
    out: list[Point] = []
    for bucket in range(n):
        lo = bucket * len(points) // n
        hi = (bucket + 1) * len(points) // n
        run = points[lo:hi]
        finite = [v for _, v in run if math.isfinite(v)]
        value = math.fsum(finite) / len(finite) if finite else math.nan
        out.append((run[-1][0], value))
    return out


def _slope(points: Sequence[Point]) -> float | None:
    if len(points) < 2:
        return None
    # Centre the timestamps: unix seconds squared lose precision in floats.
    t0 = points[0][0]
    ts = [t - t0 for t, _ in points]
    vs = [v for _, v in points]
    mean_t = math.fsum(ts) / len(ts)
    mean_v = math.fsum(vs) / len(vs)
    var = math.fsum((t - mean_t) ** 2 for t in ts)
    if var == 0:
        return None
    return math.fsum((t - mean_t) * (v - mean_v) for t, v in zip(ts, vs, strict=True)) / var
