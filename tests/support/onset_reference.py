"""The change-point fit of `analysis.onset` as it was in pure Python (standard library only), before numpy.

The reference the vectorised fit is compared with (tests/analysis/test_onset_reference.py) and the
"before" of bench/change_points.py: the same algorithm, computed point by point with math.fsum.
Documentation of the algorithm is in analysis/onset.py.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

from analysis.anomaly import median

DEFAULT_MIN_SEGMENT = 6
DEFAULT_MIN_SCORE = 6.0
DEFAULT_MIN_SIZE = 2.0
_MAX_TREND_ENDS = 4
_TREND_SHARE = 0.5
_MAD_TO_SIGMA = 1.4826
_MEAN_ABS_TO_SIGMA = math.sqrt(math.pi / 2)
_SIGMA_FLOOR = 1e-09
_MAX_AUTOCORRELATION = 0.95
_HAMPEL_HALF_WIDTH = 3
_HAMPEL_SIGMAS = 4.0
_PERSISTENCE = 0.5
_RAMP_REACH = 2 / 3
_NULL_DEGREE = 2
_HUBER_K = 1.345
_BISQUARE_K = 4.685
_HUBER_ITERATIONS = 4
_BISQUARE_ITERATIONS = 4
Kind = Literal["step", "ramp"]
Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Onset:
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
    if min_segment < 2:
        raise ValueError(f"min_segment must be at least 2, got {min_segment}.")
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
    undone = abs(median(values[-min_segment:]) - median(values[k - min_segment : k]))
    end = k
    for _ in range(_MAX_TREND_ENDS):
        earlier = _change(times[:end], values[:end], min_segment, min_score, min_size)
        if earlier is None:
            break
        start, j = earlier
        built = median(values[end - min_segment : end]) - median(values[:j])
        if built * (1 if start.direction == "up" else -1) < _TREND_SHARE * undone:
            break
        if start.kind == "ramp" and start.direction != onset.direction:
            before, after = (median(values[:j]), median(values[j:]))
            magnitude = None if before == 0 else (after - before) / abs(before)
            return replace(start, after=after, magnitude=magnitude)
        if start.direction != onset.direction:
            break
        end = j
    return onset


def _change(
    times: list[float], values: list[float], min_segment: int, min_score: float, min_size: float
) -> tuple[Onset, int] | None:
    n = len(values)
    if n < 2 * min_segment:
        return None
    span = times[-1] - times[0]
    low, high = (min(values), max(values))
    if span <= 0 or not math.isfinite(span) or high == low:
        return None
    level = median(values)
    half_range = high / 2 - low / 2
    if half_range <= 0:
        return None
    y = _despike([(v / 2 - level / 2) / half_range for v in values], min_segment)
    u = [(t - times[0]) / span for t in times]
    basis = _orthonormal_polynomials(u, _NULL_DEGREE)
    fit = _best_split(u, y, basis, min_segment)
    if fit is None:
        return None
    kind, k, regressor = fit
    columns = [*basis, regressor]
    coefficients, residuals = _robust_fit(columns, y)
    coefficient = coefficients[-1]
    baseline_residuals = [e + coefficient * xi for e, xi in zip(residuals, regressor, strict=True)]
    orthogonal = math.fsum(xi * xi for xi in regressor) - math.fsum(
        math.fsum((ei * xi for ei, xi in zip(e, regressor, strict=True))) ** 2 for e in basis
    )
    score = _finite(abs(coefficient) * math.sqrt(max(orthogonal, 0.0)) / _long_run_sigma(residuals))
    if score < min_score or coefficient == 0:
        return None
    size = _finite(abs(coefficient * regressor[-1]) / _point_sigma(y[:k]))
    if size < min_size:
        return None
    fitted_departure = coefficient * median(regressor[k:])
    observed_departure = median(baseline_residuals[k:]) - median(baseline_residuals[:k])
    if observed_departure * math.copysign(1.0, coefficient) < _PERSISTENCE * abs(fitted_departure):
        return None
    if kind == "ramp":
        k = _ramp_start(u, y, k, min_segment)
    before, after = (median(values[:k]), median(values[k:]))
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
    return (onset, k)


def _ramp_start(u: list[float], y: list[float], k: int, min_segment: int) -> int:
    reach = max(int((len(y) - k) * _RAMP_REACH), 2 * min_segment)
    low, high = (max(0, k - reach), min(len(y), k + reach))
    local = u[low:high]
    fit = _best_split(local, y[low:high], _orthonormal_polynomials(local, 1), min_segment, ("ramp",))
    return k if fit is None else low + fit[1]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else sys.float_info.max


def _best_split(
    u: list[float],
    y: list[float],
    basis: list[list[float]],
    min_segment: int,
    kinds: tuple[Kind, ...] = ("step", "ramp"),
) -> tuple[Kind, int, list[float]] | None:
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
        if "step" in kinds and step_denominator > 1e-09 * count:
            reduction = sum_r * sum_r / step_denominator
            if best is None or reduction > best[2]:
                best = ("step", k, reduction, sum_r / step_denominator)
        knot = u[k - 1]
        sum_xx = sum_uu - 2 * knot * sum_u + count * knot * knot
        ramp_denominator = sum_xx - math.fsum(((seu - knot * se) ** 2 for se, seu in zip(sum_e, sum_eu, strict=True)))
        if "ramp" in kinds and ramp_denominator > 1e-09 * sum_xx:
            numerator = sum_ru - knot * sum_r
            reduction = numerator * numerator / ramp_denominator
            if best is None or reduction > best[2]:
                best = ("ramp", k, reduction, numerator / ramp_denominator)
    if best is None or best[2] <= 0:
        return None
    kind, k, _, _ = best
    departure = [1.0] * (n - k) if kind == "step" else [ui - u[k - 1] for ui in u[k:]]
    return (kind, k, [0.0] * k + departure)


def _robust_fit(columns: list[list[float]], y: list[float]) -> tuple[list[float], list[float]]:
    weights = [1.0] * len(y)
    coefficients = [0.0] * len(columns)
    residuals = list(y)
    for iteration in range(_HUBER_ITERATIONS + _BISQUARE_ITERATIONS):
        solved = _weighted_least_squares(columns, y, weights)
        if solved is None:
            break
        coefficients = solved
        residuals = [
            yi - math.fsum((c * col[i] for c, col in zip(coefficients, columns, strict=True))) for i, yi in enumerate(y)
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
    return (coefficients, residuals)


def _weighted_least_squares(columns: list[list[float]], y: list[float], weights: list[float]) -> list[float] | None:
    p = len(columns)
    weighted = [[w * xi for w, xi in zip(weights, col, strict=True)] for col in columns]
    matrix = [
        [math.fsum((a * b for a, b in zip(weighted[i], columns[j], strict=True))) for j in range(p)]
        + [math.fsum((a * b for a, b in zip(weighted[i], y, strict=True)))]
        for i in range(p)
    ]
    for col in range(p):
        pivot = max(range(col, p), key=lambda row: abs(matrix[row][col]))
        if abs(matrix[pivot][col]) < 1e-12:
            return None
        matrix[col], matrix[pivot] = (matrix[pivot], matrix[col])
        for row in range(p):
            if row != col:
                factor = matrix[row][col] / matrix[col][col]
                matrix[row] = [a - factor * b for a, b in zip(matrix[row], matrix[col], strict=True)]
    return [matrix[i][p] / matrix[i][i] for i in range(p)]


def _orthonormal_polynomials(u: list[float], degree: int) -> list[list[float]]:
    basis: list[list[float]] = []
    for power in range(degree + 1):
        vector = [ui**power for ui in u]
        for e in basis:
            dot = math.fsum((vi * ei for vi, ei in zip(vector, e, strict=True)))
            vector = [vi - dot * ei for vi, ei in zip(vector, e, strict=True)]
        norm = math.sqrt(math.fsum(vi * vi for vi in vector))
        if norm > 1e-09:
            basis.append([vi / norm for vi in vector])
    return basis


def _projection(y: list[float], basis: list[list[float]]) -> list[float]:
    out = [0.0] * len(y)
    for e in basis:
        dot = math.fsum((yi * ei for yi, ei in zip(y, e, strict=True)))
        out = [oi + dot * ei for oi, ei in zip(out, e, strict=True)]
    return out


def _despike(y: list[float], half_width: int) -> list[float]:
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
    return max(_sigma([b - a for a, b in pairwise(y)]) / math.sqrt(2), _SIGMA_FLOOR)


def _long_run_sigma(residuals: list[float]) -> float:
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
