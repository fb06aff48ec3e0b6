from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.onset import Onset, detect_onset

T0 = 1_700_000_000.0
DAY = 86_400.0
WINDOW = 3 * 3600


def _noise(
    rng: random.Random,
    *,
    step: int,
    sd: float,
    amplitude: float = 0.2,
    autocorrelation: float = 0.0,
    level: float = 100.0,
) -> list[tuple[float, float]]:
    """3 h of ``level`` plus a random slice of a daily cycle plus AR(1) gaussian noise (sd relative to level)."""
    phase = rng.uniform(0, 2 * math.pi)
    innovation = math.sqrt(1 - autocorrelation**2)
    noise = 0.0
    points = []
    for i in range(WINDOW // step):
        t = T0 + i * step
        noise = autocorrelation * noise + innovation * rng.gauss(0, sd * level)
        points.append((t, level + amplitude * level * math.sin(2 * math.pi * t / DAY + phase) + noise))
    return points


def _counter_rate(rng: random.Random, *, step: int, per_second: float) -> list[tuple[float, float]]:
    """A request counter scraped every ``step`` s (Poisson increments, daily cycle), turned into a rate."""
    phase = rng.uniform(0, 2 * math.pi)
    counter, points, previous = 0, [], 0
    for i in range(WINDOW // step + 1):
        t = T0 + i * step
        expected = per_second * step * (1 + 0.3 * math.sin(2 * math.pi * t / DAY + phase))
        counter += _poisson(rng, expected)
        if i:
            points.append((t, (counter - previous) / step))
        previous = counter
    return points


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is exact and fast enough for the means used here (below ~100).
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _shift(points: list[tuple[float, float]], start: int, by: float) -> list[tuple[float, float]]:
    return [(t, v + by if i >= start else v) for i, (t, v) in enumerate(points)]


def _steps_off(onset: Onset, points: list[tuple[float, float]], start: int, step: int) -> float:
    return abs(onset.at - points[start][0]) / step


def test_step_of_thirty_percent_is_found_at_its_first_point() -> None:
    rng = random.Random(7)
    points = _shift(_noise(rng, step=30, sd=0.05, amplitude=0.0), 200, 30.0)

    onset = detect_onset(points)

    assert onset is not None
    assert (onset.at, onset.direction, onset.kind) == (points[200][0], "up", "step")
    assert onset.after - onset.before == pytest.approx(30.0, abs=3.0)
    assert onset.magnitude == pytest.approx(0.3, abs=0.03)
    assert onset.score > 10


def test_steps_up_and_down_of_various_sizes_are_found_within_two_steps() -> None:
    # Shifts of 3 to 15 noise sigmas (30% steps with 2-10% noise, 10% steps with 2% noise), at a
    # random place at least a tenth of the window from either end, at 15, 30 and 60 s resolution.
    # A quadratic trend absorbs part of any step, so at 3 sigmas a step near an end of the window
    # is sometimes missed (about 3% of the time) and now and then placed a few points off.
    rng = random.Random(11)
    errors: list[float] = []
    clear_errors: list[float] = []
    missed: list[float] = []
    for case in range(120):
        step = (15, 30, 60)[case % 3]
        relative, sd = ((0.3, 0.02), (0.3, 0.05), (0.3, 0.1), (0.1, 0.02))[case % 4]
        points = _noise(rng, step=step, sd=sd)
        start = rng.randrange(len(points) // 10, len(points) - len(points) // 10)
        sign = 1 if case % 2 else -1
        onset = detect_onset(_shift(points, start, sign * relative * 100))
        if onset is None:
            missed.append(relative / sd)
            continue
        assert (onset.kind, onset.direction) == ("step", "up" if sign > 0 else "down")
        errors.append(_steps_off(onset, points, start, step))
        if relative / sd >= 5:
            clear_errors.append(errors[-1])

    assert max(clear_errors) <= 2
    assert statistics.median(errors) == 0
    assert statistics.quantiles(errors, n=20)[-1] <= 2
    assert max(errors) <= 5
    assert len(missed) <= 3
    assert all(shift < 4 for shift in missed)


def test_memory_leak_ramp_is_found_within_a_few_steps_of_its_start() -> None:
    rng = random.Random(13)
    errors: list[float] = []
    for case in range(60):
        step = (15, 30, 60)[case % 3]
        points = _noise(rng, step=step, sd=0.01, amplitude=0.1, level=2e9)
        start = rng.randrange(len(points) // 5, len(points) - len(points) // 5)
        # 0.5% of the working set per minute: a leak that exhausts the limit within a few hours.
        leak = [(t, v + (1e7 * (t - points[start][0]) / 60 if i >= start else 0.0)) for i, (t, v) in enumerate(points)]
        onset = detect_onset(leak)
        assert onset is not None, f"case {case}: the leak was missed"
        assert (onset.kind, onset.direction) == ("ramp", "up")
        errors.append(_steps_off(onset, points, start, step))

    assert statistics.median(errors) <= 2
    assert max(errors) <= 6


@pytest.mark.parametrize("duration", [1, 3, 10, 30])
def test_spike_that_recovers_before_the_window_ends_is_not_an_onset(duration: int) -> None:
    # Triage asks when the symptom that is still present began; a spike that is over (here 20
    # noise sigmas for up to 15 minutes) is not it, and must not pass for a step down where it ends.
    rng = random.Random(duration)
    for _ in range(20):
        points = _noise(rng, step=30, sd=0.05)
        start = rng.randrange(60, 180)
        spiked = [(t, v + 100.0 if start <= i < start + duration else v) for i, (t, v) in enumerate(points)]

        assert detect_onset(spiked) is None


def test_spike_that_persists_is_a_step_at_its_start() -> None:
    rng = random.Random(17)
    points = _noise(rng, step=15, sd=0.05)
    start = len(points) - 40

    onset = detect_onset(_shift(points, start, 300.0))

    assert onset is not None
    assert (onset.at, onset.kind, onset.direction) == (points[start][0], "step", "up")


def test_pure_noise_and_daily_seasonality_rarely_yield_an_onset() -> None:
    # 200 seeded 3 h windows: white, autocorrelated (AR(1) up to 0.7) and Poisson counter-rate
    # noise on a random slice of a daily cycle of up to +-30%, at 15, 30 and 60 s resolution.
    rng = random.Random(2024)
    onsets = 0
    for case in range(200):
        step = rng.choice((15, 30, 60))
        if case % 3 == 2:
            points = _counter_rate(rng, step=step, per_second=rng.uniform(0.5, 20))
        else:
            points = _noise(
                rng,
                step=step,
                sd=rng.uniform(0.01, 0.1),
                amplitude=rng.uniform(0, 0.3),
                autocorrelation=rng.uniform(0, 0.7) if case % 3 == 1 else 0.0,
            )
        onsets += detect_onset(points) is not None

    # Measured: 1 in 200 (0.5%). The requirement is at most 5%; 2% leaves room for a change of seed.
    false_positive_rate = onsets / 200
    assert false_positive_rate <= 0.02


def test_flat_series_has_no_onset() -> None:
    assert detect_onset([(T0 + 60 * i, 3.0) for i in range(100)]) is None


def test_clean_step_from_zero_has_no_relative_magnitude() -> None:
    points = [(T0 + 60 * i, 0.0 if i < 50 else 0.02) for i in range(100)]

    onset = detect_onset(points)

    assert onset is not None
    assert onset == Onset(
        at=T0 + 60 * 50,
        direction="up",
        kind="step",
        before=0.0,
        after=0.02,
        magnitude=None,
        score=onset.score,
        size=onset.size,
    )
    assert math.isfinite(onset.score)


def test_non_finite_points_are_dropped_and_order_restored() -> None:
    rng = random.Random(19)
    points = _shift(_noise(rng, step=60, sd=0.05), 100, -40.0)
    holes = [(t, math.nan if i % 7 == 0 else math.inf if i % 11 == 0 else v) for i, (t, v) in enumerate(points)]
    holes.append((math.nan, 1.0))

    onset = detect_onset(list(reversed(holes)))

    assert onset is not None
    assert (onset.at, onset.direction) == (points[100][0], "down")


def test_too_short_series_has_no_onset() -> None:
    assert detect_onset([]) is None
    assert detect_onset([(T0 + i, 0.0 if i < 5 else 10.0) for i in range(11)], min_segment=6) is None
    assert detect_onset([(T0 + i, 0.0 if i < 6 else 10.0) for i in range(12)], min_segment=6) is not None


def test_min_segment_below_two_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_segment"):
        detect_onset([(0.0, 1.0)], min_segment=1)


_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=4e9, allow_nan=False),
            st.one_of(_finite, st.just(math.nan), st.just(math.inf), st.just(-math.inf)),
        ),
        max_size=80,
    ),
    st.integers(min_value=2, max_value=10),
)
def test_detect_onset_never_raises_and_reports_a_time_inside_the_series(
    points: list[tuple[float, float]], min_segment: int
) -> None:
    onset = detect_onset(points, min_segment=min_segment)

    if onset is not None:
        times = [t for t, v in points if math.isfinite(v)]
        assert min(times) < onset.at <= max(times)
        assert onset.direction in ("up", "down")
        assert math.isfinite(onset.score)
        assert onset.score >= 6.0


def _leak(rng: random.Random, *, start_hours: float, ends_in: str, noise: float) -> list[tuple[float, float]]:
    """6 h of memory at 60 s that climbs from ``start_hours`` to twice its level by 5 h 30, where the
    container is killed and climbs again from its base (``restart``) or the limit holds it (``limit``)."""
    points = []
    for i in range(361):
        hours = i / 60
        grown = max(0.0, hours - start_hours) / (5.5 - start_hours)
        level = 1 + (grown % 1 if ends_in == "restart" else min(grown, 1.0))
        points.append((T0 + 60 * i, 3e8 * level * (1 + noise * rng.gauss(0, 1))))
    return points


@pytest.mark.parametrize("noise", [0.005, 0.01, 0.03])
@pytest.mark.parametrize(
    ("ends_in", "start_hours", "minutes_off"),
    # A climb that then lies flat at its limit bends the quadratic null, which placed its start up to
    # 15 minutes early (6-8 for a climb from 4 h); the start is now refitted as a broken line's knot.
    [
        ("restart", 1, 5),
        ("restart", 2, 5),
        ("restart", 3, 5),
        ("limit", 1, 5),
        ("limit", 2, 5),
        ("limit", 3, 3),
        ("limit", 4, 3),
    ],
)
def test_leak_has_its_onset_where_the_climb_began_not_where_it_ended(
    ends_in: str, start_hours: int, minutes_off: int, noise: float
) -> None:
    # The drop at the kill, or the bend where the limit holds it, is the series' strongest change;
    # the climb it ends is the incident.
    rng = random.Random(start_hours * 100 + int(noise * 1000))
    for _ in range(3):
        onset = detect_onset(_leak(rng, start_hours=start_hours, ends_in=ends_in, noise=noise))

        assert onset is not None
        assert (onset.kind, onset.direction) == ("ramp", "up")
        assert abs(onset.at - (T0 + start_hours * 3600)) <= minutes_off * 60


def test_long_slight_shift_inside_the_noise_band_is_rarely_an_onset() -> None:
    # 1.5 noise-sigmas for the last two hours of six: enough points to pile up evidence (a score
    # above the threshold) in many draws, yet most leave the departure inside twice the noise.
    rng = random.Random(31)
    loose, strict = 0, 0
    for _ in range(40):
        points = [(T0 + 60 * i, 100.0 + rng.gauss(0, 1) + (1.5 if i >= 240 else 0.0)) for i in range(360)]
        loose += detect_onset(points, min_size=0.0) is not None
        onset = detect_onset(points)
        if onset is not None:
            strict += 1
            assert onset.size >= 2

    assert loose >= 10
    assert strict <= loose // 3


def test_decline_of_the_daily_cycle_before_a_climb_is_not_the_climbs_trend() -> None:
    # CPU of a leaking service (the bundled notifications-memory-leak): 6 h of a daily cycle past
    # its peak, then a climb of a third from 90 minutes before the end.
    rng = random.Random(41)
    points = []
    for i in range(360):
        hours = i / 60
        cycle = 1 + 0.2 * math.cos(2 * math.pi * (hours + 2) / 24)
        climb = 1 + 0.36 * max(0.0, hours - 4.5) / 1.5
        points.append((T0 + 60 * i, 0.1 * cycle * climb * (1 + 0.01 * rng.gauss(0, 1))))

    onset = detect_onset(points)

    assert onset is not None
    assert (onset.kind, onset.direction) == ("ramp", "up")
    assert abs(onset.at - (T0 + 4.5 * 3600)) <= 5 * 60


def _union_of_pods(
    rng: random.Random, *, rollout: int, factor: Callable[[int], float], noise: float = 0.01
) -> list[tuple[float, float]]:
    """6 h at 60 s of a gauge summed over a workload's three pods (memory, as the catalogue reads it),
    replaced at minute ``rollout`` by three new ones whose level is ``factor(minutes since)`` times the old.

    The old pods still answer for 6 points after the new ones start: a rollout's overlap plus the
    5 minutes Prometheus keeps answering with a vanished series' last sample.
    """
    points = []
    for i in range(360):
        since = i - rollout
        old = 3 if since < 6 else 0
        new = 3 * factor(since) if since >= 0 else 0.0
        points.append((T0 + 60 * i, 6.5e8 * (old + new) * (1 + noise * rng.gauss(0, 1))))
    return points


@pytest.mark.parametrize(
    ("rollout", "factor"),
    [
        (80, lambda since: 1 + (2.2 * since / 250 if since < 250 else 0.0)),  # a leak the kill at 5 h 30 ends
        (200, lambda since: 1 + min(since, 120) / 120),  # held at its limit for the last 40 minutes
        (300, lambda since: 1.3),  # the new version simply needs 30% more
    ],
    ids=["leak-ending-in-restart", "leak-held-at-limit", "step"],
)
def test_the_overlap_of_old_and_new_pods_at_a_rollout_neither_moves_nor_hides_the_change_it_brought(
    rollout: int, factor: Callable[[int], float]
) -> None:
    # The union doubles for the overlap and drops back: before, that drop was read as the change and
    # the leak's start was lost or placed half an hour late (product-api-slow-leak, 6 minutes late).
    for seed in range(6):
        onset = detect_onset(_union_of_pods(random.Random(seed), rollout=rollout, factor=factor))

        assert onset is not None
        assert onset.direction == "up"
        assert abs(onset.at - (T0 + 60 * rollout)) <= 5 * 60


def test_the_overlap_of_old_and_new_pods_at_a_rollout_alone_is_not_an_onset() -> None:
    for seed in range(20):
        assert detect_onset(_union_of_pods(random.Random(seed), rollout=200, factor=lambda since: 1.0)) is None
