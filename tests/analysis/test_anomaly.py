import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.anomaly import SeriesDeparture, rank_departures

SPLIT = 100.0


def _series(baseline: list[float], recent: list[float]) -> list[tuple[float, float]]:
    """Baseline points at ts 0, 1, ... and recent points at SPLIT, SPLIT + 1, ..."""
    return [(float(i), v) for i, v in enumerate(baseline)] + [(SPLIT + i, v) for i, v in enumerate(recent)]


def test_step_change_ranks_first_with_exact_score() -> None:
    # Baseline 10, 11, 9, 10, 10: median 10, deviations 0, 1, 1, 0, 0 -> MAD 0, so the floor of
    # 1% of the median applies. Recent 20, 20, 21: median 20.
    spread = max(1.4826 * 0.0, 0.01 * 10.0)
    noisy = _series([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 2.0])
    step = _series([10.0, 11.0, 9.0, 10.0, 10.0], [20.0, 20.0, 21.0])
    steady = _series([50.0, 50.0, 50.0], [50.0, 50.0, 50.0])

    ranked = rank_departures([noisy, step, steady], SPLIT)

    assert [d.key for d in ranked] == [1, 0, 2]
    assert ranked[0] == SeriesDeparture(
        key=1,
        score=(20.0 - 10.0) / spread,
        direction="up",
        baseline_median=10.0,
        recent_median=20.0,
        baseline_spread=spread,
        relative_change=1.0,
        recent_outlier_fraction=1.0,
        baseline_points=5,
        recent_points=3,
    )


def test_score_uses_scaled_mad_when_baseline_is_noisy() -> None:
    # Baseline 1..5: median 3, deviations 2, 1, 0, 1, 2 -> MAD 1. Recent median 3.5 (even count).
    [departure] = rank_departures([_series([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 2.0, 5.0])], SPLIT)

    assert departure.baseline_spread == 1.4826
    assert departure.recent_median == 3.5
    assert departure.score == 0.5 / 1.4826
    assert departure.relative_change == 0.5 / 3.0
    assert departure.recent_outlier_fraction == 0.0


def test_direction_is_down_when_recent_median_drops() -> None:
    [departure] = rank_departures([_series([10.0, 10.0, 10.0], [5.0, 5.0, 5.0])], SPLIT)

    assert departure.direction == "down"
    assert departure.relative_change == -0.5


def test_direction_is_flat_when_medians_are_identical() -> None:
    [departure] = rank_departures([_series([1.0, 2.0, 3.0], [2.0, 0.0, 9.0])], SPLIT)

    assert departure.direction == "flat"
    assert departure.score == 0.0
    assert departure.relative_change == 0.0


def test_relative_change_is_none_when_baseline_median_is_zero() -> None:
    [departure] = rank_departures([_series([0.0, 0.0, 0.0], [-2.0, -2.0, -2.0])], SPLIT)

    assert departure.relative_change is None
    assert departure.direction == "down"
    assert departure.baseline_spread == 1e-9
    assert departure.score == 2.0 / 1e-9


def test_constant_baseline_gives_finite_score() -> None:
    [departure] = rank_departures([_series([7.0] * 10, [7.5, 8.0, 9.0])], SPLIT)

    assert math.isfinite(departure.score)
    assert departure.baseline_spread == 0.01 * 7.0
    assert departure.score == 1.0 / (0.01 * 7.0)


def test_nan_and_inf_values_are_dropped_before_statistics() -> None:
    baseline = [10.0, math.nan, 10.0, math.inf, 10.0]
    recent = [20.0, -math.inf, 20.0, math.nan, 20.0]

    [departure] = rank_departures([_series(baseline, recent)], SPLIT)

    assert departure.baseline_points == 3
    assert departure.recent_points == 3
    assert departure.baseline_median == 10.0
    assert departure.recent_median == 20.0


def test_series_with_too_few_points_on_either_side_are_skipped() -> None:
    short_baseline = _series([1.0, 1.0], [5.0, 5.0, 5.0])
    short_recent = _series([1.0, 1.0, 1.0], [5.0, 5.0])
    short_after_dropping_nan = _series([1.0, 1.0, math.nan], [5.0, 5.0, 5.0])
    enough = _series([1.0, 1.0, 1.0], [5.0, 5.0, 5.0])

    ranked = rank_departures([short_baseline, short_recent, short_after_dropping_nan, enough], SPLIT)

    assert [d.key for d in ranked] == [3]
    assert [d.key for d in rank_departures([short_baseline, short_recent], SPLIT, min_points=2)] == [0, 1]


def test_points_at_split_time_belong_to_recent_part() -> None:
    points = [(SPLIT - 2, 1.0), (SPLIT - 1, 1.0), (SPLIT, 9.0), (SPLIT + 1, 9.0)]

    [departure] = rank_departures([points], SPLIT, min_points=2)

    assert (departure.baseline_points, departure.recent_points) == (2, 2)
    assert departure.recent_median == 9.0


def test_limit_keeps_the_highest_ranked() -> None:
    series = [_series([10.0] * 3, [10.0 + step] * 3) for step in (1.0, 3.0, 2.0, 0.0)]

    assert [d.key for d in rank_departures(series, SPLIT, limit=2)] == [1, 2]
    assert rank_departures(series, SPLIT, limit=0) == []
    assert len(rank_departures(series, SPLIT, limit=10)) == 4


def test_ties_break_by_outlier_fraction_then_key() -> None:
    # Same baseline (median 3, spread 1.4826, 3 sigmas = 4.4478) and same recent median 9, so
    # equal scores; 3 is within 3 sigmas of the baseline median, 9 is beyond.
    fewer_outliers = _series([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 9.0, 9.0])
    all_outliers = _series([1.0, 2.0, 3.0, 4.0, 5.0], [9.0, 9.0, 9.0])

    ranked = rank_departures([fewer_outliers, all_outliers, fewer_outliers, all_outliers], SPLIT)

    assert ranked[0].score == ranked[3].score
    assert [d.key for d in ranked] == [1, 3, 0, 2]
    assert [d.recent_outlier_fraction for d in ranked] == [1.0, 1.0, 2 / 3, 2 / 3]


def test_empty_input_gives_empty_result() -> None:
    assert rank_departures([], SPLIT) == []
    assert rank_departures([[]], SPLIT) == []


@pytest.mark.parametrize(("min_points", "limit"), [(0, None), (3, -1)])
def test_invalid_arguments_are_rejected(min_points: int, limit: int | None) -> None:
    with pytest.raises(ValueError, match="must"):
        rank_departures([], SPLIT, min_points=min_points, limit=limit)


def test_score_at_float_limit_is_clamped_to_finite() -> None:
    huge = sys.float_info.max
    # recent median - baseline median = huge - (-huge) overflows to inf.
    [departure] = rank_departures([_series([-huge] * 3, [huge] * 3)], SPLIT)

    assert departure.score == huge
    assert departure.direction == "up"


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=12),
)
def test_score_is_always_finite_and_non_negative(baseline: list[float], recent: list[float]) -> None:
    for departure in rank_departures([_series(baseline, recent)], SPLIT, min_points=1):
        assert math.isfinite(departure.score)
        assert departure.score >= 0.0
        assert departure.direction in {"up", "down", "flat"}
