"""The DiagnosticReport: what an investigation concludes, as JSON and as Markdown (DESIGN.md's contract).

Triage produces it; the router returns it; the control plane stores it (`analyses`); the eval
harness scores it. Every hypothesis cites the evidence it rests on by id, and every evidence item
carries the exact query that produced it, so a reader can re-run what the agent saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CHANGE_KINDS",
    "HYPOTHESIS_KINDS",
    "Change",
    "DiagnosticReport",
    "Evidence",
    "Hypothesis",
    "HypothesisKind",
    "Onset",
    "Scope",
    "Source",
    "SourceFailure",
    "SuggestedAction",
    "Target",
    "Trigger",
]

HypothesisKind = Literal[
    "deployment", "config_change", "dependency", "resource_saturation", "traffic_surge", "infrastructure", "unknown"
]
HYPOTHESIS_KINDS: tuple[str, ...] = get_args(HypothesisKind)
#: The hypothesis kind each type of change stands for (SCENARIOS.md): what triage ranks a change
#: as, and what the eval harness expects of a scenario's change event.
CHANGE_KINDS: dict[str, HypothesisKind] = {
    "deployment": "deployment",
    "rollback": "deployment",
    "config_change": "config_change",
    "feature_flag": "config_change",
    "scale": "config_change",
    "restart": "infrastructure",
    "infrastructure": "infrastructure",
}
Source = Literal["prometheus", "loki", "controlplane", "knowledge"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_Model):
    kind: Literal["alert", "deployment", "question"]
    summary: str = Field(description="The alert's name and summary, the failed deployment, or the question.")
    details: dict[str, Any] = Field(default_factory=dict)


class Scope(_Model):
    service: str
    namespace: str | None = None
    resource_id: str | None = Field(default=None, description="The control plane's id of the service, when known.")
    dependencies: list[str] = Field(default_factory=list)
    start: datetime = Field(description="Start of the look-back window.")
    end: datetime


class Evidence(_Model):
    id: str = Field(description="Cited by hypotheses, e.g. `e3`.")
    source: Source
    query: str = Field(description="The exact query or call (PromQL, LogQL, API path) that produced it.")
    start: datetime | None = None
    end: datetime | None = None
    summary: str
    link: str | None = Field(default=None, description="A deep link (Grafana Explore) when one is configured.")
    data: dict[str, Any] = Field(default_factory=dict, description="Figures behind the summary.")


class Onset(_Model):
    at: datetime = Field(description="When the symptom began, as detected from the signals (not the alert time).")
    signal: str = Field(description="The signal whose change marks the onset.")
    evidence_ids: list[str] = Field(default_factory=list)


class Target(_Model):
    resource: str = Field(description="The service or component, e.g. `checkout`.")
    namespace: str | None = None
    ref: str | None = Field(default=None, description="A version, a config key, a flag: what in it changed.")


class Hypothesis(_Model):
    kind: HypothesisKind
    target: Target
    confidence: float = Field(ge=0.0, le=1.0)
    evidence_ids: list[str]
    rationale: str = Field(description="One line: why this is the cause.")


class Change(_Model):
    at: datetime
    type: str
    resource: str | None
    actor: str | None = None
    summary: str = ""
    ref: str | None = None
    minutes_before_onset: float | None = Field(description="Negative when the change came after the onset.")


class SuggestedAction(_Model):
    action: str = Field(description="restart, rollback, scale, ...: a proposal, never run by the agent.")
    target: Target
    parameters: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool = True
    rationale: str = ""


class SourceFailure(_Model):
    source: str
    reason: str


class DiagnosticReport(_Model):
    id: str
    created_at: datetime
    trigger: Trigger
    scope: Scope
    onset: Onset | None
    hypotheses: list[Hypothesis] = Field(description="Most likely first.")
    evidence: list[Evidence]
    changes: list[Change]
    suggested_actions: list[SuggestedAction]
    degraded: list[SourceFailure] = Field(default_factory=list, description="Sources that failed; the rest stands.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    analysis_url: str | None = Field(default=None, description="Where the control plane keeps this report.")
    narrative: str | None = Field(default=None, description="A model's summary of the report, when one is configured.")

    def to_markdown(self) -> str:
        lines = [f"# Diagnostic report: {self.scope.service}", "", f"**Trigger:** {self.trigger.summary}", ""]
        if self.narrative:
            lines += [self.narrative.strip(), ""]
        if self.onset is not None:
            lines.append(f"**Onset:** {_time(self.onset.at)} (from {self.onset.signal})")
        else:
            lines.append("**Onset:** not detected")
        lines += ["", "## Hypotheses", ""]
        if not self.hypotheses:
            lines.append("No hypothesis stands out.")
        for rank, hypothesis in enumerate(self.hypotheses, start=1):
            target = hypothesis.target.resource + (f" {hypothesis.target.ref}" if hypothesis.target.ref else "")
            cites = ", ".join(hypothesis.evidence_ids)
            lines.append(
                f"{rank}. **{hypothesis.kind}** on {target} ({hypothesis.confidence:.0%}): {hypothesis.rationale} "
                f"[{cites}]"
            )
        if self.changes:
            lines += ["", "## Changes before the onset", "", "| when | minutes before onset | change | by |"]
            lines.append("|---|---|---|---|")
            for change in self.changes:
                before = "" if change.minutes_before_onset is None else f"{change.minutes_before_onset:.0f}"
                what = f"{change.type} {change.resource or ''} {change.ref or ''}".strip()
                lines.append(f"| {_time(change.at)} | {before} | {what}: {change.summary} | {change.actor or ''} |")
        if self.suggested_actions:
            lines += ["", "## Suggested actions (each needs an approval)", ""]
            for action in self.suggested_actions:
                parameters = ", ".join(f"{k}={v}" for k, v in action.parameters.items())
                lines.append(f"- {action.action} {action.target.resource} {parameters}: {action.rationale}".rstrip())
        lines += ["", "## Evidence", ""]
        for item in self.evidence:
            lines.append(f"- **{item.id}** ({item.source}) {item.summary}  \n  `{item.query}`")
        if self.degraded:
            lines += ["", "## Degraded", ""]
            lines += [f"- {failure.source}: {failure.reason}" for failure in self.degraded]
        return "\n".join(lines) + "\n"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
