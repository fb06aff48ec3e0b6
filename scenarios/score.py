"""How well a diagnostic report matches a scenario's ground truth (SCENARIOS.md, "Scoring").

    result = score(truth, report, change_expected=expects_change(scenario))
    summary = totals([result, ...], latencies=[1.2, ...])

`report` is a DiagnosticReport as JSON (a dict), or None when the run produced none (every
measure is then a miss). Per report:

- `hit_at_1`: the top hypothesis has the expected kind and service (names are compared, not
  namespaces: runs are isolated in namespaces of their own) and, when the truth has a `ref`,
  the ref occurs, case-insensitively, in the hypothesis's `target.ref` or its rationale.
  For a truth of kind `unknown` (no real incident): the top hypothesis is `unknown`, or no
  hypothesis has a confidence above 0.5.
- `hit_at_3`: the same, for any of the first three hypotheses.
- `onset_error_minutes`: |report onset - true onset|, None when either is missing.
- `change_found`: when the root cause is a change the scenario records (`expects_change`), the
  report's `changes[]` lists a change of the expected service, with `minutes_before_onset`, whose
  ref, summary or resource holds the truth's ref; None when the root cause is not a change.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.diagnostic_report import CHANGE_KINDS
from scenarios.records import GroundTruth
from scenarios.spec import Scenario

__all__ = ["UNKNOWN_CONFIDENCE", "Score", "expects_change", "score", "top_hypothesis", "totals"]

#: For a truth of kind `unknown`, no hypothesis may be more confident than this.
UNKNOWN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Score:
    hit_at_1: bool
    hit_at_3: bool
    onset_error_minutes: float | None
    change_found: bool | None


def expects_change(scenario: Scenario) -> bool:
    """Whether the root cause is one of the scenario's change events (of its kind, on its service,
    carrying its ref when it has one): only then can a report be asked to list it."""
    cause = scenario.expected.root_cause
    for event in scenario.events:
        if CHANGE_KINDS[event.type] != cause.kind or event.service != cause.service:
            continue
        if cause.ref is None or _mentions(cause.ref, event.version, event.ref, event.summary, event.service):
            return True
    return False


def score(truth: GroundTruth, report: Mapping[str, Any] | None, *, change_expected: bool) -> Score:
    """The measures of one report against the truth; see the module doc."""
    if report is None:
        return Score(False, False, None, False if change_expected else None)
    hypotheses = _hypotheses(report)
    return Score(
        hit_at_1=_hit(truth, hypotheses, 1),
        hit_at_3=_hit(truth, hypotheses, 3),
        onset_error_minutes=_onset_error(truth, report),
        change_found=_change_found(truth, report) if change_expected else None,
    )


def top_hypothesis(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The first hypothesis of the report, None when it has none."""
    hypotheses = _hypotheses(report) if report is not None else []
    return hypotheses[0] if hypotheses else None


def totals(scores: Sequence[Score], latencies: Sequence[float]) -> dict[str, Any]:
    """The run's figures: means over every scenario (a scenario without a report counts as a miss),
    the median onset error over the reports that have one, `change_found` over the scenarios whose
    root cause is a change, latency percentiles over the reports produced (`latencies`)."""
    onset_errors = [s.onset_error_minutes for s in scores if s.onset_error_minutes is not None]
    changes = [s.change_found for s in scores if s.change_found is not None]
    return {
        "scenarios": len(scores),
        "hit_at_1": _mean([s.hit_at_1 for s in scores]),
        "hit_at_3": _mean([s.hit_at_3 for s in scores]),
        "onset_error_minutes_median": _round(statistics.median(onset_errors)) if onset_errors else None,
        "change_found": _mean(changes),
        "latency_p50_s": _round(_percentile(latencies, 50)),
        "latency_p95_s": _round(_percentile(latencies, 95)),
        "reports": len(latencies),
    }


# --- matching ------------------------------------------------------------------------------------


def _hypotheses(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    hypotheses = report.get("hypotheses")
    if not isinstance(hypotheses, list):
        return []
    return [h for h in hypotheses if isinstance(h, dict)]


def _hit(truth: GroundTruth, hypotheses: list[dict[str, Any]], depth: int) -> bool:
    first = hypotheses[:depth]
    if truth.kind == "unknown":
        confident = any(_confidence(h) > UNKNOWN_CONFIDENCE for h in hypotheses)
        return not confident or any(h.get("kind") == "unknown" for h in first)
    return any(_matches(truth, h) for h in first)


def _matches(truth: GroundTruth, hypothesis: dict[str, Any]) -> bool:
    target = hypothesis.get("target")
    target = target if isinstance(target, dict) else {}
    if hypothesis.get("kind") != truth.kind or _name(target.get("resource")) != truth.service:
        return False
    return truth.ref is None or _mentions(truth.ref, target.get("ref"), hypothesis.get("rationale"))


def _change_found(truth: GroundTruth, report: Mapping[str, Any]) -> bool:
    changes = report.get("changes")
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, dict) or change.get("minutes_before_onset") is None:
            continue
        resource = change.get("resource")
        if _name(resource) != truth.service:
            continue
        if truth.ref is None or _mentions(truth.ref, change.get("ref"), change.get("summary"), _name(resource)):
            return True
    return False


def _onset_error(truth: GroundTruth, report: Mapping[str, Any]) -> float | None:
    onset = report.get("onset")
    at = _instant(onset.get("at")) if isinstance(onset, dict) else None
    if truth.onset is None or at is None:
        return None
    return abs((at - truth.onset).total_seconds()) / 60


def _mentions(ref: str, *texts: object) -> bool:
    needle = ref.casefold()
    return any(isinstance(text, str) and needle in text.casefold() for text in texts)


def _name(resource: object) -> str | None:
    """`checkout` of `checkout` or `prod-1a2b3c/checkout`."""
    return resource.rpartition("/")[2] if isinstance(resource, str) else None


def _confidence(hypothesis: dict[str, Any]) -> float:
    value = hypothesis.get("confidence")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


# --- figures -------------------------------------------------------------------------------------


def _mean(values: Sequence[bool]) -> float | None:
    return _round(sum(values) / len(values)) if values else None


def _percentile(values: Sequence[float], percent: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
