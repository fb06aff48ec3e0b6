"""Fits per second of `analysis.onset.detect_onset` (numpy) against the pure-Python fit it replaced.

    .venv/bin/python bench/change_points.py                 # about 1 minute
    .venv/bin/python bench/change_points.py --seconds 10 --seed 3

The series are what triage fits: 6 hours at 60 s (360 points, the default window) and 72 hours
at 60 s (4320 points), of four shapes in turn: a step of 3 to 10 noise-sigmas, a leak's ramp, a
spike that recovers, and noise alone, each on a slice of a daily cycle with 1 to 10 % noise. The
"before" is tests/support/onset_reference.py, the fit as it was in pure Python (standard library,
math.fsum); "after" is analysis/onset.py. Each row fits the same series over and over for
`--seconds` of CPU time and reports fits per second of CPU (process time, which the other
processes of a busy machine disturb less than the wall clock) and of wall-clock time. The last
column says on how many of the series both found the same onset (or none). The process is pinned
to one CPU where the OS allows.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project first: tests/common must not shadow common

import numpy as np  # noqa: E402
from support import onset_reference  # noqa: E402

from analysis import onset  # noqa: E402

Points = list[tuple[float, float]]
T0 = 1_700_000_000.0
STEP = 60.0
SHAPES = ("step", "ramp", "spike", "noise")


def series(rng: random.Random, n: int, shape: str) -> Points:
    """``n`` points at 60 s: level 100 on a slice of a daily cycle, gaussian noise, and the shape's change."""
    noise = rng.uniform(0.01, 0.1)
    phase = rng.uniform(0, 2 * math.pi)
    start = rng.randrange(n // 5, n - n // 5)
    size = rng.uniform(3, 10) * noise * 100
    points = []
    for i in range(n):
        t = T0 + STEP * i
        value = 100 * (1 + 0.2 * math.sin(2 * math.pi * t / 86_400 + phase)) + rng.gauss(0, noise * 100)
        if shape == "step" and i >= start:
            value += size
        elif shape == "ramp" and i >= start:
            value += size * (i - start) / (n - start) * 3
        elif shape == "spike" and start <= i < start + 10:
            value += size * 3
        points.append((t, value))
    return points


def measure(fit: Callable[[Points], object], batch: Sequence[Points], seconds: float) -> tuple[int, float, float]:
    """(fits, CPU seconds, wall seconds) of fitting the batch round and round for `seconds` of CPU."""
    fits = 0
    cpu, wall = time.process_time(), time.perf_counter()
    while time.process_time() - cpu < seconds:
        for points in batch:
            fit(points)
        fits += len(batch)
    return fits, time.process_time() - cpu, time.perf_counter() - wall


def same(after: onset.Onset | None, before: onset_reference.Onset | None) -> bool:
    if after is None or before is None:
        return after is None and before is None
    return (after.at, after.kind, after.direction) == (before.at, before.kind, before.direction) and math.isclose(
        after.score, before.score, rel_tol=1e-6
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per row (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--series", type=int, default=8, help="series of each size, the shapes in turn (default 8)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(args.seed)
    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    columns = ("points", "fit   ", "  fits", " CPU s", "fits/s CPU", "fits/s wall", "ms/fit CPU", "same")
    print("  ".join(columns))
    for n in (360, 4320):
        batch = [series(rng, n, SHAPES[i % len(SHAPES)]) for i in range(args.series)]
        agree = sum(same(onset.detect_onset(p), onset_reference.detect_onset(p)) for p in batch)
        rates = {}
        for name, fit in (("before", onset_reference.detect_onset), ("after", onset.detect_onset)):
            fits, cpu, wall = measure(fit, batch, args.seconds)
            rates[name] = fits / cpu
            print(
                f"{n:>6}  {name:6}  {fits:>6}  {cpu:>6.2f}  {fits / cpu:>10.1f}  {fits / wall:>11.1f}  "
                f"{1000 * cpu / fits:>10.2f}  {agree}/{len(batch)}"
            )
        print(f"{n:>6}  speed-up (CPU): {rates['after'] / rates['before']:.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
