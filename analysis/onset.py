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

Pure computation: no I/O, standard library only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

from analysis.anomaly import median

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
    # One value per instant (the median of any repeated): a change has to start after the first one.
    at_time: dict[float, list[float]] = {}
    for t, v in points:
        if math.isfinite(t) and math.isfinite(v):
            at_time.setdefault(t, []).append(v)
    times = sorted(at_time)
    values = [median(at_time[t]) for t in times]
    found = _change(times, values, min_segment, min_score, min_size)
    if found is None:
        return None
    onset, k = found
    # What the change moved the series by, from just before it to the end of the window.
    undone = abs(median(values[-min_segment:]) - median(values[k - min_segment : k]))
    end = k
    for _ in range(_MAX_TREND_ENDS):
        earlier = _change(times[:end], values[:end], min_segment, min_score, min_size)
        if earlier is None:
            break
        start, j = earlier
        built = median(values[end - min_segment : end]) - median(values[:j])
        if built * (1 if start.direction == "up" else -1) < _TREND_SHARE * undone:
            break  # it did not build what the change moved: a bend of the cycle, not the change's trend
        if start.kind == "ramp" and start.direction != onset.direction:
            # The change found ends a trend that began at j: the onset is where it began.
            before, after = median(values[:j]), median(values[j:])
            magnitude = None if before == 0 else (after - before) / abs(before)
            return replace(start, after=after, magnitude=magnitude)
        if start.direction != onset.direction:
            break
        end = j  # another reset of the same sawtooth: its trend began earlier still
    return onset


def _change(
    times: list[float], values: list[float], min_segment: int, min_score: float, min_size: float
) -> tuple[Onset, int] | None:
    """The single change point of the (clean, ordered) series, with the index of its first point."""
    n = len(values)
    if n < 2 * min_segment:
        return None
    span = times[-1] - times[0]
    low, high = min(values), max(values)
    if span <= 0 or not math.isfinite(span) or high == low:
        return None
    # Work in units of the window and of the range: the sums below stay well conditioned whether
    # the series is an error ratio near 1e-4 or a byte count near 1e10. Halving before subtracting
    # keeps the range finite for values near the float limit.
    level = median(values)
    half_range = high / 2 - low / 2
    if half_range <= 0:
        return None  # values a float's last bit apart (subnormals): flat at this resolution
    y = _despike([(v / 2 - level / 2) / half_range for v in values], min_segment)
    u = [(t - times[0]) / span for t in times]
    basis = _orthonormal_polynomials(u, _NULL_DEGREE)
    fit = _best_split(u, y, basis, min_segment)
    if fit is None:
        return None
    kind, k, regressor = fit
    # The split comes from least squares, which a long spike can pull about (its end looks like a
    # step down); the size of the change and its evidence come from a robust refit at that split.
    columns = [*basis, regressor]
    coefficients, residuals = _robust_fit(columns, y)
    coefficient = coefficients[-1]
    baseline_residuals = [e + coefficient * xi for e, xi in zip(residuals, regressor, strict=True)]
    # |c| * |x'| is sqrt of the reduction of the residual sum of squares x brings (see _best_split).
    orthogonal = math.fsum(xi * xi for xi in regressor) - math.fsum(
        math.fsum(ei * xi for ei, xi in zip(e, regressor, strict=True)) ** 2 for e in basis
    )
    score = _finite(abs(coefficient) * math.sqrt(max(orthogonal, 0.0)) / _long_run_sigma(residuals))
    if score < min_score or coefficient == 0:
        return None
    # The noise the change is judged against is the series' own before it, from point to point: a
    # regime that is noisier afterwards (an error ratio that now flaps) must not make the change look
    # smaller, nor must a climb the model follows only roughly (a leak that a restart ends).
    size = _finite(abs(coefficient * regressor[-1]) / _point_sigma(y[:k]))
    if size < min_size:
        return None
    fitted_departure = coefficient * median(regressor[k:])
    observed_departure = median(baseline_residuals[k:]) - median(baseline_residuals[:k])
    if observed_departure * math.copysign(1.0, coefficient) < _PERSISTENCE * abs(fitted_departure):
        return None
    if kind == "ramp":
        k = _ramp_start(u, y, k, min_segment)
    before, after = median(values[:k]), median(values[k:])
    onset = Onset(
        at=times[k],
        direction="up" if coefficient > 0 else "down",
        kind=kind,
        before=before,
        after=after,
        magnitude=None if before == 0 else (after - before) / abs(before),
        score=score,
        size=size,
    )
    return onset, k


def _ramp_start(u: list[float], y: list[float], k: int, min_segment: int) -> int:
    """Where the ramp found at ``k`` began: the knot of a straight line plus a hinge fitted around it.

    The quadratic null that keeps a daily cycle from passing for a change also absorbs part of a
    long climb, and more so when the climb then lies flat at a limit: the knot it leaves lands
    minutes early. Around the knot, over ``_RAMP_REACH`` of its distance to the end of the series on
    either side (the limit or a restart lies further), a cycle is a straight line and the climb
    starts where a broken line bends.
    """
    reach = max(int((len(y) - k) * _RAMP_REACH), 2 * min_segment)
    low, high = max(0, k - reach), min(len(y), k + reach)
    local = u[low:high]
    fit = _best_split(local, y[low:high], _orthonormal_polynomials(local, 1), min_segment, ("ramp",))
    return k if fit is None else low + fit[1]


def _finite(value: float) -> float:
    # Callers serialise scores as JSON, which has no infinity.
    return value if math.isfinite(value) else sys.float_info.max


def _best_split(
    u: list[float],
    y: list[float],
    basis: list[list[float]],
    min_segment: int,
    kinds: tuple[Kind, ...] = ("step", "ramp"),
) -> tuple[Kind, int, list[float]] | None:
    """The split and kind with the largest reduction of the null trend's residual sum of squares.

    Returns (kind, first index of the new regime, regressor). Adding a
    regressor x to a least-squares fit on an orthonormal basis e reduces the residual sum of
    squares by (r.x)^2 / (|x|^2 - sum_j (e_j.x)^2), with r the fit's residuals. For a step x is 1
    from the split on; for a ramp it is u - u[k-1] from the split on (the knot is the last point of
    the old regime, so the first point of the new one already departs). Both need only suffix
    sums, updated as the split moves back.
    """
    n = len(y)
    trend = _projection(y, basis)
    r = [yi - ti for yi, ti in zip(y, trend, strict=True)]
    best: tuple[Kind, int, float, float] | None = None
    count = 0
    sum_u = sum_uu = sum_r = sum_ru = 0.0
    sum_e = [0.0] * len(basis)
    sum_eu = [0.0] * len(basis)
    for k in range(n - 1, min_segment - 1, -1):
        count += 1
        uk = u[k]
        sum_u += uk
        sum_uu += uk * uk
        sum_r += r[k]
        sum_ru += r[k] * uk
        for j, e in enumerate(basis):
            sum_e[j] += e[k]
            sum_eu[j] += e[k] * uk
        if count < min_segment:
            continue
        step_denominator = count - math.fsum(s * s for s in sum_e)
        if "step" in kinds and step_denominator > 1e-9 * count:
            reduction = sum_r * sum_r / step_denominator
            if best is None or reduction > best[2]:
                best = ("step", k, reduction, sum_r / step_denominator)
        knot = u[k - 1]
        sum_xx = sum_uu - 2 * knot * sum_u + count * knot * knot
        ramp_denominator = sum_xx - math.fsum((seu - knot * se) ** 2 for se, seu in zip(sum_e, sum_eu, strict=True))
        if "ramp" in kinds and ramp_denominator > 1e-9 * sum_xx:
            numerator = sum_ru - knot * sum_r
            reduction = numerator * numerator / ramp_denominator
            if best is None or reduction > best[2]:
                best = ("ramp", k, reduction, numerator / ramp_denominator)
    if best is None or best[2] <= 0:
        return None
    kind, k, _, _ = best
    departure = [1.0] * (n - k) if kind == "step" else [ui - u[k - 1] for ui in u[k:]]
    return kind, k, [0.0] * k + departure


def _robust_fit(columns: list[list[float]], y: list[float]) -> tuple[list[float], list[float]]:
    """Coefficients and residuals of an M-estimate of y on the columns (IRLS from least squares).

    Huber iterations first (a convex problem: they find the bulk of the data), then Tukey's
    bisquare, which gives points beyond ``_BISQUARE_K`` robust sigmas no weight at all: a spike
    that lasted a quarter of an hour neither bends the trend nor passes for a step where it ends.
    """
    weights = [1.0] * len(y)
    coefficients = [0.0] * len(columns)
    residuals = list(y)
    for iteration in range(_HUBER_ITERATIONS + _BISQUARE_ITERATIONS):
        solved = _weighted_least_squares(columns, y, weights)
        if solved is None:
            break
        coefficients = solved
        residuals = [
            yi - math.fsum(c * col[i] for c, col in zip(coefficients, columns, strict=True)) for i, yi in enumerate(y)
        ]
        sigma = _sigma(residuals)
        if sigma <= 0:
            break
        if iteration + 1 < _HUBER_ITERATIONS:
            cutoff = _HUBER_K * sigma
            weights = [1.0 if abs(e) <= cutoff else cutoff / abs(e) for e in residuals]
        else:
            cutoff = _BISQUARE_K * sigma
            weights = [(1 - (e / cutoff) ** 2) ** 2 if abs(e) < cutoff else 0.0 for e in residuals]
    return coefficients, residuals


def _weighted_least_squares(columns: list[list[float]], y: list[float], weights: list[float]) -> list[float] | None:
    """Solves the normal equations by Gaussian elimination with partial pivoting; None if singular."""
    p = len(columns)
    weighted = [[w * xi for w, xi in zip(weights, col, strict=True)] for col in columns]
    matrix = [
        [math.fsum(a * b for a, b in zip(weighted[i], columns[j], strict=True)) for j in range(p)]
        + [math.fsum(a * b for a, b in zip(weighted[i], y, strict=True))]
        for i in range(p)
    ]
    for col in range(p):
        pivot = max(range(col, p), key=lambda row: abs(matrix[row][col]))
        if abs(matrix[pivot][col]) < 1e-12:
            return None
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        for row in range(p):
            if row != col:
                factor = matrix[row][col] / matrix[col][col]
                matrix[row] = [a - factor * b for a, b in zip(matrix[row], matrix[col], strict=True)]
    return [matrix[i][p] / matrix[i][i] for i in range(p)]


def _orthonormal_polynomials(u: list[float], degree: int) -> list[list[float]]:
    """1, u, ..., u^degree over the points, orthonormalised (modified Gram-Schmidt)."""
    basis: list[list[float]] = []
    for power in range(degree + 1):
        vector = [ui**power for ui in u]
        for e in basis:
            dot = math.fsum(vi * ei for vi, ei in zip(vector, e, strict=True))
            vector = [vi - dot * ei for vi, ei in zip(vector, e, strict=True)]
        norm = math.sqrt(math.fsum(vi * vi for vi in vector))
        if norm > 1e-9:
            basis.append([vi / norm for vi in vector])
    return basis


def _projection(y: list[float], basis: list[list[float]]) -> list[float]:
    out = [0.0] * len(y)
    for e in basis:
        dot = math.fsum(yi * ei for yi, ei in zip(y, e, strict=True))
        out = [oi + dot * ei for oi, ei in zip(out, e, strict=True)]
    return out


def _despike(y: list[float], half_width: int) -> list[float]:
    """``y`` with transient outliers replaced by the median of their neighbourhood (a Hampel filter).

    Where a neighbourhood of ``half_width`` points each side fits, runs of up to that many outliers
    go: a transient shorter than a regime (``min_segment`` points) is not one, such as the union of
    a workload's pods at a rollout, which counts old and new pods together for the rollout's overlap
    plus Prometheus' 5-minute look-back, during which a vanished series still answers. Near either
    end of the series, where such a neighbourhood would be cut short and a regime of its last few
    points would lose its edge, the neighbourhood is ``_HAMPEL_HALF_WIDTH`` points each side. A step
    keeps its edge: the points next to it have a majority of their own level around them.
    """
    sigma = _sigma([b - a for a, b in pairwise(y)]) / math.sqrt(2)
    if sigma <= 0:
        return y
    out = list(y)
    for i, value in enumerate(y):
        width = half_width if half_width <= i < len(y) - half_width else _HAMPEL_HALF_WIDTH
        local = median(y[max(0, i - width) : i + width + 1])
        if abs(value - local) > _HAMPEL_SIGMAS * sigma:
            out[i] = local
    return out


def _point_sigma(y: list[float]) -> float:
    """The noise of ``y`` from one point to the next (robust scale of its differences / sqrt 2); trends leave it be."""
    return max(_sigma([b - a for a, b in pairwise(y)]) / math.sqrt(2), _SIGMA_FLOOR)


def _long_run_sigma(residuals: list[float]) -> float:
    """Robust residual scale, inflated by (1 + rho) / (1 - rho) in variance for lag-1 autocorrelation rho.

    rho comes from the scale of the first differences (var(diff) = 2 sigma^2 (1 - rho)), which
    keeps it as robust as the scale itself.
    """
    sigma = max(_sigma(residuals), _SIGMA_FLOOR)
    diff_sigma = _sigma([b - a for a, b in pairwise(residuals)])
    rho = min(max(1 - diff_sigma * diff_sigma / (2 * sigma * sigma), 0.0), _MAX_AUTOCORRELATION)
    return sigma * math.sqrt((1 + rho) / (1 - rho))


def _sigma(values: list[float]) -> float:
    if not values:
        return 0.0
    center = median(values)
    deviations = [abs(v - center) for v in values]
    mad = median(deviations)
    if mad > 0:
        return _MAD_TO_SIGMA * mad
    return _MEAN_ABS_TO_SIGMA * math.fsum(deviations) / len(deviations)
