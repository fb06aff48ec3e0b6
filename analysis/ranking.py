"""Ranking root-cause hypotheses from what an investigation found (`common.investigation`).

Facts in, hypotheses out; no I/O. Each candidate gets a score from the strength and agreement
of its evidence, and the score becomes a confidence in [0, 1):

- a **change** (deployment, config change, flag, scale, restart, infrastructure) on the service
  or a dependency counts by how shortly before the onset it came (half weight at ~17 minutes,
  nothing once it came well after) and by where: on the service itself, or on a dependency that
  itself shows a shift at the onset; a change elsewhere is not a candidate at all (the red
  herrings of the scenario suite);
- a **dependency** that shifted at the onset (down, erroring, saturated, anomalous), more so when
  the service's new error logs name it;
- **saturation** of the service (CPU, throttling, memory) that began at or before the onset,
  weakened when a deployment just before the onset explains it better;
- a **traffic surge**: the request rate itself rose at the onset;
- **infrastructure**: several resources losing availability together;
- **unknown**: no onset, or nothing scores enough (the noisy-baseline case).

The weights are first estimates, set by reasoning about the bundled scenarios; they are to be
calibrated on the scenario suite once `sre scenario run` measures hit@1 end to end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.diagnostic_report import CHANGE_KINDS, Hypothesis, HypothesisKind, Target

__all__ = ["ChangeFact", "Facts", "LogRise", "SignalShift", "rank"]

#: Minutes before the onset at which a change's weight halves.
CHANGE_HALF_LIFE_MINUTES = 17.0
#: A change this many minutes after the detected onset can still be its cause (onsets are found to a step or two).
AFTER_ONSET_SLACK_MINUTES = 5.0
#: Shifts within this many minutes of the onset belong to the incident.
TOGETHER_MINUTES = 15.0
#: Below this score, no hypothesis stands out and `unknown` comes first.
MIN_SCORE = 1.0


@dataclass(frozen=True)
class ChangeFact:
    evidence_id: str
    at: float
    type: str
    resource: str | None
    ref: str | None = None
    summary: str = ""
    #: A scale-out: capacity added, which relieves symptoms rather than causing them.
    adds_capacity: bool = False


@dataclass(frozen=True)
class SignalShift:
    """A signal of a resource that changed regime (from `analysis.onset`) or an anomalous series."""

    evidence_id: str
    resource: str
    signal: str
    kind: str  # symptom | traffic | saturation | availability | anomaly
    at: float
    direction: str  # up | down
    magnitude: float | None
    score: float


@dataclass(frozen=True)
class LogRise:
    evidence_id: str
    resource: str
    template: str
    new: bool
    score: float
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    service: str
    namespace: str | None
    dependencies: tuple[str, ...]
    onset: float | None
    changes: Sequence[ChangeFact] = ()
    shifts: Sequence[SignalShift] = ()
    log_rises: Sequence[LogRise] = ()
    #: The service is itself something others call (a database, a provider, a callee of another alerting one).
    primary_is_dependency: bool = False


@dataclass
class _Candidate:
    kind: HypothesisKind
    resource: str
    ref: str | None
    score: float
    evidence: list[str] = field(default_factory=list)
    rationale: str = ""


def rank(facts: Facts, *, limit: int = 5) -> list[Hypothesis]:
    """The hypotheses, most likely first (at most `limit`)."""
    candidates = [
        *_changes(facts),
        *_dependencies(facts),
        *_saturation(facts),
        *_traffic(facts),
        *_infrastructure(facts),
    ]
    candidates.sort(key=lambda c: -c.score)
    merged = _merge(candidates)
    top = merged[0].score if merged else 0.0
    if facts.onset is None or top < MIN_SCORE:
        why = "no onset was detected in the symptom signals" if facts.onset is None else "no cause stands out"
        merged.insert(0, _Candidate("unknown", facts.service, None, max(MIN_SCORE, top + 0.1), [], why))
    return [_hypothesis(c, facts.namespace) for c in merged[:limit]]


def _changes(facts: Facts) -> list[_Candidate]:
    scope = {facts.service, *facts.dependencies}
    shifted = _shifted_resources(facts)
    out = []
    for change in facts.changes:
        kind = CHANGE_KINDS.get(change.type)
        on_scope = change.resource in scope or (change.resource is None and kind == "infrastructure")
        if kind is None or not on_scope:
            continue
        proximity = _proximity(facts.onset, change.at)
        if proximity == 0.0:
            continue
        if change.resource == facts.service or change.resource is None:
            locality = 1.0
        elif change.resource in shifted:
            locality = 0.9
        else:
            locality = 0.35
        if change.adds_capacity:
            locality *= 0.3
        corroboration = 0.5 if any(s.resource == facts.service and s.kind == "symptom" for s in facts.shifts) else 0
        score = 3.0 * proximity * locality + corroboration
        minutes = "" if facts.onset is None else f" {max(0.0, (facts.onset - change.at) / 60):.0f} min before the onset"
        what = change.ref or change.summary or change.type
        out.append(
            _Candidate(
                kind,
                change.resource or facts.service,
                change.ref,
                score,
                [change.evidence_id, *_symptom_evidence(facts)],
                f"{change.type} of {change.resource or 'the platform'} ({what}){minutes}",
            )
        )
    return out


def _dependencies(facts: Facts) -> list[_Candidate]:
    out = []
    suspects = [*facts.dependencies, *([facts.service] if facts.primary_is_dependency else [])]
    for dependency in suspects:
        shifts = [s for s in _near_onset(facts, facts.shifts) if s.resource == dependency and s.kind != "traffic"]
        mentions = [r for r in facts.log_rises if r.resource == facts.service and dependency in r.mentions]
        if not shifts and not mentions:
            continue
        strength = max((s.score for s in shifts), default=0.0)
        score = (1.2 if shifts else 0.6) + 0.6 * min(3.0, math.log1p(strength)) + (1.0 if mentions else 0.0)
        if any(c.resource == dependency and _proximity(facts.onset, c.at) > 0.5 for c in facts.changes):
            score -= 1.0  # a change to the dependency just before explains its failure better
        signals = ", ".join(sorted({s.signal for s in shifts})) or "its name in the new errors"
        out.append(
            _Candidate(
                "dependency",
                dependency,
                None,
                score,
                [s.evidence_id for s in shifts] + [r.evidence_id for r in mentions],
                f"{dependency} changed at the onset ({signals})",
            )
        )
    return out


def _saturation(facts: Facts) -> list[_Candidate]:
    shifts = [
        s
        for s in facts.shifts
        if s.resource == facts.service
        and s.kind == "saturation"
        and s.direction == "up"
        and (facts.onset is None or s.at <= facts.onset + TOGETHER_MINUTES * 60)
    ]
    if not shifts:
        return []
    strength = max(s.score for s in shifts)
    score = 1.5 + 0.5 * min(3.0, math.log1p(strength))
    if any(s.resource == facts.service and s.signal == "restarts" for s in facts.shifts):
        score += 0.5
    scope = {facts.service, *facts.dependencies}
    changed = any(
        c.resource in scope and not c.adds_capacity and _proximity(facts.onset, c.at) > 0.3 for c in facts.changes
    )
    if changed:
        score -= 1.0  # a fresh change (a deployment, a dependency's new config) explains the saturation better
    signals = ", ".join(sorted({s.signal for s in shifts}))
    return [
        _Candidate(
            "resource_saturation",
            facts.service,
            None,
            score,
            [s.evidence_id for s in shifts],
            f"{facts.service} is running out of resources ({signals})",
        )
    ]


def _traffic(facts: Facts) -> list[_Candidate]:
    surges = [
        s
        for s in _near_onset(facts, facts.shifts)
        if s.kind == "traffic" and s.direction == "up" and (s.magnitude or 0.0) >= 0.5
    ]
    if not surges:
        return []
    biggest = max(surges, key=lambda s: s.magnitude or 0.0)
    score = 1.5 + min(2.0, biggest.magnitude or 0.0)
    return [
        _Candidate(
            "traffic_surge",
            biggest.resource,
            None,
            score,
            [s.evidence_id for s in surges],
            f"requests to {biggest.resource} rose {100 * (biggest.magnitude or 0):.0f}% at the onset",
        )
    ]


def _infrastructure(facts: Facts) -> list[_Candidate]:
    down = [s for s in _near_onset(facts, facts.shifts) if s.kind == "availability" and s.direction == "down"]
    resources = sorted({s.resource for s in down})
    if len(resources) < 2:
        return []
    score = 1.5 + 0.5 * min(4, len(resources))
    return [
        _Candidate(
            "infrastructure",
            facts.service,
            None,
            score,
            [s.evidence_id for s in down],
            f"{len(resources)} resources lost availability together ({', '.join(resources)})",
        )
    ]


def _proximity(onset: float | None, at: float) -> float:
    """How much a change at `at` can explain an onset: 1 right before it, halving every half-life, 0 after."""
    if onset is None:
        return 0.3
    minutes_before = (onset - at) / 60
    if minutes_before < -AFTER_ONSET_SLACK_MINUTES:
        return 0.0
    return math.pow(0.5, max(0.0, minutes_before) / CHANGE_HALF_LIFE_MINUTES)


def _near_onset(facts: Facts, shifts: Sequence[SignalShift]) -> list[SignalShift]:
    if facts.onset is None:
        return list(shifts)
    onset = facts.onset
    return [s for s in shifts if abs(s.at - onset) <= TOGETHER_MINUTES * 60]


def _shifted_resources(facts: Facts) -> set[str]:
    return {s.resource for s in _near_onset(facts, facts.shifts)}


def _symptom_evidence(facts: Facts) -> list[str]:
    return [s.evidence_id for s in facts.shifts if s.resource == facts.service and s.kind == "symptom"][:2]


def _merge(candidates: list[_Candidate]) -> list[_Candidate]:
    """One hypothesis per (kind, resource, ref): the best scored, citing all their evidence."""
    merged: dict[tuple[str, str, str | None], _Candidate] = {}
    for candidate in candidates:
        key = (candidate.kind, candidate.resource, candidate.ref)
        kept = merged.setdefault(key, candidate)
        if kept is not candidate:
            kept.evidence += [e for e in candidate.evidence if e not in kept.evidence]
    return list(merged.values())


def _hypothesis(candidate: _Candidate, namespace: str | None) -> Hypothesis:
    confidence = candidate.score / (candidate.score + 2.0)
    return Hypothesis(
        kind=candidate.kind,
        target=Target(resource=candidate.resource, namespace=namespace, ref=candidate.ref),
        confidence=round(min(0.99, confidence), 3),
        evidence_ids=list(dict.fromkeys(candidate.evidence)),
        rationale=candidate.rationale,
    )
