"""The DiagnosticReport: what an investigation concludes, as JSON and as Markdown (DESIGN.md's contract).

Triage produces it; the router returns it; the control plane stores it (`analyses`); the eval
harness scores it. Every hypothesis cites the evidence it rests on by id, and every evidence item
carries the exact query that produced it, so a reader can re-run what the agent saw.

Most of its text comes from outside the platform (alerts, logs, labels, change summaries, a
model's narrative): those fields are `UntrustedText` / `UntrustedData` (`common.untrusted`),
cleaned, marked in the JSON schema, escaped in the Markdown, and scanned: `flags` lists every
field that reads like an instruction to a model. The flags are derived, never taken from input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.untrusted import UntrustedData, UntrustedText, code_span, instruction_in, markdown_text, strings_in

__all__ = [
    "CHANGE_KINDS",
    "HYPOTHESIS_KINDS",
    "Change",
    "DiagnosticReport",
    "Evidence",
    "Flag",
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
    # A workload's pods replaced by a new revision, seen in the metrics with no recorded change to explain it.
    "rollout": "deployment",
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
    summary: UntrustedText = Field(description="The alert's name and summary, the failed deployment, or the question.")
    details: UntrustedData = Field(default_factory=dict)


class Scope(_Model):
    service: UntrustedText
    namespace: UntrustedText | None = None
    resource_id: str | None = Field(default=None, description="The control plane's id of the service, when known.")
    dependencies: list[UntrustedText] = Field(default_factory=list)
    start: datetime = Field(description="Start of the look-back window.")
    end: datetime


class Evidence(_Model):
    id: str = Field(description="Cited by hypotheses, e.g. `e3`.")
    source: Source
    query: UntrustedText = Field(description="The exact query or call (PromQL, LogQL, API path) that produced it.")
    start: datetime | None = None
    end: datetime | None = None
    summary: UntrustedText
    link: str | None = Field(default=None, description="A deep link (Grafana Explore) when one is configured.")
    data: UntrustedData = Field(default_factory=dict, description="Figures behind the summary.")


class Onset(_Model):
    at: datetime = Field(description="When the symptom began, as detected from the signals (not the alert time).")
    signal: UntrustedText = Field(description="The signal whose change marks the onset.")
    evidence_ids: list[str] = Field(default_factory=list)


class Target(_Model):
    resource: UntrustedText = Field(description="The service or component, e.g. `checkout`.")
    namespace: UntrustedText | None = None
    ref: UntrustedText | None = Field(default=None, description="A version, a config key, a flag: what in it changed.")


class Hypothesis(_Model):
    kind: HypothesisKind
    target: Target
    confidence: float = Field(ge=0.0, le=1.0)
    evidence_ids: list[str]
    rationale: UntrustedText = Field(description="One line: why this is the cause.")


class Change(_Model):
    at: datetime
    type: UntrustedText
    resource: UntrustedText | None
    actor: UntrustedText | None = None
    summary: UntrustedText = ""
    ref: UntrustedText | None = None
    minutes_before_onset: float | None = Field(description="Negative when the change came after the onset.")


class SuggestedAction(_Model):
    action: str = Field(description="restart, rollback, scale, ...: a proposal, never run by the agent.")
    target: Target
    parameters: UntrustedData = Field(default_factory=dict)
    requires_approval: bool = True
    rationale: UntrustedText = ""


class SourceFailure(_Model):
    source: str
    reason: UntrustedText


class Flag(_Model):
    """A field whose text reads like an instruction to a model: kept as quoted data, not acted on."""

    field: str = Field(description="Where in the report, e.g. `trigger.summary` or `evidence[2].data.examples[0]`.")
    reason: str


class DiagnosticReport(_Model):
    # Assigning a field (the narrative, after the model stage) scans the report again.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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
    narrative: UntrustedText | None = Field(
        default=None, description="A model's summary of the report, when one is configured."
    )
    flags: list[Flag] = Field(
        default_factory=list,
        description="Fields whose text reads like an instruction to a model (prompt injection); derived from the "
        "report's text, never taken from input.",
    )

    @model_validator(mode="after")
    def _flag_instructions(self) -> DiagnosticReport:
        found = []
        for path, text in strings_in(self.model_dump(mode="json", exclude={"flags"})):
            phrase = instruction_in(text)
            if phrase is not None:
                found.append(
                    Flag(
                        field=path,
                        reason=f'It reads like an instruction to a model ("{phrase[:120]}"); it is kept as '
                        "quoted data and was not acted on.",
                    )
                )
        # Set without validation: validating the assignment would run this validator again.
        self.__dict__["flags"] = found
        return self

    def to_markdown(self) -> str:
        """The report for people; every text from outside is escaped (`markdown_text`), queries are code spans."""
        md = markdown_text
        lines = [f"# Diagnostic report: {md(self.scope.service)}", "", f"**Trigger:** {md(self.trigger.summary)}", ""]
        if self.flags:
            lines += ["## Warnings", ""]
            lines += [f"- {md(flag.field)}: {md(flag.reason)}" for flag in self.flags]
            lines.append("")
        if self.narrative:
            lines += [md(self.narrative), ""]
        if self.onset is not None:
            lines.append(f"**Onset:** {_time(self.onset.at)} (from {md(self.onset.signal)})")
        else:
            lines.append("**Onset:** not detected")
        lines += ["", "## Hypotheses", ""]
        if not self.hypotheses:
            lines.append("No hypothesis stands out.")
        for rank, hypothesis in enumerate(self.hypotheses, start=1):
            target = hypothesis.target.resource + (f" {hypothesis.target.ref}" if hypothesis.target.ref else "")
            cites = ", ".join(hypothesis.evidence_ids)
            lines.append(
                f"{rank}. **{hypothesis.kind}** on {md(target)} ({hypothesis.confidence:.0%}): "
                f"{md(hypothesis.rationale)} \\[{md(cites)}\\]"
            )
        if self.changes:
            lines += ["", "## Changes before the onset", "", "| when | minutes before onset | change | by |"]
            lines.append("|---|---|---|---|")
            for change in self.changes:
                before = "" if change.minutes_before_onset is None else f"{change.minutes_before_onset:.0f}"
                what = f"{change.type} {change.resource or ''} {change.ref or ''}".strip()
                lines.append(
                    f"| {_time(change.at)} | {before} | {md(what)}: {md(change.summary)} | {md(change.actor or '')} |"
                )
        if self.suggested_actions:
            lines += ["", "## Suggested actions (each needs an approval)", ""]
            for action in self.suggested_actions:
                parameters = ", ".join(f"{k}={v}" for k, v in action.parameters.items())
                proposal = f"{action.action} {action.target.resource} {parameters}".rstrip()
                lines.append(f"- {md(proposal)}: {md(action.rationale)}".rstrip())
        lines += ["", "## Evidence", ""]
        for item in self.evidence:
            lines.append(f"- **{md(item.id)}** ({item.source}) {md(item.summary)}  \n  {code_span(item.query)}")
        if self.degraded:
            lines += ["", "## Degraded", ""]
            lines += [f"- {md(failure.source)}: {md(failure.reason)}" for failure in self.degraded]
        return "\n".join(lines) + "\n"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
