from __future__ import annotations

import math

import pytest

from analysis.summary import downsample, summarize


def test_summary_of_a_line() -> None:
    points = [(1000.0 + 60 * i, 2.0 * i) for i in range(11)]
    summary = summarize(points)
    assert (summary.points, summary.min, summary.max, summary.first, summary.last) == (11, 0, 20, 0, 20)
    assert summary.mean == pytest.approx(10)
    assert summary.trend_per_second == pytest.approx(2 / 60)


def test_non_finite_values_are_counted_but_not_summarized() -> None:
    summary = summarize([(0, 1.0), (1, math.nan), (2, math.inf), (3, 3.0)])
    assert (summary.points, summary.non_finite, summary.min, summary.max, summary.mean) == (4, 2, 1.0, 3.0, 2.0)
    empty = summarize([(0, math.nan)])
    assert (empty.min, empty.trend_per_second) == (None, None)


def test_downsample_keeps_bucket_means_at_bucket_ends() -> None:
    points = [(float(i), float(i)) for i in range(10)]
    assert downsample(points, 5) == [(1, 0.5), (3, 2.5), (5, 4.5), (7, 6.5), (9, 8.5)]
    assert downsample(points, 20) == points
