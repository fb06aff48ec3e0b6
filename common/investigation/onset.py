"""The onset: which series' change point marks when the incident started.

`choose_onset` considers the credible change points of the primary's own signals (symptoms,
availability, saturation, traffic), else of its dependencies' symptoms. Several series of one
incident shift together, and each places its change only so precisely: to a step of the query,
within the rate window that smears a step over its width (a quantile over buckets does not even
rise linearly across it), and more loosely the smaller the change against the series' own noise.
So the time comes from the change that explains most of the symptom (the largest against its own
noise: a 10x step of the error ratio, not a 5 % bend of a latency quantile), and an earlier change
takes its place only when it came before it by more than both uncertainties together (a leak's
ramp hours before the restarts it ends in); of several such, the largest, and again from it, so a
slight rise placed loosely does not outbid a clear one it cannot be told apart from. The alert
time is never used: it lags.
`reported_onset` is the chosen one as a report states it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from common.diagnostic_report import Onset
from common.investigation.evidence import at
from common.investigation.metrics import SignalSeries, widest_range
from common.investigation.scope import ResolvedScope

__all__ = ["ONSET_KINDS", "SURGE", "choose_onset", "reported_onset", "uncertainty"]

#: Signal kinds of the primary that can mark the onset, in the order they are trusted.
ONSET_KINDS = ("symptom", "availability", "saturation", "traffic")
#: A relative change of the request rate that counts as a surge (or a collapse, at -0.5).
SURGE = 0.5


def choose_onset(series: Sequence[SignalSeries], scope: ResolvedScope) -> SignalSeries | None:
    """The series whose change point is the incident's onset; None when no series marks one."""
    own = [s for s in series if s.resource is scope.primary and _marks_onset(s)]
    if not own:
        own = [s for s in series if s.onset is not None and s.signal.kind in ("symptom", "availability")]
    if not own:
        return None
    # Each series' uncertainty once: the loop below compares every series with each new reference.
    spread = {id(s): uncertainty(s) for s in own}
    reference = max(own, key=_significance)
    while True:
        latest = _at(reference) - spread[id(reference)]
        earlier = [s for s in own if _at(s) + spread[id(s)] < latest]
        if not earlier:
            return reference
        # The clearest of the changes that came before it, and again: an imprecise ramp a few
        # minutes before a precise one (a latency's slow rise next to its memory's climb) does not
        # displace it, while one clearly earlier still does.
        reference = max(earlier, key=_significance)


def uncertainty(item: SignalSeries) -> float:
    """Seconds either side of its change point within which the series places the true change.

    One step of the query (nothing finer is seen), half the widest range window of the query (a
    step read through `rate(x[5m])` rises over five minutes, and a fitted split or a quantile's
    early rise lands anywhere in its first half), and the change point's own spread. For a step,
    a shift of d noise-sigmas per point places it within about 1/d^2 points. A ramp's knot is
    placed only as well as its slope stands out of the noise: with m points after it and a score
    of z noise-sigmas (which grows as slope * m^1.5 / sigma), the knot's standard error
    sigma / (slope * sqrt(m)) is about m / (sqrt(3) z) points, so a slow rise that barely passes
    is placed minutes apart from draw to draw.
    """
    if item.onset is None:
        return 0.0
    times = np.array([t for t, _ in item.points], dtype=np.float64)
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    window = widest_range(item.query)
    if item.onset.kind == "ramp":
        after = int(np.count_nonzero(times >= item.onset.at))
        spread = step * after / (math.sqrt(3) * max(item.onset.score, 1.0))
    else:
        spread = step / max(item.onset.size, 1.0) ** 2
    return step + spread + (window / 2 if window is not None else 0.0)


def reported_onset(chosen: SignalSeries | None) -> Onset | None:
    """The onset as a report states it: when, on which signal, and the evidence that shows it."""
    if chosen is None or chosen.onset is None:
        return None
    return Onset(at=at(chosen.onset.at), signal=chosen.label, evidence_ids=[chosen.evidence_id or ""])


def _significance(item: SignalSeries) -> tuple[float, float]:
    return (item.onset.size, item.onset.score) if item.onset is not None else (0.0, 0.0)


def _at(item: SignalSeries) -> float:
    return item.onset.at if item.onset is not None else 0.0


def _marks_onset(item: SignalSeries) -> bool:
    """A change point of the primary that can start an incident: traffic only when it stepped up or down
    sharply (request rates follow daily cycles, which six hours of window show as slow bends of 50 %)."""
    if item.onset is None or item.signal.kind not in ONSET_KINDS:
        return False
    if item.signal.kind != "traffic":
        return True
    return item.onset.kind == "step" and abs(item.onset.magnitude or 0.0) >= SURGE
