"""Metric samples of a scenario's series, and their OpenMetrics text for promtool's backfill.

Each point is `baseline * effects * seasonality * (1 + noise * z)`, z standard normal, clamped at 0:
a gauge's value; for a counter the rate per second of a cumulative total (starting at 0 where the
series starts); for a histogram the rate of observations, spread over the buckets by a
log-normal latency whose median and 99th percentile are `latency` (scaled by the
`latency_factor` of the effects); for a summary the same observations as `<metric>_count` and
`<metric>_sum` counters (no `_total`, as Micrometer and many exporters expose them) and, for
each of its `quantiles`, a gauge `<metric>{quantile="q"}` of the latency's quantile. Histogram
bucket counts are expected values, so they are fractional; so are counters. Seasonality is
`1 + daily_amplitude * cos(2 pi (t - 14:00 UTC) / 1d)`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scenarios.spec import DEFAULT_BUCKETS, Effect, Scenario, Series
from scenarios.timeline import Timeline, seeded

__all__ = ["SampleSeries", "openmetrics", "series_samples"]

#: `unknown` is OpenMetrics' type for a counter named without `_total` (see `_generate`).
MetricType = Literal["counter", "gauge", "histogram", "summary", "unknown"]
_Z99 = 2.3263478740408408  # the standard normal's 99th percentile
_PEAK_HOUR_UTC = 14


@dataclass(frozen=True)
class SampleSeries:
    """One series as stored: `name` is the sample name (`..._bucket`, `..._total`), `family` the
    metric family of OpenMetrics' TYPE line. Points are `(unix milliseconds, value)`."""

    family: str
    type: MetricType
    name: str
    labels: dict[str, str]
    points: tuple[tuple[int, float], ...]


def series_samples(scenario: Scenario, now: datetime, *, until: datetime | None = None) -> list[SampleSeries]:
    """The history ending at `now`; with `until`, carried on past `now` to `until` (live samples).

    Going on past `now` changes nothing before it: times stay anchored at `now`, so effects still
    in force hold (a ramp stays at its last factor), counters keep counting and the noise of the
    history is the same.
    """
    timeline = Timeline.of(now, scenario.duration, scenario.step)
    until_ms = round(until.timestamp() * 1000) if until is not None else None
    result: list[SampleSeries] = []
    for series in scenario.series:
        result.extend(_generate(scenario.seed, series, timeline, until_ms))
    return result


def _generate(seed: int, series: Series, timeline: Timeline, until_ms: int | None) -> list[SampleSeries]:
    rng = seeded(seed, "series", series.metric, sorted(series.labels.items()))
    start = timeline.ms(series.from_) if series.from_ is not None else None
    end = timeline.ms(series.until) if series.until is not None else None
    times = [t for t in timeline.sample_times(until_ms) if (start is None or t >= start) and (end is None or t < end)]
    effects = [_Absolute.of(effect, timeline) for effect in series.effects]
    rates: list[float] = []
    latencies: list[float] = []
    for t in times:
        rate_factor, latency_factor = _multipliers(effects, t)
        seasonality = 1 + series.daily_amplitude * math.cos(2 * math.pi * (t / 86_400_000 - _PEAK_HOUR_UTC / 24))
        rates.append(series.baseline * rate_factor * seasonality * max(0.0, 1 + series.noise * rng.gauss(0, 1)))
        latencies.append(latency_factor * max(0.05, 1 + series.noise * rng.gauss(0, 1)))
    labels = dict(series.labels)
    if series.type == "gauge":
        return [SampleSeries(series.metric, "gauge", series.metric, labels, tuple(zip(times, rates, strict=True)))]
    step_s = timeline.step_s
    if series.type == "counter":
        totals = _cumulative([0.0] + [rate * step_s for rate in rates[1:]])
        points = tuple(zip(times, totals, strict=True))
        if series.metric.endswith("_total"):
            return [SampleSeries(series.metric.removesuffix("_total"), "counter", series.metric, labels, points)]
        # Many exporters name counters without `_total` (ingress-nginx's nginx_ingress_controller_requests,
        # postgres_exporter's pg_stat_database_*). OpenMetrics' counter samples must end in `_total`, so such a
        # family goes as `unknown`, whose samples keep their name; PromQL's rate() reads it all the same.
        return [SampleSeries(series.metric, "unknown", series.metric, labels, points)]
    counts = [rate * step_s for rate in rates]
    if series.type == "summary":
        return _summary(series, labels, times, counts, latencies)
    return _histogram(series, labels, times, counts, latencies)


def _lognormal(series: Series) -> tuple[float, float]:
    """The log-normal's mu (of seconds) and sigma whose median and p99 are the series' `latency`."""
    assert series.latency is not None  # checked when the scenario loaded
    mu = math.log(series.latency.median_ms / 1000)
    sigma = (math.log(series.latency.p99_ms) - math.log(series.latency.median_ms)) / _Z99
    return mu, sigma


def _summary(
    series: Series, labels: dict[str, str], times: list[int], counts: list[float], latencies: list[float]
) -> list[SampleSeries]:
    mu, sigma = _lognormal(series)
    observed = [0.0 if index == 0 else count for index, count in enumerate(counts)]
    sums = [
        n * math.exp(mu + math.log(factor) + sigma * sigma / 2) for n, factor in zip(observed, latencies, strict=True)
    ]
    family = series.metric

    def component(name: str, extra: dict[str, str], values: Sequence[float]) -> SampleSeries:
        return SampleSeries(family, "summary", name, {**labels, **extra}, tuple(zip(times, values, strict=True)))

    quantiles = [
        component(
            family,
            {"quantile": repr(q)},
            [math.exp(mu + math.log(factor) + sigma * statistics.NormalDist().inv_cdf(q)) for factor in latencies],
        )
        for q in series.quantiles or ()
    ]
    return [
        *quantiles,
        component(f"{family}_count", {}, _cumulative(observed)),
        component(f"{family}_sum", {}, _cumulative(sums)),
    ]


def _histogram(
    series: Series, labels: dict[str, str], times: list[int], counts: list[float], latencies: list[float]
) -> list[SampleSeries]:
    mu, sigma = _lognormal(series)
    bounds = tuple(series.buckets or DEFAULT_BUCKETS)
    increments: dict[str, list[float]] = {_le(bound): [] for bound in bounds}
    sums: list[float] = []
    for index, (count, factor) in enumerate(zip(counts, latencies, strict=True)):
        n = 0.0 if index == 0 else count
        shifted = mu + math.log(factor)
        for bound in bounds:
            fraction = 0.5 * (1 + math.erf((math.log(bound) - shifted) / (sigma * math.sqrt(2))))
            increments[_le(bound)].append(n * fraction)
        sums.append(n * math.exp(shifted + sigma * sigma / 2))
    total = _cumulative([0.0 if i == 0 else count for i, count in enumerate(counts)])
    family = series.metric

    def component(name: str, extra: dict[str, str], values: Sequence[float]) -> SampleSeries:
        points = tuple(zip(times, values, strict=True))
        return SampleSeries(family, "histogram", name, {**labels, **extra}, points)

    buckets = [component(f"{family}_bucket", {"le": le}, _cumulative(values)) for le, values in increments.items()]
    return [
        *buckets,
        component(f"{family}_bucket", {"le": "+Inf"}, total),
        component(f"{family}_count", {}, total),
        component(f"{family}_sum", {}, _cumulative(sums)),
    ]


@dataclass(frozen=True)
class _Absolute:
    kind: str
    at: int
    until: int | None
    factor: float
    to_factor: float
    latency_factor: float

    @classmethod
    def of(cls, effect: Effect, timeline: Timeline) -> _Absolute:
        until = timeline.ms(effect.until) if effect.until is not None else None
        if effect.kind == "ramp" and until is None:
            until = timeline.now_ms
        return cls(
            effect.kind,
            timeline.ms(effect.at),
            until,
            1.0 if effect.factor is None else effect.factor,
            1.0 if effect.to_factor is None else effect.to_factor,
            1.0 if effect.latency_factor is None else effect.latency_factor,
        )


def _multipliers(effects: list[_Absolute], t: int) -> tuple[float, float]:
    rate = latency = 1.0
    for effect in effects:
        if t < effect.at:
            continue
        if effect.kind == "ramp":
            assert effect.until is not None
            progress = min(1.0, (t - effect.at) / (effect.until - effect.at))
            rate *= 1 + (effect.to_factor - 1) * progress
            latency *= 1 + (effect.latency_factor - 1) * progress
        elif effect.until is None or t < effect.until:
            rate *= effect.factor
            latency *= effect.latency_factor
    return rate, latency


def _cumulative(values: Sequence[float]) -> list[float]:
    total = 0.0
    result = []
    for value in values:
        total += value
        result.append(total)
    return result


def _le(bound: float) -> str:
    # The client libraries' spelling (Go's strconv with 'g' precision), e.g. 1.0, 0.25, 2.5.
    return repr(float(bound))


# --- OpenMetrics -------------------------------------------------------------------------------


def openmetrics(samples: Sequence[SampleSeries]) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`.

    One TYPE line per family (a counter's family drops `_total`, its samples keep it), every
    family's samples together, each metric's points in time order, a histogram's or summary's
    points as whole groups (its buckets or quantiles ascending, then `_count`, `_sum` at one
    timestamp), timestamps in seconds, and `# EOF`.
    """
    lines: list[str] = []
    families: dict[str, list[SampleSeries]] = {}
    for series in samples:
        families.setdefault(series.family, []).append(series)
    for family, members in families.items():
        lines.append(f"# TYPE {family} {members[0].type}")
        if members[0].type not in ("histogram", "summary"):
            for series in members:
                selector = series.name + _labels(series.labels)
                lines.extend(f"{selector} {_value(value)} {_seconds(t)}" for t, value in series.points)
            continue
        metrics: dict[tuple[tuple[str, str], ...], list[SampleSeries]] = {}
        for series in members:
            key = tuple(sorted((k, v) for k, v in series.labels.items() if k not in ("le", "quantile")))
            metrics.setdefault(key, []).append(series)
        for components in metrics.values():
            lines.extend(_grouped_points(components))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _grouped_points(components: list[SampleSeries]) -> Iterator[str]:
    def order(series: SampleSeries) -> tuple[int, float]:
        if series.name.endswith("_bucket"):
            return (0, float(series.labels["le"]))
        if "quantile" in series.labels:
            return (0, float(series.labels["quantile"]))
        return (1, 0.0) if series.name.endswith("_count") else (2, 0.0)

    ordered = sorted(components, key=order)
    selectors = [series.name + _labels(series.labels) for series in ordered]
    for index, (t, _) in enumerate(ordered[0].points):
        for selector, series in zip(selectors, ordered, strict=True):
            yield f"{selector} {_value(series.points[index][1])} {_seconds(t)}"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    return repr(round(value, 6))


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"
