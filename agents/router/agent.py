"""The router's agent, `root_agent`: the A2A `route` skill, with no model, on the agent kit.

It reads the request (`routing.read_request`), lists the registered agents, picks a skill
(`routing.KeywordChooser`), sends the message to that agent with the router's own token (a data
part stays a data part) and re-tells the peer's stages as its own (`common.agents.peers`); the
peer's result becomes its result. No match: a plain answer listing the skills on offer. A peer
that fails, or a registry that cannot be reached, fails the run after a stage saying why.

Identity, stages, the result artifact and A2A serving are the kit's (`common.agents.pipeline`);
`agents.router.__main__` serves it beside the webhooks and the REST facade.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.router.card import SPEC
from agents.router.routing import KeywordChooser, RouteRequest, SkillChooser, describe_skills, read_request
from agents.router.settings import RouterSettings
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent
from common.errors import BackendError
from common.settings import SettingsSource

__all__ = ["RouterAgent", "root_agent"]

_FORMS = "Send a question, an Alertmanager webhook payload or a deployment event."


class RouterAgent(PipelineAgent):
    card = SPEC

    settings: RouterSettings
    chooser: SkillChooser | None = Field(default=None, exclude=True, description="Default: KeywordChooser.")

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        route = read_request(request.texts)
        if route.data is None and not route.text.strip():
            return AgentResult(None, f"The message is empty. {_FORMS}")
        chooser = self.chooser or KeywordChooser(triage_agent=self.settings.triage_agent)
        try:
            peers = kit.peers(timeout=self.settings.peer_timeout_seconds)
            agents = await peers.agents()
        except BackendError as exc:
            await progress(f"The request could not be routed: {exc}")
            raise
        match = await chooser.choose(route, agents)
        if match is None:
            none = f"No registered agent has a skill for this request. {_FORMS} Skills available:\n"
            return AgentResult(None, none + describe_skills(agents))
        name = match.agent.name
        await progress(f"Routing to {name} (skill {match.skill.id}).")
        answer = await peers.call(match.agent, _message(route), progress=progress)
        if answer.answered:
            if answer.data is None:
                return AgentResult(None, answer.markdown or f"{name} completed without a result.")
            return AgentResult(answer.data, answer.markdown or "")  # no Markdown: the A2A result renders the JSON
        if answer.error is None:  # it waits for its caller, who continues with it directly
            waiting = {"agent": name, "task_id": answer.task_id, "state": answer.state, "message": answer.message}
            return AgentResult(waiting, answer.reason)
        await progress(
            f"The request could not be routed: {answer.reason}" if answer.state == "unanswered" else answer.reason
        )
        raise answer.error


def _message(request: RouteRequest) -> str | dict[str, Any]:
    """A data part stays a data part."""
    return request.data if request.data is not None else request.text


root_agent = RouterAgent.from_source(SettingsSource.load())
