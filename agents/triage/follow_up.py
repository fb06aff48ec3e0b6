"""Follow-ups answered from the last report, with no model: `answer(question, report)`.

What people ask next is mostly in the report already: what changed before the onset, when it
started, the likely cause, the evidence and its queries, what to do. Such a question is answered
with that section of the report's Markdown (escaped as the report is); any other returns None,
and the agent says that free-form follow-ups need `SRE_MODEL`.
"""

from __future__ import annotations

import re
from typing import Any

from common.diagnostic_report import DiagnosticReport

__all__ = ["HINT", "answer"]

#: What can be asked without a model, and how to start anew; said when a question is none of these.
HINT = (
    "Without one, ask what changed before the onset, when it started, the likely cause, the evidence (its "
    'queries) or what to do; or start a new investigation with {"service": "checkout", "namespace": "prod"}.'
)

#: Topic -> (words that ask for it, where the report's Markdown says it). The first topic asked for wins:
#: "what changed before the onset?" is about the changes, not the onset.
_TOPICS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(chang|deploy|release|rollout)", re.IGNORECASE), "## Changes before the onset"),
    (re.compile(r"\b(evidence|quer|proof|promql|logql)", re.IGNORECASE), "## Evidence"),
    (re.compile(r"\b(actions?|do|fix\w*|mitigat\w*|roll ?back|restart|scale)\b", re.IGNORECASE), "## Suggested"),
    (re.compile(r"\b(cause|caused|why|hypothes|root|likely|culprit|blame)", re.IGNORECASE), "## Hypotheses"),
    (re.compile(r"\b(when|start\w*|onset|begin\w*|began|since)\b", re.IGNORECASE), "**Onset:**"),
)
_NOTHING = {
    "## Changes before the onset": "No change was recorded in the investigated window.",
    "## Suggested": "No action is suggested.",
}


def answer(question: str, report: dict[str, Any]) -> str | None:
    """The section of `report` that `question` asks for, or None when it asks for none of them."""
    marker = next((marker for pattern, marker in _TOPICS if pattern.search(question)), None)
    if marker is None:
        return None
    parsed = DiagnosticReport.model_validate(report)
    section = _section(parsed.to_markdown(), marker) or _NOTHING.get(marker, "The report does not say.")
    return f"From the last report on {parsed.scope.service} ({parsed.id}):\n\n{section}"


def _section(markdown: str, marker: str) -> str | None:
    """The line starting with `marker`, or the `## ` section it heads, up to the next section."""
    lines = markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(marker)), None)
    if start is None:
        return None
    if not marker.startswith("## "):
        return lines[start]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip()
