"""The agent runtime: any ADK agent served over A2A 1.0 with auth, persistent tasks and registration.

    spec = AgentCardSpec(name="triage", description="...", skills=(SkillSpec(...),))
    app = a2a_app(agent=root_agent, card=spec, serve=serve, verifier=verifier, task_store_url=url)
    await serve_agent(root_agent, spec, AgentSettings.from_source(source, prefix="TRIAGE_", default_port=8721))

`card` builds the public Agent Card, `executor` maps ADK events to A2A task updates, `app`
composes the Starlette app and enforces the card's security, `serve` runs it.

An agent of this project is built on the kit instead, which does all of that for it:
`pipeline.PipelineAgent` (identity, stages, refusals, the result as Markdown and as an
artifact, follow-ups, serving), `kit.Kit` (the MCP toolbox, peers by skill, the model stage),
`identity` (its own client, from the environment or from what `sre up` provisioned), `peers`
(asking another agent) and `model_stage` (narrative and follow-ups with a model). A new agent
is a package (`card.py`, `settings.py` with a `PipelineSettings`, `agent.py` with its `handle`
and `root_agent`, `__main__.py` with `serve = <Agent>.serve`) and its record in
`common.components`.
"""

from common.agents.app import INTERRUPTED_MESSAGE, a2a_app, default_task_store_url
from common.agents.card import AGENTS_INVOKE, AgentCardSpec, SkillSpec, agent_card, registration
from common.agents.card_route import CARD_MAX_AGE_SECONDS
from common.agents.executor import INVALID_REQUEST, RESULT_ARTIFACT, AdkAgentExecutor
from common.agents.serve import AgentSettings, serve_agent

__all__ = [
    "AGENTS_INVOKE",
    "CARD_MAX_AGE_SECONDS",
    "INTERRUPTED_MESSAGE",
    "INVALID_REQUEST",
    "RESULT_ARTIFACT",
    "AdkAgentExecutor",
    "AgentCardSpec",
    "AgentSettings",
    "SkillSpec",
    "a2a_app",
    "agent_card",
    "default_task_store_url",
    "registration",
    "serve_agent",
]
