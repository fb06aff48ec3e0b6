"""Which change point marks the incident's onset: a daily bend of the request rate never does, a slight
bend just before a large step does not either, and a leak hours before its restarts does."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace

import pytest

from analysis.onset import Kind, Onset, detect_onset
from common.investigation.metrics import SignalSeries
from common.investigation.onset import choose_onset
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.signals import Signal, SignalKind

PRIMARY = Resource("notifications", "prod")
SCOPE = ResolvedScope(PRIMARY, primary_series_namespace="prod")
T0 = 1_700_000_000.0
CHANGE = T0 + 5 * 3600 + 22.5


def series(name: str, kind: SignalKind, at: float, shape: Kind, magnitude: float) -> SignalSeries:
    signal = Signal(name=name, kind=kind, query=f'{name}{{service="$service"}}')
    onset = Onset(
        at=at, direction="up", kind=shape, before=1.0, after=1.0 + magnitude, magnitude=magnitude, score=9.0, size=9.0
    )
    return SignalSeries(PRIMARY, signal, signal.query, [], onset, "e1")


def test_a_slow_bend_of_traffic_does_not_mark_the_onset_but_a_memory_ramp_does() -> None:
    daily = series("request_rate", "traffic", 1000.0, "ramp", 0.53)  # six hours of a daily cycle
    leak = series("memory", "saturation", 7000.0, "ramp", 0.6)

    chosen = choose_onset([daily, leak], SCOPE)

    assert chosen is leak


def test_a_traffic_step_marks_the_onset() -> None:
    surge = series("request_rate", "traffic", 1000.0, "step", 3.0)
    latency = series("latency_p99", "symptom", 1600.0, "step", 2.0)

    assert choose_onset([surge, latency], SCOPE) is surge


def _through_rate_window(
    rng: random.Random, *, level: float, factor: float, noise: float, quantile: bool
) -> list[tuple[float, float]]:
    """A value stepping by ``factor`` at ``CHANGE`` read every minute through a 5 minute rate window.

    Samples every 15 s carry ``noise``; the window averages the last 20. A ratio of rates crosses
    the window linearly; a 99th percentile interpolated in a histogram bucket, as
    histogram_quantile does, answers to the first slow requests of the new regime at once.
    """
    noise_at = [1 + noise * rng.gauss(0, 1) for _ in range(1440)]
    points = []
    for i in range(40, 360):
        share = sum(1 for j in range(4 * i - 19, 4 * i + 1) if T0 + 15 * j >= CHANGE) / 20
        # Slow requests fill the top bucket at once: its interpolated quantile moves with the root of their share.
        rise = math.sqrt(share) if quantile else share
        value = level * (1 + (factor - 1) * rise) * statistics.fmean(noise_at[4 * i - 19 : 4 * i + 1])
        points.append((T0 + 60 * i, value))
    return points


def _read_as_triage(name: str, kind: SignalKind, query: str, points: list[tuple[float, float]]) -> SignalSeries:
    # As read_signals does: a step found in a rate is moved back half its window.
    signal = Signal(name=name, kind=kind, query=query)
    onset = detect_onset(points)
    if onset is not None and onset.kind == "step":
        onset = replace(onset, at=onset.at - 150)
    return SignalSeries(PRIMARY, signal, query, points, onset, "e")


def test_a_slight_latency_bend_just_before_a_tenfold_error_step_does_not_take_the_onset() -> None:
    # The `make up` demo: a deploy raises the 5xx ratio 40x and the p99 by 5 %; the p99 placed the
    # onset minutes before the errors, after the deploy that caused them.
    errors_before = []
    for seed in range(20):
        rng = random.Random(seed)
        errors = _read_as_triage(
            "error_ratio",
            "symptom",
            "sum(rate(e[5m])) / sum(rate(r[5m]))",
            _through_rate_window(rng, level=0.003, factor=40, noise=0.15, quantile=False),
        )
        latency = _read_as_triage(
            "latency_p99",
            "symptom",
            "histogram_quantile(0.99, sum by (le) (rate(b[5m])))",
            _through_rate_window(rng, level=0.24, factor=1.05, noise=0.02, quantile=True),
        )
        assert errors.onset is not None
        assert latency.onset is not None
        assert latency.onset.magnitude is not None
        assert latency.onset.magnitude < 0.1
        errors_before.append(latency.onset.at < errors.onset.at)

        chosen = choose_onset([latency, errors], SCOPE)

        assert chosen is errors
        assert chosen.onset is not None
        assert abs(chosen.onset.at - CHANGE) <= 90
    assert any(errors_before)  # the case the demo hit: the bend placed first


def test_a_leak_hours_before_the_restart_it_ends_in_takes_the_onset() -> None:
    # Memory climbs from two hours into the window until the container is killed (restart at 5h20),
    # drops back and climbs again: the strongest change of the memory is the drop, that of the
    # restarts the kill, and the incident began with the climb.
    for seed in range(5):
        rng = random.Random(seed)
        start, killed = T0 + 2 * 3600, T0 + 320 * 60
        memory = [
            (t, 3e8 * (1 + max(0.0, (t - (start if t < killed else killed)) / 14400)) * (1 + 0.01 * rng.gauss(0, 1)))
            for t in (T0 + 60 * i for i in range(360))
        ]
        restarts = [(T0 + 60 * i, 0.0 if i < 320 else 1.0) for i in range(360)]
        leak = _read_as_triage("memory", "saturation", "sum(container_memory_working_set_bytes)", memory)
        crashes = _read_as_triage("restarts", "symptom", "sum(increase(restarts_total[5m]))", restarts)

        chosen = choose_onset([crashes, leak], SCOPE)

        assert chosen is leak
        assert chosen.onset is not None
        assert abs(chosen.onset.at - start) <= 300


@pytest.mark.parametrize("noise", [0.01, 0.02])
def test_a_slow_rise_placed_loosely_before_a_clear_climb_does_not_take_the_onset(noise: float) -> None:
    # product-api-slow-leak: the deploy starts a memory leak and, with it, a slow rise of the mean
    # latency (+30% over five hours, on a daily cycle); hours later the pods fail and the errors
    # step. Both ramps come clearly before the errors, but the latency's knot falls anywhere within
    # minutes of the truth from draw to draw, and it was taken whenever it fell earlier.
    for seed in range(20):
        rng = random.Random(seed)
        start, end = T0 + 3600, T0 + 6 * 3600
        times = [T0 + 60 * i for i in range(360)]
        climb = [max(0.0, t - start) / (end - start) for t in times]
        cycle = [1 + 0.1 * math.sin(2 * math.pi * t / 86_400 + seed) for t in times]
        memory = [(t, 6.5e8 * (1 + 1.2 * c) * (1 + 0.01 * rng.gauss(0, 1))) for t, c in zip(times, climb, strict=True)]
        latency = [
            (t, 0.037 * (1 + 0.3 * c) * d * (1 + noise * rng.gauss(0, 1)))
            for t, c, d in zip(times, climb, cycle, strict=True)
        ]
        errors = [(t, 0.002 * (1 if t < end - 1200 else 25) * (1 + 0.1 * rng.gauss(0, 1))) for t in times]
        series = [
            _read_as_triage("error_ratio", "symptom", "sum(rate(e[5m])) / sum(rate(r[5m]))", errors),
            _read_as_triage("latency_mean", "symptom", "sum(rate(s[5m])) / sum(rate(c[5m]))", latency),
            _read_as_triage("memory", "saturation", "sum(m)", memory),
        ]

        chosen = choose_onset(series, SCOPE)

        assert chosen is series[2]
        assert chosen.onset is not None
        assert abs(chosen.onset.at - start) <= 180
