"""The numpy change-point fit finds what the pure-Python fit it replaced found (tests/support/onset_reference.py).

Random series of every shape triage meets (steps, ramps, transient spikes, noise alone, flat),
with NaN gaps, repeated timestamps and shuffled order: the same onset or none, at the same point,
of the same kind and direction, with the same medians, sizes and scores up to rounding (the
reference sums with math.fsum, numpy pairwise). A score divides the change by the residuals'
long-run sigma; on a series with next to no noise that sigma is rounding itself, and the two fits'
scores are both huge and far apart (209581 against 207482 for a clean step fitted as a ramp), as
are their sizes. Past CERTAIN both scores need only be past it: ranking saturates at a score of
about 19 (log1p capped at 3) and an onset needs 6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import onset_reference

from analysis.onset import Onset, detect_onset

T0 = 1_700_000_000.0
SHAPES = ("step", "ramp", "spike", "noise", "flat", "clean-step")
#: A score past this is certain to both fits (ranking saturates near 19); its digits are rounding.
CERTAIN = 1000.0


def _series(
    *,
    n: int,
    shape: str,
    seed: int,
    level: float,
    noise: float,
    change: float,
    start: int,
    step: float = 60.0,
    gaps: Sequence[int] = (),
    repeats: Sequence[int] = (),
    reverse: bool = False,
) -> list[tuple[float, float]]:
    """``n`` points at ``step`` s of ``level`` with gaussian ``noise`` and ``change`` (both relative to
    the level, or absolute when it is below 1) from point ``start``: as a step, a ramp, a spike of up
    to 15 points, or nothing. NaN at the ``gaps``, a second value at the instants of ``repeats``."""
    rng = np.random.default_rng(seed)
    scale = max(level, 1.0)
    index = np.arange(n, dtype=np.float64)
    values = level + noise * scale * rng.standard_normal(n)
    if shape in ("step", "clean-step"):
        values[start:] += change * scale
    elif shape == "ramp":
        values[start:] += change * scale * (index[start:] - start) / n
    elif shape == "spike":
        values[start : start + 1 + seed % 15] += change * scale
    points = list(zip((T0 + step * index).tolist(), values.tolist(), strict=True))
    for i in gaps:
        points[i] = (points[i][0], math.nan)  # a gap in the scrape
    for i in repeats:
        points.append((points[i][0], float(values[i] + noise * scale * rng.standard_normal())))
    return points[::-1] if reverse else points


@st.composite
def series(draw: st.DrawFn) -> list[tuple[float, float]]:
    n = draw(st.integers(min_value=8, max_value=400))
    shape = draw(st.sampled_from(SHAPES))
    return _series(
        n=n,
        shape=shape,
        seed=draw(st.integers(min_value=0, max_value=2**32 - 1)),
        level=draw(st.sampled_from((0.0, 1e-4, 1.0, 100.0, 2e9))),
        noise=0.0 if shape in ("flat", "clean-step") else draw(st.floats(min_value=0.001, max_value=0.3)),
        change=draw(st.floats(min_value=-5.0, max_value=5.0)),
        start=draw(st.integers(min_value=1, max_value=n - 1)),
        step=draw(st.sampled_from((15.0, 60.0))),
        gaps=draw(st.lists(st.integers(min_value=0, max_value=n - 1), max_size=n // 4)),
        repeats=draw(st.lists(st.integers(min_value=0, max_value=n - 1), max_size=5)),
        reverse=draw(st.booleans()),
    )


def _same(new: Onset | None, reference: onset_reference.Onset | None) -> None:
    if reference is None:
        assert new is None
        return
    assert new is not None
    assert (new.at, new.kind, new.direction) == (reference.at, reference.kind, reference.direction)
    for name in ("before", "after", "magnitude"):
        expected = getattr(reference, name)
        assert getattr(new, name) == (None if expected is None else pytest.approx(expected, rel=1e-6, abs=1e-12)), name
    if reference.score > CERTAIN:
        # A fit through rounding-level residuals: its size is a slope through rounding too (1.30500e11 against
        # 1.30484e11 for a series of zeros and ones); the point, kind, direction and medians above are what it decides.
        assert new.score > CERTAIN
    else:
        assert new.score == pytest.approx(reference.score, rel=1e-6)
        assert new.size == pytest.approx(reference.size, rel=1e-6)


@settings(max_examples=300, deadline=None)
@given(series(), st.integers(min_value=2, max_value=10))
def test_the_vectorised_fit_finds_what_the_reference_fit_finds(
    points: list[tuple[float, float]], min_segment: int
) -> None:
    _same(
        detect_onset(points, min_segment=min_segment),
        onset_reference.detect_onset(points, min_segment=min_segment),
    )


def test_the_series_compared_have_onsets_of_every_kind_and_none() -> None:
    # The comparison above means something only if the shapes it draws do yield onsets (and not all).
    found = [
        detect_onset(_series(n=360, shape=shape, seed=seed, level=100.0, noise=0.05, change=2.0, start=200, gaps=[7]))
        for shape in SHAPES
        for seed in range(3)
    ]

    assert {onset.kind for onset in found if onset is not None} == {"step", "ramp"}
    assert None in found
