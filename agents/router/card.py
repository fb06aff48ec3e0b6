"""The router's Agent Card: the A2A `route` skill, and its webhooks described for people."""

from __future__ import annotations

from common.agents import AgentCardSpec, SkillSpec

__all__ = ["ROUTE_SKILL", "SPEC"]

ROUTE_SKILL = "route"

SPEC = AgentCardSpec(
    name="router",
    description=(
        "Front door of the SRE federation: routes a question, an Alertmanager payload or a deployment event "
        "to the registered agent whose skill fits best, and starts investigations from Alertmanager and "
        "deployment webhooks. REST API: /openapi.json."
    ),
    skills=(
        SkillSpec(
            id=ROUTE_SKILL,
            name="Route a request to the right agent",
            description=(
                "Picks the registered agent whose skill best fits the message (an exact skill id, tags, words of "
                "its name, description and examples; an Alertmanager payload or a deployment event goes to "
                "triage), sends it the message over A2A with the router's own token, streams its progress back "
                "and returns its result. Without a match, answers with the skills available."
            ),
            tags=("route", "dispatch", "alerts", "deployments", "questions"),
            examples=(
                "Why is checkout slow since 10:00?",
                '{"version": "4", "status": "firing", "alerts": [...]}',
                '{"type": "deployment", "service": "checkout", "status": "failed"}',
            ),
        ),
        SkillSpec(
            id="alertmanager-webhook",
            name="Alertmanager webhook (HTTP, not A2A)",
            description=(
                "POST /webhooks/alertmanager with Alertmanager's webhook payload (version 4), a bearer token "
                "(scope agents:invoke) or the configured HTTP basic credentials: a new delivery starts one triage "
                "investigation and answers 202 with its task; a re-send answers 200 with the same task."
            ),
            tags=("alertmanager", "webhook", "alerts"),
        ),
        SkillSpec(
            id="deployment-webhook",
            name="Deployment webhook (HTTP, not A2A)",
            description=(
                'POST /webhooks/deployment with {"service", "namespace", "deployment_id", "status": "failed" | '
                '"rolled_back", "version", "at"}: starts one triage investigation of the failed deployment.'
            ),
            tags=("deployments", "webhook", "ci"),
        ),
    ),
)
