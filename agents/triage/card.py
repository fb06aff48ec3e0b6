"""The triage agent's card: what it offers other agents and platforms over A2A."""

from __future__ import annotations

from common.agents import AgentCardSpec, SkillSpec

__all__ = ["CARD"]

CARD = AgentCardSpec(
    name="triage",
    description=(
        "Investigates an alert, a failed deployment or a question about a service: when the symptom began, "
        "what changed just before, ranked root-cause hypotheses with their evidence (the exact queries), and "
        "approval-gated actions. Deterministic; no model needed."
    ),
    skills=(
        SkillSpec(
            id="triage-alert",
            name="Investigate an alert",
            description="Send an Alertmanager webhook payload (version 4) as a data part; get a DiagnosticReport.",
            tags=("triage", "alert", "alertmanager", "incident", "root-cause", "diagnostics"),
            examples=("HighErrorRate firing for checkout in prod",),
        ),
        SkillSpec(
            id="triage-deployment",
            name="Investigate a failed deployment",
            description=(
                'Send {"type": "deployment", "service", "namespace", "deployment_id", "status", "version"}; '
                "get a DiagnosticReport."
            ),
            tags=("triage", "deployment", "rollback", "diagnostics"),
            examples=("The deployment of payments v1.15.0 failed",),
        ),
        SkillSpec(
            id="triage-question",
            name="Investigate a question",
            description=(
                'Ask in text ("why is checkout failing?") or send {"question", "service", "namespace", '
                '"start", "end"}; get a DiagnosticReport.'
            ),
            tags=("triage", "question", "why", "errors", "latency", "diagnostics"),
            examples=("Why is checkout returning 500s?", "What changed before payments got slow?"),
        ),
    ),
)
