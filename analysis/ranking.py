"""Ranking root-cause hypotheses from what an investigation found (`common.investigation`).

Facts in, hypotheses out; no I/O. Each candidate gets a score from the strength and agreement
of its evidence, and the score becomes a confidence in [0, 1):

- a **change** (deployment, config change, flag, scale, restart, infrastructure) on the service
  or a dependency counts by how shortly before the onset it came (half weight at ~17 minutes,
  nothing once it came well after) and by where: on the service itself, or on a dependency that
  itself shows a shift at the onset; a change elsewhere is not a candidate at all (the red
  herrings of the scenario suite);
- a change on a **dependent** (a caller of a shared service: the consumer of a queue, a client of
  a database) counts the same way when the dependent shows a shift of its own at the onset: its
  request rate surged (it floods the service), or its saturation or symptoms rose while nothing
  at or below the service explains them (no dependency of the service shifted, the service did
  not go down, none of its nodes failed: else the callers' errors, latency and busier CPU are the
  failure propagating up to them). It counts as the service's own
  change when the service's request rate surged (its load is its callers' doing: the surge is
  the changed caller's shift seen from the receiving side), and when the alert names it as the
  caller that saw the failure while the service's own signals stay flat (the failure exists only
  in that caller's view: its own timeout, retries, pool);
- a **dependency** that shifted at the onset (down, erroring, saturated, anomalous), more so when
  the service's new error logs name it; a dependency whose own symptoms were read and stayed flat
  is healthy on its own side, and its other series' departures (a duration sum falling with the
  calls that reach it) do not make it failing;
- **saturation** of the service (CPU, throttling, memory) that began at or before the onset,
  weakened when a deployment just before the onset explains it better;
- a **traffic surge**: the request rate itself rose at the onset;
- **infrastructure**: several resources losing availability together, a node (the alert's
  subject) whose own saturation or availability shifted, or a node the service's pods ran on that
  went down at the onset (or saturated as the service lost pods);
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
#: A relative rise of a request rate that counts as a surge.
SURGE = 0.5
#: The locality of a change to a dependency or dependent that shows no shift of its own at the onset.
WEAK_LOCALITY = 0.35


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
    #: Resources that call the service and may have caused the incident (`scope.suspect_dependents`).
    dependents: tuple[str, ...] = ()
    #: The dependents the alert names as the callers that saw the failure.
    callers: tuple[str, ...] = ()
    #: What the service is, as the control plane files it (`deployment`, `database`, `node`...), None if unknown.
    service_kind: str | None = None
    #: The nodes the service's pods ran on.
    hosts: tuple[str, ...] = ()
    #: Resources whose own symptom signals (errors, latency, as they serve) were read and did not shift.
    healthy: tuple[str, ...] = ()


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
    scope = {facts.service, *facts.dependencies, *facts.dependents}
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
        elif change.resource in facts.dependencies:
            locality = 0.9 if change.resource in shifted else WEAK_LOCALITY
        else:
            locality = _dependent_locality(facts, change.resource)
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
                [change.evidence_id, *_shifts_of(facts, change.resource), *_symptom_evidence(facts)],
                f"{change.type} of {change.resource or 'the platform'} ({what}){minutes}",
            )
        )
    return out


def _dependent_locality(facts: Facts, dependent: str) -> float:
    """How much a dependent's change can explain the service's incident (see the module's docstring)."""
    near = [s for s in _near_onset(facts, facts.shifts) if s.kind != "anomaly"]
    # The callee's own side stays healthy: its traffic may change (a caller's pool or retries), nothing else.
    if dependent in facts.callers and not any(s.resource == facts.service and s.kind != "traffic" for s in near):
        return 1.0
    if any(_surge(s) for s in near if s.resource == facts.service):
        return 1.0  # the service's load surged: its load is its callers' doing, and this one just changed
    own = [s for s in near if s.resource == dependent]
    if any(_surge(s) for s in own):
        return 0.9
    if _explained_below(facts):
        return WEAK_LOCALITY  # its errors, latency, busier CPU (retries, a lost replica's load) are consequences
    if any(s.kind in ("symptom", "saturation") and s.direction == "up" for s in own):
        return 0.9
    return WEAK_LOCALITY


def _explained_below(facts: Facts) -> bool:
    """The service's failure has a cause at or below it: a dependency shifted at the onset, it went down, or a
    node under it did."""
    near = _near_onset(facts, facts.shifts)
    return (
        any(s.resource in facts.dependencies and s.kind != "traffic" for s in near)
        or any(s.resource == facts.service and s.kind == "availability" and s.direction == "down" for s in near)
        or _host_down(facts)
    )


def _host_down(facts: Facts) -> bool:
    """A node the service's pods ran on lost availability at the onset."""
    return any(
        s.resource in facts.hosts and s.kind == "availability" and s.direction == "down"
        for s in _near_onset(facts, facts.shifts)
    )


def _dependent_changed(facts: Facts) -> bool:
    """A dependent's change just before the onset counts as the cause (it explains the service's shifts better)."""
    return any(
        c.resource in facts.dependents
        and not c.adds_capacity
        and _proximity(facts.onset, c.at) > 0.5
        and _dependent_locality(facts, c.resource) > WEAK_LOCALITY
        for c in facts.changes
        if c.resource is not None
    )


def _dependencies(facts: Facts) -> list[_Candidate]:
    out = []
    suspects = [*facts.dependencies, *([facts.service] if facts.primary_is_dependency else [])]
    for dependency in suspects:
        shifts = [s for s in _near_onset(facts, facts.shifts) if s.resource == dependency and s.kind != "traffic"]
        if dependency in facts.healthy and all(s.kind == "anomaly" for s in shifts):
            shifts = []  # its own symptoms stayed flat: its other series moved with the calls it got, no failure
        mentions = [r for r in facts.log_rises if r.resource == facts.service and dependency in r.mentions]
        if not shifts and not mentions:
            continue
        strength = max((s.score for s in shifts), default=0.0)
        score = (1.2 if shifts else 0.6) + 0.6 * min(3.0, math.log1p(strength)) + (1.0 if mentions else 0.0)
        if any(c.resource == dependency and _proximity(facts.onset, c.at) > 0.5 for c in facts.changes):
            score -= 1.0  # a change to the dependency just before explains its failure better
        elif dependency == facts.service and (_dependent_changed(facts) or _host_down(facts)):
            score -= 1.0  # so does a change to one of its callers that shifted with it, or a node under it failing
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
    if facts.service_kind == "node":
        return []  # a host running out of disk or memory is infrastructure (`_infrastructure`)
    shifts = _own_saturation(facts)
    if not shifts:
        return []
    strength = max(s.score for s in shifts)
    score = 1.5 + 0.5 * min(3.0, math.log1p(strength))
    if any(s.resource == facts.service and s.signal == "restarts" for s in facts.shifts):
        score += 0.5
    scope = {facts.service, *facts.dependencies}
    changed = _dependent_changed(facts) or any(
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
    surges = [s for s in _near_onset(facts, facts.shifts) if _surge(s)]
    if not surges:
        return []
    biggest = max(surges, key=lambda s: s.magnitude or 0.0)
    score = 1.5 + min(2.0, biggest.magnitude or 0.0)
    if biggest.resource == facts.service and _dependent_changed(facts):
        score -= 1.0  # a caller's change just before explains the load it sends
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
    out = []
    down = [s for s in _near_onset(facts, facts.shifts) if s.kind == "availability" and s.direction == "down"]
    resources = sorted({s.resource for s in down})
    # With a node under the service among them, that node is what they lost together (`_failed_hosts`).
    if len(resources) >= 2 and not set(resources) & set(facts.hosts):
        out.append(
            _Candidate(
                "infrastructure",
                facts.service,
                None,
                1.5 + 0.5 * min(4, len(resources)),
                [s.evidence_id for s in down],
                f"{len(resources)} resources lost availability together ({', '.join(resources)})",
            )
        )
    host = [*_own_saturation(facts), *(s for s in down if s.resource == facts.service)]
    if facts.service_kind == "node" and host:
        signals = ", ".join(sorted({s.signal for s in host}))
        # A failure of the node on record (its instance replaced) is the same hypothesis: one, named by its ref.
        recorded = [
            c
            for c in facts.changes
            if c.resource == facts.service
            and CHANGE_KINDS.get(c.type) == "infrastructure"
            and c.ref
            and _proximity(facts.onset, c.at) > 0.0
        ]
        out.append(
            _Candidate(
                "infrastructure",
                facts.service,
                recorded[-1].ref if recorded else None,
                1.5 + 0.5 * min(3.0, math.log1p(max(s.score for s in host))),
                [s.evidence_id for s in host],
                f"the node {facts.service} itself shifted ({signals})",
            )
        )
    return [*out, *_failed_hosts(facts, down)]


def _failed_hosts(facts: Facts, down: list[SignalShift]) -> list[_Candidate]:
    """A node under the service that went down at the onset, or saturated as the service lost pods."""
    lost_pods = [s for s in down if s.resource == facts.service]
    out = []
    for host in facts.hosts:
        shifts = [s for s in down if s.resource == host]
        if lost_pods:
            shifts += [s for s in _near_onset(facts, facts.shifts) if s.resource == host and s.kind == "saturation"]
        if not shifts:
            continue
        signals = ", ".join(sorted({s.signal for s in shifts}))
        out.append(
            _Candidate(
                "infrastructure",
                host,
                None,
                1.5 + 0.5 * min(3.0, math.log1p(max(s.score for s in shifts))),
                [s.evidence_id for s in [*shifts, *lost_pods]],
                f"the node {host}, which ran {facts.service}'s pods, failed at the onset ({signals})",
            )
        )
    return out


def _own_saturation(facts: Facts) -> list[SignalShift]:
    """The service's saturation that rose by the onset (or within the incident's first minutes)."""
    return [
        s
        for s in facts.shifts
        if s.resource == facts.service
        and s.kind == "saturation"
        and s.direction == "up"
        and (facts.onset is None or s.at <= facts.onset + TOGETHER_MINUTES * 60)
    ]


def _surge(shift: SignalShift) -> bool:
    """A request rate that rose by half or more: more than the daily cycle's bends, a flood."""
    return shift.kind == "traffic" and shift.direction == "up" and (shift.magnitude or 0.0) >= SURGE


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


def _shifts_of(facts: Facts, resource: str | None) -> list[str]:
    """The evidence that another resource than the service shifted at the onset, which made its change count."""
    if resource is None or resource == facts.service:
        return []
    return [s.evidence_id for s in _near_onset(facts, facts.shifts) if s.resource == resource][:2]


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
