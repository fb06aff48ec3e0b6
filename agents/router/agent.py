"""The router's ADK agent, `root_agent`: the A2A `route` skill, with no model.

It reads the request (`routing.read_request`), lists the registered agents, picks a skill
(`routing.KeywordChooser`), sends the message to that agent over A2A with the router's own
token (a data part stays a data part), and re-tells the peer's progress as its own stages; the
peer's result becomes its result (a JSON text event, which `AdkAgentExecutor` turns into the
`result` artifact). No match: a plain answer listing the skills on offer. A peer that fails, or
a registry that cannot be reached, fails the run after a stage saying why.

`root_agent` imports and builds with no network and no settings, so `adk web agents` lists it;
served (`agents.router.__main__`) it gets its connections (`Peers`). Run by `adk web` without
them, it connects per run from the environment (`SRE_CLIENT_*`, `REGISTRY_URL`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.genai import types as genai
from pydantic import Field

from agents.router.card import SPEC
from agents.router.routing import KeywordChooser, Match, RouteRequest, SkillChooser, describe_skills, read_request
from agents.router.settings import RouterSettings
from common.agents.executor import UPSTREAM_FAILED
from common.agents.peers import Peers
from common.auth import ClientCredentials, TokenSource
from common.errors import BackendError, ConfigError
from common.http import create_http_client
from common.settings import SettingsSource

__all__ = ["RouterAgent", "create_agent", "root_agent"]

_FORMS = "Send a question, an Alertmanager webhook payload or a deployment event."


class RouterAgent(BaseAgent):
    peers: Peers | None = Field(default=None, exclude=True, description="Set when served; else built per run.")
    chooser: SkillChooser | None = Field(default=None, exclude=True, description="Default: KeywordChooser.")

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        parts = ctx.user_content.parts if ctx.user_content and ctx.user_content.parts else []
        texts = [part.text for part in parts if part.text]
        request = read_request(texts)
        if request.data is None and not request.text.strip():
            yield self._event(ctx, f"The message is empty. {_FORMS}")
            return
        try:
            async with self._connected() as (peers, chooser):
                agents = await peers.agents()
                match = await chooser.choose(request, agents)
                if match is None:
                    answer = f"No registered agent has a skill for this request. {_FORMS} Skills available:\n"
                    yield self._event(ctx, answer + describe_skills(agents))
                    return
                yield self._event(ctx, f"Routing to {match.agent.name} (skill {match.skill.id}).")
                async for event in self._forward(ctx, peers, match, request):
                    yield event
        except (BackendError, ConfigError) as exc:
            yield self._event(ctx, f"The request could not be routed: {exc}")
            yield self._failure(ctx, str(exc))

    async def _forward(
        self, ctx: InvocationContext, peers: Peers, match: Match, request: RouteRequest
    ) -> AsyncGenerator[Event, None]:
        name = match.agent.name
        stages: asyncio.Queue[str | None] = asyncio.Queue()
        # The peer's stages are told as they come, while the call runs beside this generator.
        call = asyncio.ensure_future(peers.call(match.agent, _message(request), progress=stages.put))
        call.add_done_callback(lambda _: stages.put_nowait(None))
        try:
            while (stage := await stages.get()) is not None:
                yield self._event(ctx, stage)
            answer = call.result()
        finally:
            call.cancel()
        if answer.answered:
            if answer.data is not None:
                markdown = [answer.markdown] if answer.markdown else []
                yield self._event(ctx, json.dumps(answer.data, ensure_ascii=False), *markdown)
            else:
                yield self._event(ctx, answer.markdown or f"{name} completed without a result.")
            return
        reason = answer.reason
        if answer.error is None:  # it waits for its caller, who continues with it directly
            waiting = {"agent": name, "task_id": answer.task_id, "state": answer.state, "message": answer.message}
            yield self._event(ctx, json.dumps(waiting, ensure_ascii=False), reason)
            return
        yield self._event(ctx, f"The request could not be routed: {reason}" if answer.state == "unanswered" else reason)
        yield self._failure(ctx, reason)

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[tuple[Peers, SkillChooser]]:
        if self.peers is not None:
            yield self.peers, self.chooser or KeywordChooser(triage_agent="triage")
            return
        settings = RouterSettings.from_source(SettingsSource.load())
        chooser = self.chooser or KeywordChooser(triage_agent=settings.triage_agent)
        credentials = ClientCredentials.of_component(settings.serve)
        if credentials is None:
            raise ConfigError(
                "the router has no OAuth client to call the registry and agents with: set SRE_CLIENT_ID and "
                "SRE_CLIENT_SECRET (a client with the agents:invoke scope)"
            )
        async with create_http_client(timeout=10.0) as http:
            yield connect(settings, TokenSource(credentials, http), http), chooser

    def _event(self, ctx: InvocationContext, *texts: str) -> Event:
        return Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=genai.Content(role="model", parts=[genai.Part(text=text) for text in texts]),
        )

    def _failure(self, ctx: InvocationContext, reason: str) -> Event:
        return Event(
            author=self.name, invocation_id=ctx.invocation_id, error_code=UPSTREAM_FAILED, error_message=reason
        )


def _message(request: RouteRequest) -> str | dict[str, Any]:
    """A data part stays a data part."""
    return request.data if request.data is not None else request.text


def connect(settings: RouterSettings, tokens: TokenSource, http: httpx.AsyncClient) -> Peers:
    """The router's connections to the registry and the agents, with its own tokens."""
    serve = settings.serve
    return Peers(
        tokens=tokens,
        http=http,
        registry_url=serve.registry_url,
        own_name=serve.name or SPEC.name,
        own_url=serve.base_url,
        timeout=settings.peer_timeout_seconds,
    )


def create_agent(peers: Peers | None = None, chooser: SkillChooser | None = None) -> RouterAgent:
    return RouterAgent(name=SPEC.name, description=SPEC.description, peers=peers, chooser=chooser)


root_agent = create_agent()
