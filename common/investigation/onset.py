"""The onset: which series' change point marks when the incident started.

`choose_onset` takes the earliest credible change point among the primary's own signals
(symptoms, availability, saturation, traffic), else among its dependencies' symptoms. The alert
time is never used: it lags. `reported_onset` is the chosen one as a report states it.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.diagnostic_report import Onset
from common.investigation.evidence import at
from common.investigation.metrics import SignalSeries
from common.investigation.scope import ResolvedScope

__all__ = ["ONSET_KINDS", "SURGE", "choose_onset", "reported_onset"]

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
    return min(own, key=lambda s: (s.onset.at if s.onset else 0.0, -(s.onset.score if s.onset else 0.0)))


def reported_onset(chosen: SignalSeries | None) -> Onset | None:
    """The onset as a report states it: when, on which signal, and the evidence that shows it."""
    if chosen is None or chosen.onset is None:
        return None
    return Onset(at=at(chosen.onset.at), signal=chosen.label, evidence_ids=[chosen.evidence_id or ""])


def _marks_onset(item: SignalSeries) -> bool:
    """A change point of the primary that can start an incident: traffic only when it stepped up or down
    sharply (request rates follow daily cycles, which six hours of window show as slow bends of 50 %)."""
    if item.onset is None or item.signal.kind not in ONSET_KINDS:
        return False
    if item.signal.kind != "traffic":
        return True
    return item.onset.kind == "step" and abs(item.onset.magnitude or 0.0) >= SURGE
