"""Metrics: the signal catalogue's series of each resource in scope, and where each one changed.

`read_signals` runs the catalogue's PromQL (`prometheus_query_range`) for the primary and its
dependencies over the window, each signal in the first of its profiles' label schemes that has
data for the resource, and searches each series for its change point (`analysis.onset`). A signal
whose metrics the resource does not have in its scheme (`metric_names.MetricNames`, one listing
per scheme) is known to have no data without asking its query. It notes,
per resource, the profiles the catalogue was chosen from and the label scheme each signal was read
with or tried in vain, so a report says why a signal was or was not found;
`cite_signals` records the series that shifted (and the primary's symptoms either way) as
evidence; `shifts_of` turns them into the facts ranking weighs. A query that fails is noted as
degrading the report and that series is missing; the others stand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from analysis.onset import Onset, detect_onset
from analysis.ranking import SignalShift
from common.contracts.calls import ToolCaller
from common.contracts.prometheus import LIST_LABELS, PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.metric_names import MetricNames
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.signals import Signal
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.timerange import iso, parse_duration

__all__ = ["SignalSeries", "cite_signals", "read_signals", "shifts_of"]

#: Points dropped at the start of a series that appeared in the window (longer than the catalogue's rate windows).
WARM_UP_SECONDS = 600.0
_RANGE = re.compile(r"\[(\d+[smhd])\]")
#: Signals without a series named in a reading's note, at most (its data lists them all).
MAX_NOTED = 8


@dataclass(frozen=True)
class SignalSeries:
    resource: Resource
    signal: Signal
    query: str
    points: list[tuple[float, float]]
    onset: Onset | None
    evidence_id: str | None = None

    @property
    def label(self) -> str:
        """How a report names the series: "latency_p99 of checkout"."""
        return f"{self.signal.name} of {self.resource.name}"


async def read_signals(
    toolbox: ToolCaller,
    scope: ResolvedScope,
    catalogue: Sequence[Signal],
    window: Window,
    evidence: EvidenceLog,
    *,
    names: MetricNames | None = None,
) -> list[SignalSeries]:
    """Every catalogue signal of the primary, its dependencies and its suspect dependents, with its change point.

    A signal several profiles offer (the same name more than once) is read from the first, in
    catalogue order, whose query returns a series for the resource; the others are not asked.
    """
    prometheus = PrometheusMcp(toolbox)
    listing = names or MetricNames(toolbox, scope, window, evidence)
    found: list[SignalSeries] = []
    alternatives: dict[str, list[Signal]] = {}
    for signal in catalogue:
        alternatives.setdefault(signal.name, []).append(signal)

    tried: dict[tuple[str, str], list[Signal]] = {}

    async def read(pair: tuple[Resource, list[Signal]]) -> None:
        resource, candidates = pair
        namespace = scope.series_namespace(resource)
        for signal in (s for s in candidates if s.reads(resource)):
            if not await _may_have_data(signal, resource, listing):
                tried.setdefault((resource.name, signal.name), []).append(signal)
                continue
            query = signal.render(resource, namespace)
            answer = await noted(
                prometheus.query_range(
                    query, start=iso(window.start), end=iso(window.end), step=f"{window.step:g}s", detail="points"
                ),
                evidence,
                f"{signal.name} of {resource.name}",
            )
            if answer is None:
                continue
            # Asked and answered: a scheme without data is noted as tried; a failed call is `degraded`.
            tried.setdefault((resource.name, signal.name), []).append(signal)
            if not answer.series:
                continue
            points = _settled([(t, v) for t, v in answer.series[0].points or [] if v is not None], window)
            found.append(SignalSeries(resource, signal, query, points, _onset(points, query)))
            return

    resources = scope.investigated
    await for_each([(resource, signals) for resource in resources for signals in alternatives.values()], read)
    order = {r.name: i for i, r in enumerate(resources)}
    signal_names = list(alternatives)
    found.sort(key=lambda s: (order.get(s.resource.name, 99), signal_names.index(s.signal.name)))
    for resource in resources:
        if any(owner == resource.name for owner, _ in tried):
            _note_reading(resource, [s for s in found if s.resource is resource], tried, catalogue, evidence)
    return found


async def _may_have_data(signal: Signal, resource: Resource, names: MetricNames) -> bool:
    """False when the resource's series in the signal's scheme carry none of the metrics it selects."""
    selected = signal.metric_names()
    if not selected:
        return True
    listed = await names.of(resource, signal.labels)
    return listed is None or not listed.isdisjoint(selected)


def _note_reading(
    resource: Resource,
    found: Sequence[SignalSeries],
    tried: dict[tuple[str, str], list[Signal]],
    catalogue: Sequence[Signal],
    evidence: EvidenceLog,
) -> None:
    """One evidence item saying which profiles the signals came from, and in which labels each was found or
    was asked for in vain."""
    profiles = list(dict.fromkeys(s.profile for s in catalogue if s.profile))
    read = {s.signal.name: s.signal for s in found}
    missing = {
        name: list(dict.fromkeys(s.labels for s in signals))
        for (owner, name), signals in tried.items()
        if owner == resource.name and name not in read
    }
    by_labels: dict[str, list[str]] = {}
    for name, signal in read.items():
        by_labels.setdefault(signal.labels, []).append(name)
    where = "; ".join(f"{', '.join(n)} by {labels}" for labels, n in by_labels.items()) or "none"
    absent = "; ".join(f"{name} (tried by {', '.join(labels)})" for name, labels in list(missing.items())[:MAX_NOTED])
    if len(missing) > MAX_NOTED:
        absent += f" and {len(missing) - MAX_NOTED} more"
    source = f"the profiles {', '.join(profiles)}" if profiles else "the signal catalogue file"
    evidence.add(
        "prometheus",
        f"{LIST_LABELS.name}(label=__name__)" if profiles else "signal catalogue file",
        f"Signals of {resource.name} read from {source}: {where}" + (f"; no series for {absent}" if absent else ""),
        data={
            "profiles": profiles,
            "read": {name: {"labels": s.labels, "profile": s.profile} for name, s in read.items()},
            "missing": missing,
        },
    )


def _onset(points: list[tuple[float, float]], query: str) -> Onset | None:
    """The change point of `points`, moved back by half the query's rate window for a step.

    A rate over a window W turns a step at T into a ramp from T to T+W, and the fitted split falls
    in its middle; half the window back is where the step was.
    """
    onset = detect_onset(points)
    window = widest_range(query)
    if onset is None or onset.kind != "step" or window is None:
        return onset
    return replace(onset, at=onset.at - window / 2)


def widest_range(query: str) -> float | None:
    """The widest range window of `query`'s range selectors (`rate(x[5m])`: 300 s), None without one."""
    windows = [parse_duration(w) for w in _RANGE.findall(query)]
    return max(windows) if windows else None


def _settled(points: list[tuple[float, float]], window: Window) -> list[tuple[float, float]]:
    """`points` without the first minutes of a series that appeared inside the window.

    Rates over a range window (`rate(x[5m])`) start from a partial window when a series appears,
    which reads as a step; the appearance itself is not the incident.
    """
    if not points or points[0][0] <= window.start + window.step:
        return points
    settled = points[0][0] + WARM_UP_SECONDS
    return [(t, v) for t, v in points if t >= settled]


def cite_signals(
    series: list[SignalSeries], scope: ResolvedScope, window: Window, evidence: EvidenceLog
) -> list[SignalSeries]:
    """Evidence for each series that shifted, and for the primary's symptoms either way."""
    cited = []
    for item in series:
        primary_symptom = item.resource is scope.primary and item.signal.kind == "symptom"
        if item.onset is None and not primary_symptom:
            cited.append(item)
            continue
        evidence_id = evidence.add(
            "prometheus",
            item.query,
            _signal_summary(item),
            start=window.start,
            end=window.end,
            data=_signal_data(item),
        )
        cited.append(SignalSeries(item.resource, item.signal, item.query, item.points, item.onset, evidence_id))
    return cited


def shifts_of(series: Sequence[SignalSeries]) -> list[SignalShift]:
    return [
        SignalShift(
            evidence_id=item.evidence_id or "",
            resource=item.resource.name,
            signal=item.signal.name,
            kind=item.signal.kind,
            at=item.onset.at,
            direction=item.onset.direction,
            magnitude=item.onset.magnitude,
            score=item.onset.score,
        )
        for item in series
        if item.onset is not None
    ]


def _signal_summary(item: SignalSeries) -> str:
    what = item.label
    if item.onset is None:
        last = item.points[-1][1] if item.points else None
        return f"{what}: no change in the window" + ("" if last is None else f" (now {_number(last)})")
    onset = item.onset
    change = "" if onset.magnitude is None else f" ({onset.magnitude:+.0%})"
    return (
        f"{what} went {onset.direction} at {iso(onset.at)} ({onset.kind}): {_number(onset.before)} -> "
        f"{_number(onset.after)}{change}"
    )


def _signal_data(item: SignalSeries) -> dict[str, Any]:
    data: dict[str, Any] = {
        "signal": item.signal.name,
        "kind": item.signal.kind,
        "resource": item.resource.name,
        "labels": item.signal.labels,
        "profile": item.signal.profile,
    }
    if item.onset is not None:
        data |= {
            "onset": iso(item.onset.at),
            "direction": item.onset.direction,
            "shape": item.onset.kind,
            "before": item.onset.before,
            "after": item.onset.after,
            "score": round(item.onset.score, 1),
        }
    return data


def _number(value: float) -> str:
    return f"{value:.3g}"
