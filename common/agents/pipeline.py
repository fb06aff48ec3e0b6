"""The base of every agent here: `PipelineAgent`, an ADK custom agent that owns all but the agent's own logic.

A concrete agent supplies its card, its settings (a `PipelineSettings`, read through its
component record in `common.components`) and one method, `handle` (ADK's `BaseAgent.run` is
taken):

    class TriageAgent(PipelineAgent):
        card = CARD
        settings: TriageSettings

        async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
            await progress("Scoping ...")
            async with kit.toolbox(SERVERS) as toolbox:
                report = ...
            return AgentResult(report, report.to_markdown())

    root_agent = TriageAgent.from_source(SettingsSource.load())    # what `adk web agents` lists
    serve = TriageAgent.serve                                      # what `sre serve triage` runs

The base does the rest, the same way for every agent, in `adk web` and served over A2A:

- identity and tokens: the agent's own client (`common.agents.identity`), an HTTP client, the
  `Kit` handed to `handle` (MCP toolbox, model stage); the MCP sessions are kept across runs
  (`common.mcp.session_pool`) and closed by `close`, which serving calls when the agent stops;
- `handle` runs in a task of its own (the MCP sessions it opens have cancel scopes that must not
  span this generator's yields); its `progress` comes back through a queue, each stage an event
  with its text (an A2A `working` update); the run is an OpenTelemetry span `<agent>.run`, each
  stage a span `<agent>.stage` inside it (`sre.stage`: its text), the MCP tool calls' spans
  inside those, all of which `adk web`'s Traces tab shows under the invocation
  (`common.telemetry.invocation_span`);
- the result: its Markdown is the chat's answer; its JSON is the artifact `artifact_name`
  (`application/json`, announced in `actions.artifact_delta` by an event just before the
  Markdown's: `adk web` shows an event's artifact in place of its text) and the session state's
  `last_result` (the Markdown event's `state_delta`), from which `AdkAgentExecutor` builds the
  A2A `result` artifact;
- an `InputError` from `handle` refuses the request: an `INVALID_REQUEST` error event with its
  message; a `BackendError` (a peer or backend the agent cannot do without failed) is an
  `UPSTREAM_FAILED` error event with its message; anything else fails the run;
- follow-ups (`is_follow_up`): with a model (`SRE_MODEL`), an LLM agent answers with the last
  result and the read-only tools of `follow_up_servers` (`common.agents.model_stage`); without
  one, `answer_follow_up` answers from the last result where it can, and otherwise the reply says that
  free-form follow-ups need `SRE_MODEL` (never a silent re-run).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import httpx
from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.models import BaseLlm
from google.genai import types as genai
from pydantic import BaseModel, Field, PrivateAttr

from common.agents.card import AgentCardSpec
from common.agents.executor import INVALID_REQUEST, LAST_RESULT, UPSTREAM_FAILED
from common.agents.identity import AgentIdentity, agent_identity, missing_identity
from common.agents.kit import Kit, Progress
from common.agents.model_stage import Prompts, follow_up
from common.agents.serve import AgentSettings, serve_agent
from common.auth import TokenSource
from common.components import COMPONENTS
from common.errors import BackendError, ConfigError, InputError
from common.http import create_http_client
from common.mcp.session_pool import SessionPool
from common.settings import ComponentSettings, SettingsSource
from common.telemetry import invocation_span, span

__all__ = ["LAST_RESULT", "AgentRequest", "AgentResult", "PipelineAgent", "PipelineSettings", "Progress"]


@dataclass(frozen=True)
class AgentRequest:
    """The user's message (a data part arrives as its JSON text) and the conversation's last result, if any."""

    texts: tuple[str, ...]
    last_result: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "\n".join(text for text in self.texts if text.strip())


@dataclass(frozen=True)
class AgentResult:
    """The answer: `data`, the result as JSON (a model or a mapping), and its `markdown` for people. Without
    data it is a plain answer (nothing to investigate, say): the Markdown alone, and the last result stays."""

    data: BaseModel | Mapping[str, Any] | None
    markdown: str


class PipelineSettings(ComponentSettings):
    """What the base reads of every agent's settings; an agent's own settings add fields and name its component.

    `from_source` (`ComponentSettings`'s) reads the component's prefixed keys (`TRIAGE_LOOKBACK_SECONDS`) into
    those fields, refusing a key it does not know (a misspelt one), and the shared ones (`SRE_*`, `SRE_MODEL`,
    `<PREFIX>TASK_STORE_URL`...) into `agent` and `model`.
    """

    agent: AgentSettings
    model: str | None = Field(
        default=None, description="SRE_MODEL: adds a narrative and answers follow-ups; unset: no model stage."
    )

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        component = COMPONENTS[cls.component]
        for key in AgentSettings.PREFIXED_KEYS:
            section.pop(key, None)
        agent = AgentSettings.from_source(source, prefix=component.prefix, default_port=component.port)
        return {"agent": agent, "model": source.get("SRE_MODEL") or None}

    def server_urls(self) -> dict[str, str]:
        """MCP servers given by URL (`<PREFIX><SERVER>_URL`), which skip the registry; by default none."""
        return {}


_Message = tuple[Literal["stage", "refused", "upstream", "failed", "result"], Any]


class PipelineAgent(BaseAgent):
    card: ClassVar[AgentCardSpec]
    #: The name of the result's JSON artifact (`adk web`'s Artifacts tab; the A2A `result` artifact is built from it).
    artifact_name: ClassVar[str] = "report.json"
    prompts: ClassVar[Prompts] = Prompts()
    #: MCP servers whose read-only tools the follow-up model may call.
    follow_up_servers: ClassVar[tuple[str, ...]] = ()
    #: What a follow-up without a model can ask instead; said when `answer_follow_up` has none.
    follow_up_hint: ClassVar[str] = ""

    settings: PipelineSettings
    #: The model of the model stage; None: `settings.model` (a name), or no model stage at all.
    llm: BaseLlm | None = None
    _http: httpx.AsyncClient | None = PrivateAttr(default=None)
    _identity: AgentIdentity | None = PrivateAttr(default=None)
    _tokens: TokenSource | None = PrivateAttr(default=None)
    _sessions: SessionPool | None = PrivateAttr(default=None)

    @classmethod
    def from_source(cls, source: SettingsSource) -> Self:
        """The agent with the settings its component record reads from `source`."""
        settings = COMPONENTS[cls.card.name].load_settings(source)
        return cls(name=cls.card.name, description=cls.card.description, settings=settings)

    @classmethod
    async def serve(cls, transport: Literal["stdio", "http"], source: SettingsSource) -> None:
        """`sre serve <agent>`: over A2A, registered in the registry (the component record's entry point)."""
        if transport != "http":
            raise ConfigError(
                f"The {cls.card.name} agent is served over A2A (HTTP) only: run `sre serve {cls.card.name}`."
            )
        agent = cls.from_source(source)
        await serve_agent(agent, cls.card, agent.settings.agent, on_shutdown=[agent.close])

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        """The agent's own work; raise `InputError` to refuse the request (the message says what to send)."""
        raise NotImplementedError

    def is_follow_up(self, request: AgentRequest) -> bool:
        """Whether `request` (in a conversation with a last result) asks about that result rather than anew."""
        return False

    def answer_follow_up(self, question: str, last_result: dict[str, Any]) -> str | None:
        """A follow-up answered from the last result alone (no model); None: this one needs a model."""
        return None

    @property
    def model(self) -> BaseLlm | str | None:
        return self.llm or self.settings.model

    def kit(self) -> Kit:
        """The kit of one run, with the agent's identity, its tokens and its HTTP client (kept across runs)."""
        if self._http is None:
            self._http = create_http_client(timeout=10.0)
        if self._identity is None:
            # Looked for again on each run until found: `adk web` may have started before `make up`.
            self._identity = agent_identity(self.name, self.settings.agent)
            if self._identity is not None:
                self._tokens = TokenSource(self._identity.credentials, self._http)
        if self._identity is not None and self._tokens is not None and self._sessions is None:
            self._sessions = SessionPool(
                tokens=self._tokens,
                http=self._http,
                registry_url=self._identity.registry_url,
                urls=self.settings.server_urls(),
            )
        return Kit(
            name=self.name,
            identity=self._identity,
            tokens=self._tokens,
            sessions=self._sessions,
            http=self._http,
            own_url=self.settings.agent.serve.base_url,
            no_identity=missing_identity(self.name, self.settings.agent),
            server_urls=self.settings.server_urls(),
            model=self.model,
            prompts=self.prompts,
        )

    async def close(self) -> None:
        """Close the MCP sessions the runs kept open (each tells its server); a later run opens them again."""
        sessions, self._sessions = self._sessions, None
        if sessions is not None:
            await sessions.aclose()

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        content = ctx.user_content
        texts = tuple(part.text for part in (content.parts or []) if part.text) if content is not None else ()
        request = AgentRequest(texts, ctx.session.state.get(LAST_RESULT))
        kit = self.kit()
        if request.last_result is not None and request.text and self.is_follow_up(request):
            async for event in self._follow_up(ctx, kit, request, request.last_result):
                yield event
            return
        queue: asyncio.Queue[_Message] = asyncio.Queue()
        worker = asyncio.create_task(self._work(ctx.invocation_id, request, kit, queue))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "stage":
                    yield self._text(ctx, value)
                elif kind == "refused":
                    yield self._error(ctx, INVALID_REQUEST, value)
                    return
                elif kind == "upstream":
                    yield self._error(ctx, UPSTREAM_FAILED, value)
                    return
                elif kind == "failed":
                    raise value
                else:
                    result: AgentResult = value
                    break
        finally:
            if not worker.done():
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        for event in await self._result(ctx, result):
            yield event

    async def _work(self, invocation_id: str, request: AgentRequest, kit: Kit, queue: asyncio.Queue[_Message]) -> None:
        # Each stage is a span from its announcement to the next one (or the end of the run), inside the run's
        # span; all are entered and left in this task, in order.
        stage = ExitStack()

        async def progress(text: str) -> None:
            stage.close()
            stage.enter_context(span(f"{self.name}.stage", agent=self.name, stage=text))
            await queue.put(("stage", text))

        try:
            with invocation_span(f"{self.name}.run", invocation_id, agent=self.name), stage:
                result = await self.handle(request, kit, progress)
        except InputError as exc:
            await queue.put(("refused", str(exc)))
        except BackendError as exc:
            await queue.put(("upstream", str(exc)))
        except Exception as exc:  # re-raised by the generator, which fails the run
            await queue.put(("failed", exc))
        else:
            await queue.put(("result", result))

    async def _result(self, ctx: InvocationContext, result: AgentResult) -> list[Event]:
        if result.data is None:
            return [self._text(ctx, result.markdown)]
        data = result.data.model_dump(mode="json") if isinstance(result.data, BaseModel) else dict(result.data)
        # Session state and artifacts change with an event: the runner applies its actions. The artifact
        # has an event of its own, just before the Markdown's: `adk web` shows an event's artifact in
        # place of its text.
        events = []
        if ctx.artifact_service is not None:
            saved = EventActions()
            saved.artifact_delta[self.artifact_name] = await ctx.artifact_service.save_artifact(
                app_name=ctx.app_name,
                user_id=ctx.user_id,
                session_id=ctx.session.id,
                filename=self.artifact_name,
                artifact=genai.Part.from_bytes(
                    data=json.dumps(data, ensure_ascii=False).encode(), mime_type="application/json"
                ),
            )
            events.append(Event(author=self.name, invocation_id=ctx.invocation_id, actions=saved))
        events.append(self._text(ctx, result.markdown, actions=EventActions(state_delta={LAST_RESULT: data})))
        return events

    async def _follow_up(
        self, ctx: InvocationContext, kit: Kit, request: AgentRequest, last_result: dict[str, Any]
    ) -> AsyncGenerator[Event, None]:
        if kit.model is None:
            answer = self.answer_follow_up(request.text, last_result)
            yield self._text(ctx, answer or f"Free-form follow-ups need a model: set SRE_MODEL. {self.follow_up_hint}")
            return
        toolsets = await kit.read_only_toolsets(self.follow_up_servers)
        try:
            agent = follow_up(kit.model, self.prompts.follow_up, last_result, toolsets, name=self.name)
            async for event in agent.run_async(ctx):
                yield event
        finally:
            for toolset in toolsets:
                await toolset.close()

    def _text(self, ctx: InvocationContext, text: str, *, actions: EventActions | None = None) -> Event:
        return Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=genai.Content(role="model", parts=[genai.Part(text=text)]),
            actions=actions or EventActions(),
        )

    def _error(self, ctx: InvocationContext, code: str, message: str) -> Event:
        return Event(author=self.name, invocation_id=ctx.invocation_id, error_code=code, error_message=message)
