"""Find when a symptom started: the single change point where a series leaves its earlier behaviour.

Each series is a sequence of ``(unix_ts, value)`` points; points with a non-finite timestamp or
value are dropped and the rest are ordered by time. `detect_onset` compares a quadratic trend over
the whole window (the null: a steady level, a drift, or the slice of a daily cycle that a few
hours show) with two alternatives at every split that leaves ``min_segment`` points on each side:

- ``step``: the trend plus a level shift from the split on (an error ratio jumps, a pool drains);
- ``ramp``: the trend plus a change of slope from the split on (a memory leak starts).

Both alternatives add one regressor to the trend, so the reduction of the residual sum of squares
at every split is a closed form of suffix sums: O(n) for all splits. The split and kind with the
largest reduction win. Least squares places the split well but a long spike pulls it about, so the
change is then refitted robustly (Huber, then Tukey's bisquare) at that split. The score is the
robust change's ``sqrt(reduction) / sigma``: how many noise-sigmas of evidence it carries,
comparable across series whatever their unit. Sigma is the robust scale (MAD) of the residuals,
inflated by their lag-1 autocorrelation (long-run variance of an AR(1)), so a series that wanders
slowly, or curves more than the model follows, needs a larger change to score as high. Before
fitting, runs of outliers shorter than a regime (``min_segment`` points; ``_HAMPEL_HALF_WIDTH``
near the ends of the series) are replaced by the local median, so a scrape glitch, a counter reset
or the overlap of old and new pods at a rollout can neither create an onset nor hide one.

An onset is reported only when the score reaches ``min_score``, the change is large against the
series' own noise before it (``size``: the fitted departure at the end of the window in sigmas of
the point-to-point noise before the split, at least ``min_size``, so a long but slight drift that only accumulates
evidence does not count), and the new regime persists: the median departure after the split must
be at least half the fitted one. The triage question is
when the *current* symptom began, so a spike that recovered before the end of the window is not
an onset (None), unless the elevated part is most of what follows it. A change in the last
``min_segment`` points is not yet a regime either.

A trend ends: a leak climbs until the memory limit holds it flat or a restart drops it back. The
strongest change is then that end (a slope turning down, a step down), not the trend's start, so
when it reverses an earlier ramp found in the series before it (with the same tests) that built
in its own direction at least half of what the end moved, the onset is that ramp's start; resets
of a sawtooth before it are followed back the same way. A decline of the daily cycle before a
climb builds little and stays the cycle. Where a ramp began is refitted around its knot as the
bend of a broken line (see `_ramp_start`): the quadratic null absorbs part of a long climb and
left its start minutes early.

Known limit: a very smooth series (noise below ~1% of its level) with a sharp intraday shape, such
as a strong 12 h harmonic, bends more than a quadratic can follow and may yield a spurious ramp.

Pure computation, no I/O. The arithmetic is numpy's: the reductions at every split at once from
cumulative sums, the robust refit and the filters as array operations, so a fit of 360 points takes
under 2 ms of CPU, against 14 ms point by point (bench/change_points.py). Medians of an even count
halve before adding, as `analysis.anomaly.median` does, so values near the float limit stay finite.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

__all__ = ["DEFAULT_MIN_SCORE", "DEFAULT_MIN_SEGMENT", "DEFAULT_MIN_SIZE", "Onset", "detect_onset"]

DEFAULT_MIN_SEGMENT = 6
# Calibrated on 3 h windows (180-720 points) of gaussian, AR(1) and Poisson counter-rate noise on a
# random slice of a daily cycle: their highest score was 5.2 in 600 windows (none reached 6; the
# tests assert the rate), while a step of 3 noise-sigmas mid-window scores about 10 to 15.
DEFAULT_MIN_SCORE = 6.0
# A departure inside twice the per-point noise of the series before it stays within its usual
# band (about 95% of its points for gaussian noise): however long it lasts, it is not a new regime.
DEFAULT_MIN_SIZE = 2.0
# Trend ends (plateaus, resets of a sawtooth) followed back to the start of the trend, at most.
_MAX_TREND_ENDS = 4
# An earlier ramp is the trend a change ends only when it built, in its own direction, at least
# this share of what the change moved (a leak climbs about as far as the restart drops it).
_TREND_SHARE = 0.5

_MAD_TO_SIGMA = 1.4826
# Mean absolute deviation to sigma for normal data: the fallback when over half of the residuals
# are equal (a quantized gauge), where the MAD is 0 although the series is not noiseless.
_MEAN_ABS_TO_SIGMA = math.sqrt(math.pi / 2)
# Noise floor in units of the series' range: a perfectly clean change still gets a finite score.
_SIGMA_FLOOR = 1e-9
# Beyond this the long-run variance estimate is dominated by the model misfit it guards against.
_MAX_AUTOCORRELATION = 0.95
_HAMPEL_HALF_WIDTH = 3
_HAMPEL_SIGMAS = 4.0
_PERSISTENCE = 0.5
# How far either side of a ramp's knot its start is refitted, as a share of the knot's distance to
# the end of the series (where the climb ends, at a limit or a restart, lies after the knot). Wider
# holds more of a noisy climb, narrower keeps out where it ends. On synthetic leaks (starts from
# 30 min to 4 h into 6 h, 0.5-3% noise, ending in a restart, held at a limit or still climbing) 2/3
# placed starts 0.8 min off on average (p90 2, worst 11, as many misses), against 2.0 (p90 6, worst
# 15) with the quadratic fit's knot; a half or three quarters did about as well, a reach bounded by
# the distance to the start of the series too was unstable for a slow climb early in the window.
_RAMP_REACH = 2 / 3
# The null is a quadratic trend: over a few hours a daily cycle is a smooth curve, which a
# straight line leaves as a spurious bend for the ramp model to "find" in low-noise series.
_NULL_DEGREE = 2
# The usual tuning constants: 95% efficiency on gaussian noise.
_HUBER_K = 1.345
_BISQUARE_K = 4.685
_HUBER_ITERATIONS = 4
_BISQUARE_ITERATIONS = 4

Kind = Literal["step", "ramp"]
Direction = Literal["up", "down"]
Vector = NDArray[np.float64]


@dataclass(frozen=True)
class Onset:
    """The start of a new regime in a series.

    ``at`` is the timestamp of the regime's first point. ``before`` and ``after`` are the medians
    of the values before and from ``at``; ``magnitude`` is ``(after - before) / |before|``, None
    when ``before`` is 0. ``score`` is the evidence in noise-sigmas (see the module docstring);
    ``size`` is the departure at the end of the window in sigmas of the per-point noise before
    ``at``: how far the series left its usual band, whatever the number of points.
    """

    at: float
    direction: Direction
    kind: Kind
    before: float
    after: float
    magnitude: float | None
    score: float
    size: float


def detect_onset(
    points: Sequence[tuple[float, float]],
    *,
    min_segment: int = DEFAULT_MIN_SEGMENT,
    min_score: float = DEFAULT_MIN_SCORE,
    min_size: float = DEFAULT_MIN_SIZE,
) -> Onset | None:
    """The most likely single change point of ``points``, or None when no change is clear enough.

    None also when fewer than ``2 * min_segment`` usable points remain or the series is flat.
    Raises ValueError when ``min_segment`` is below 2.
    """
    if min_segment < 2:
        raise ValueError(f"min_segment must be at least 2, got {min_segment}.")
    times, values = _clean(points)
    found = _change(times, values, min_segment, min_score, min_size)
    if found is None:
        return None
    onset, k = found
    # What the change moved the series by, from just before it to the end of the window.
    undone = abs(_median(values[-min_segment:]) - _median(values[k - min_segment : k]))
    end = k
    for _ in range(_MAX_TREND_ENDS):
        earlier = _change(times[:end], values[:end], min_segment, min_score, min_size)
        if earlier is None:
            break
        start, j = earlier
        built = _median(values[end - min_segment : end]) - _median(values[:j])
        if built * (1 if start.direction == "up" else -1) < _TREND_SHARE * undone:
            break  # it did not build what the change moved: a bend of the cycle, not the change's trend
        if start.kind == "ramp" and start.direction != onset.direction:
            # The change found ends a trend that began at j: the onset is where it began.
            before, after = _median(values[:j]), _median(values[j:])
            magnitude = None if before == 0 else (after - before) / abs(before)
            return replace(start, after=after, magnitude=magnitude)
        if start.direction != onset.direction:
            break
        end = j  # another reset of the same sawtooth: its trend began earlier still
    return onset


def _clean(points: Sequence[tuple[float, float]]) -> tuple[Vector, Vector]:
    """Times and values with non-finite points dropped, ordered by time, one value per instant.

    A repeated instant keeps the median of its values: a change has to start after the first one.
    """
    data = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    data = data[np.isfinite(data).all(axis=1)]
    order = np.argsort(data[:, 0], kind="stable")
    times, values = data[order, 0], data[order, 1]
    firsts = np.flatnonzero(np.concatenate(([True], times[1:] != times[:-1])))
    if firsts.size >= times.size:  # no instant repeated (or no point at all)
        return times, values
    ends = [*firsts[1:].tolist(), times.size]
    return times[firsts], np.array([_median(values[a:b]) for a, b in zip(firsts.tolist(), ends, strict=True)])


def _change(
    times: Vector, values: Vector, min_segment: int, min_score: float, min_size: float
) -> tuple[Onset, int] | None:
    """The single change point of the (clean, ordered) series, with the index of its first point."""
    n = values.size
    if n < 2 * min_segment:
        return None
    span = float(times[-1] - times[0])
    low, high = float(values.min()), float(values.max())
    if span <= 0 or not math.isfinite(span) or high == low:
        return None
    # Work in units of the window and of the range: the sums below stay well conditioned whether
    # the series is an error ratio near 1e-4 or a byte count near 1e10. Halving before subtracting
    # keeps the range finite for values near the float limit.
    level = _median(values)
    half_range = high / 2 - low / 2
    if half_range <= 0:
        return None  # values a float's last bit apart (subnormals): flat at this resolution
    y = _despike((values / 2 - level / 2) / half_range, min_segment)
    u = (times - times[0]) / span
    basis = _orthonormal_polynomials(u, _NULL_DEGREE)
    fit = _best_split(u, y, basis, min_segment)
    if fit is None:
        return None
    kind, k, regressor = fit
    # The split comes from least squares, which a long spike can pull about (its end looks like a
    # step down); the size of the change and its evidence come from a robust refit at that split.
    coefficients, residuals = _robust_fit(np.vstack([basis, regressor]), y)
    coefficient = float(coefficients[-1])
    baseline_residuals = residuals + coefficient * regressor
    # |c| * |x'| is sqrt of the reduction of the residual sum of squares x brings (see _best_split).
    orthogonal = float(np.sum(regressor * regressor)) - float(np.sum(_dots(basis, regressor) ** 2))
    score = _finite(abs(coefficient) * math.sqrt(max(orthogonal, 0.0)) / _long_run_sigma(residuals))
    if score < min_score or coefficient == 0:
        return None
    # The noise the change is judged against is the series' own before it, from point to point: a
    # regime that is noisier afterwards (an error ratio that now flaps) must not make the change look
    # smaller, nor must a climb the model follows only roughly (a leak that a restart ends).
    size = _finite(abs(coefficient * float(regressor[-1])) / _point_sigma(y[:k]))
    if size < min_size:
        return None
    fitted_departure = coefficient * _median(regressor[k:])
    observed_departure = _median(baseline_residuals[k:]) - _median(baseline_residuals[:k])
    if observed_departure * math.copysign(1.0, coefficient) < _PERSISTENCE * abs(fitted_departure):
        return None
    if kind == "ramp":
        k = _ramp_start(u, y, k, min_segment)
    before, after = _median(values[:k]), _median(values[k:])
    onset = Onset(
        at=float(times[k]),
        direction="up" if coefficient > 0 else "down",
        kind=kind,
        before=before,
        after=after,
        magnitude=None if before == 0 else (after - before) / abs(before),
        score=score,
        size=size,
    )
    return onset, k


def _ramp_start(u: Vector, y: Vector, k: int, min_segment: int) -> int:
    """Where the ramp found at ``k`` began: the knot of a straight line plus a hinge fitted around it.

    The quadratic null that keeps a daily cycle from passing for a change also absorbs part of a
    long climb, and more so when the climb then lies flat at a limit: the knot it leaves lands
    minutes early. Around the knot, over ``_RAMP_REACH`` of its distance to the end of the series on
    either side (the limit or a restart lies further), a cycle is a straight line and the climb
    starts where a broken line bends.
    """
    reach = max(int((y.size - k) * _RAMP_REACH), 2 * min_segment)
    low, high = max(0, k - reach), min(y.size, k + reach)
    local = u[low:high]
    fit = _best_split(local, y[low:high], _orthonormal_polynomials(local, 1), min_segment, ("ramp",))
    return k if fit is None else low + fit[1]


def _finite(value: float) -> float:
    # Callers serialise scores as JSON, which has no infinity.
    return value if math.isfinite(value) else sys.float_info.max


def _best_split(
    u: Vector,
    y: Vector,
    basis: Vector,
    min_segment: int,
    kinds: tuple[Kind, ...] = ("step", "ramp"),
) -> tuple[Kind, int, Vector] | None:
    """The split and kind with the largest reduction of the null trend's residual sum of squares.

    Returns (kind, first index of the new regime, regressor). Adding a
    regressor x to a least-squares fit on an orthonormal basis e (one row per vector) reduces the
    residual sum of squares by (r.x)^2 / (|x|^2 - sum_j (e_j.x)^2), with r the fit's residuals. For
    a step x is 1 from the split on; for a ramp it is u - u[k-1] from the split on (the knot is the
    last point of the old regime, so the first point of the new one already departs). Both need
    only suffix sums, all of them from one cumulative sum each. Of equal reductions the latest
    split wins, and a step before a ramp at the same split.
    """
    n = y.size
    splits = np.arange(min_segment, n - min_segment + 1)  # at least min_segment points each side
    if splits.size == 0:
        return None
    r = y - np.sum(_dots(basis, y)[:, np.newaxis] * basis, axis=0)
    count = (n - splits).astype(np.float64)
    sum_u, sum_uu, sum_r, sum_ru = (_suffix_sums(a)[splits] for a in (u, u * u, r, r * u))
    sum_e = _suffix_sums(basis)[:, splits]
    sum_eu = _suffix_sums(basis * u)[:, splits]
    step = np.full(splits.size, -np.inf)
    if "step" in kinds:
        step_denominator = count - np.sum(sum_e * sum_e, axis=0)
        np.divide(sum_r * sum_r, step_denominator, out=step, where=step_denominator > 1e-9 * count)
    ramp = np.full(splits.size, -np.inf)
    if "ramp" in kinds:
        knot = u[splits - 1]
        sum_xx = sum_uu - 2 * knot * sum_u + count * knot * knot
        ramp_denominator = sum_xx - np.sum((sum_eu - knot * sum_e) ** 2, axis=0)
        numerator = sum_ru - knot * sum_r
        np.divide(numerator * numerator, ramp_denominator, out=ramp, where=ramp_denominator > 1e-9 * sum_xx)
    # Candidates in the order of a scan from the last split back, a step before a ramp: argmax
    # keeps the first of equal reductions.
    candidates = np.stack([step, ramp], axis=1)[::-1].ravel()
    best = int(np.argmax(candidates))
    if not candidates[best] > 0:
        return None
    k = int(splits[::-1][best // 2])
    kind: Kind = "step" if best % 2 == 0 else "ramp"
    regressor = np.zeros(n)
    regressor[k:] = 1.0 if kind == "step" else u[k:] - u[k - 1]
    return kind, k, regressor


def _suffix_sums(a: Vector) -> Vector:
    """``out[..., k]`` is the sum of ``a[..., k:]``, accumulated from the end."""
    return np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]


def _robust_fit(columns: Vector, y: Vector) -> tuple[Vector, Vector]:
    """Coefficients and residuals of an M-estimate of y on the columns (rows of ``columns``; IRLS from least squares).

    Huber iterations first (a convex problem: they find the bulk of the data), then Tukey's
    bisquare, which gives points beyond ``_BISQUARE_K`` robust sigmas no weight at all: a spike
    that lasted a quarter of an hour neither bends the trend nor passes for a step where it ends.
    """
    weights = np.ones(y.size)
    coefficients = np.zeros(columns.shape[0])
    residuals = y.copy()
    for iteration in range(_HUBER_ITERATIONS + _BISQUARE_ITERATIONS):
        solved = _weighted_least_squares(columns, y, weights)
        if solved is None:
            break
        coefficients = solved
        residuals = y - np.sum(coefficients[:, np.newaxis] * columns, axis=0)
        sigma = _sigma(residuals)
        if sigma <= 0:
            break
        distance = np.abs(residuals)
        if iteration + 1 < _HUBER_ITERATIONS:
            cutoff = _HUBER_K * sigma
            weights = np.ones(y.size)
            np.divide(cutoff, distance, out=weights, where=distance > cutoff)
        else:
            cutoff = _BISQUARE_K * sigma
            weights = np.where(distance < cutoff, (1 - (residuals / cutoff) ** 2) ** 2, 0.0)
    return coefficients, residuals


def _weighted_least_squares(columns: Vector, y: Vector, weights: Vector) -> Vector | None:
    """Solves the normal equations by Gaussian elimination with partial pivoting; None if singular."""
    p = columns.shape[0]
    weighted = columns * weights
    matrix: list[list[float]] = np.column_stack([_dots(weighted[:, np.newaxis], columns), _dots(weighted, y)]).tolist()
    for col in range(p):
        pivot = max(range(col, p), key=lambda row: abs(matrix[row][col]))
        if abs(matrix[pivot][col]) < 1e-12:
            return None
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        for row in range(p):
            if row != col:
                factor = matrix[row][col] / matrix[col][col]
                matrix[row] = [a - factor * b for a, b in zip(matrix[row], matrix[col], strict=True)]
    return np.array([matrix[i][p] / matrix[i][i] for i in range(p)])


def _orthonormal_polynomials(u: Vector, degree: int) -> Vector:
    """1, u, ..., u^degree over the points, orthonormalised (modified Gram-Schmidt): one row each."""
    basis: list[Vector] = []
    for power in range(degree + 1):
        vector = u**power
        for e in basis:
            vector = vector - float(np.sum(vector * e)) * e
        norm = math.sqrt(float(np.sum(vector * vector)))
        if norm > 1e-9:
            basis.append(vector / norm)
    return np.array(basis).reshape(len(basis), u.size)


def _despike(y: Vector, half_width: int) -> Vector:
    """``y`` with transient outliers replaced by the median of their neighbourhood (a Hampel filter).

    Where a neighbourhood of ``half_width`` points each side fits, runs of up to that many outliers
    go: a transient shorter than a regime (``min_segment`` points) is not one, such as the union of
    a workload's pods at a rollout, which counts old and new pods together for the rollout's overlap
    plus Prometheus' 5-minute look-back, during which a vanished series still answers. Near either
    end of the series, where such a neighbourhood would be cut short and a regime of its last few
    points would lose its edge, the neighbourhood is ``_HAMPEL_HALF_WIDTH`` points each side. A step
    keeps its edge: the points next to it have a majority of their own level around them.
    """
    n = y.size
    sigma = _sigma(np.diff(y)) / math.sqrt(2)
    if sigma <= 0:
        return y
    local = np.empty(n)
    if n > 2 * half_width:
        # An odd window: its median is its middle value, as exact as a sort.
        windows = np.partition(sliding_window_view(y, 2 * half_width + 1), half_width, axis=1)
        local[half_width : n - half_width] = windows[:, half_width]
    for i in (*range(min(half_width, n)), *range(max(n - half_width, half_width), n)):
        local[i] = _median(y[max(0, i - _HAMPEL_HALF_WIDTH) : i + _HAMPEL_HALF_WIDTH + 1])
    out: Vector = np.where(np.abs(y - local) > _HAMPEL_SIGMAS * sigma, local, y)
    return out


def _point_sigma(y: Vector) -> float:
    """The noise of ``y`` from one point to the next (robust scale of its differences / sqrt 2); trends leave it be."""
    return max(_sigma(np.diff(y)) / math.sqrt(2), _SIGMA_FLOOR)


def _long_run_sigma(residuals: Vector) -> float:
    """Robust residual scale, inflated by (1 + rho) / (1 - rho) in variance for lag-1 autocorrelation rho.

    rho comes from the scale of the first differences (var(diff) = 2 sigma^2 (1 - rho)), which
    keeps it as robust as the scale itself.
    """
    sigma = max(_sigma(residuals), _SIGMA_FLOOR)
    diff_sigma = _sigma(np.diff(residuals))
    rho = min(max(1 - diff_sigma * diff_sigma / (2 * sigma * sigma), 0.0), _MAX_AUTOCORRELATION)
    return sigma * math.sqrt((1 + rho) / (1 - rho))


def _sigma(values: Vector) -> float:
    if values.size == 0:
        return 0.0
    deviations = np.abs(values - _median(values))
    mad = _median(deviations)
    if mad > 0:
        return _MAD_TO_SIGMA * mad
    return _MEAN_ABS_TO_SIGMA * math.fsum(deviations.tolist()) / deviations.size


def _dots(rows: Vector, other: Vector) -> Vector:
    """Dot products of each row with ``other`` (broadcast), summed without BLAS.

    The vectors here are short (hundreds to thousands of points) and OpenBLAS threads even small
    products: on a busy machine waking its threads cost ten times the arithmetic.
    """
    out: Vector = np.sum(rows * other, axis=-1)
    return out


def _median(values: Vector) -> float:
    """The median; halving before adding keeps it finite for values near the float limit."""
    middle = values.size // 2
    if values.size % 2:
        return float(np.partition(values, middle)[middle])
    ordered = np.partition(values, (middle - 1, middle))
    return float(ordered[middle - 1]) / 2 + float(ordered[middle]) / 2
