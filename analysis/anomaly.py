"""Rank time series by how far their recent part departs from their earlier part.

Each series is a sequence of ``(unix_ts, value)`` points. Points before ``split_at`` form the
baseline, the rest the recent part; NaN and infinite values are dropped first. The score is
``|recent median - baseline median| / spread``, where spread is the scaled MAD of the baseline,
floored so that a constant baseline still yields a finite score. Series with fewer than
``min_points`` usable points on either side are skipped. Results are ordered by score
descending, then recent outlier fraction descending, then input index ascending, so the same
input always gives the same ranking. Pure computation: no I/O, standard library only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SeriesDeparture", "high_counts", "median", "rank_departures"]

# Makes the MAD a consistent estimator of the standard deviation for normally distributed data.
_MAD_TO_SIGMA = 1.4826
# Without a floor, a baseline with MAD 0 (a constant gauge, a flat counter rate) would give an
# infinite score for any change at all and drown every genuinely noisy series. A change of 1% of
# the baseline level per "sigma" keeps such series comparable; the absolute floor covers a
# baseline median of 0.
_RELATIVE_SPREAD_FLOOR = 0.01
_ABSOLUTE_SPREAD_FLOOR = 1e-9
_FLAT_SCORE = 1e-9
_OUTLIER_SIGMAS = 3.0


@dataclass(frozen=True)
class SeriesDeparture:
    """How far one series' recent part departs from its baseline; ``key`` is its input index."""

    key: int
    score: float
    direction: str
    baseline_median: float
    recent_median: float
    baseline_spread: float
    relative_change: float | None
    recent_outlier_fraction: float
    baseline_points: int
    recent_points: int


def rank_departures(
    series: Sequence[Sequence[tuple[float, float]]],
    split_at: float,
    *,
    min_points: int = 3,
    limit: int | None = None,
) -> list[SeriesDeparture]:
    """Score every series with enough points on both sides of ``split_at`` and rank them.

    Raises ValueError when ``min_points`` is below 1 or ``limit`` is negative.
    """
    if min_points < 1:
        raise ValueError(f"min_points must be at least 1, got {min_points}.")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}.")
    departures: list[SeriesDeparture] = []
    for key, points in enumerate(series):
        baseline = [value for ts, value in points if ts < split_at and math.isfinite(value)]
        recent = [value for ts, value in points if ts >= split_at and math.isfinite(value)]
        if len(baseline) < min_points or len(recent) < min_points:
            continue
        departures.append(_departure(key, baseline, recent))
    departures.sort(key=lambda d: (-d.score, -d.recent_outlier_fraction, d.key))
    return departures if limit is None else departures[:limit]


def _departure(key: int, baseline: list[float], recent: list[float]) -> SeriesDeparture:
    baseline_median = median(baseline)
    recent_median = median(recent)
    floor = max(_ABSOLUTE_SPREAD_FLOOR, _RELATIVE_SPREAD_FLOOR * abs(baseline_median))
    spread = max(_MAD_TO_SIGMA * median([abs(v - baseline_median) for v in baseline]), floor)
    change = recent_median - baseline_median
    score = abs(change) / spread
    if not math.isfinite(score):
        # Only values near the float limit overflow here; callers serialise the score as JSON,
        # which has no infinity, and such a series is as far out as a series can be.
        score = sys.float_info.max
    direction = "flat" if score < _FLAT_SCORE else "up" if change > 0 else "down"
    outliers = sum(1 for v in recent if abs(v - baseline_median) > _OUTLIER_SIGMAS * spread)
    return SeriesDeparture(
        key=key,
        score=score,
        direction=direction,
        baseline_median=baseline_median,
        recent_median=recent_median,
        baseline_spread=spread,
        relative_change=None if baseline_median == 0 else change / abs(baseline_median),
        recent_outlier_fraction=outliers / len(recent),
        baseline_points=len(baseline),
        recent_points=len(recent),
    )


def high_counts(counts: Sequence[int], *, threshold: float = 3.5) -> list[tuple[int, float, float]]:
    """(index, score, median) of the counts far above the usual one, highest score first.

    For event counts per time bucket (log lines per minute). The score is (count - median) /
    spread, where the spread is the scaled MAD of all the counts, floored at the Poisson noise of
    the median (its square root) and at 1, so a quiet, steady log does not make every extra line
    an anomaly.
    """
    if not counts:
        return []
    values = [float(c) for c in counts]
    usual = median(values)
    spread = max(_MAD_TO_SIGMA * median([abs(v - usual) for v in values]), math.sqrt(usual), 1.0)
    scored = [(i, (v - usual) / spread, usual) for i, v in enumerate(values)]
    high = [item for item in scored if item[1] >= threshold]
    high.sort(key=lambda item: (-item[1], item[0]))
    return high


def median(values: list[float]) -> float:
    """The median; halving before adding keeps it finite for values near the float limit."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return ordered[middle - 1] / 2 + ordered[middle] / 2
