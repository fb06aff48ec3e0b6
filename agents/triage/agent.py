"""The triage agent as an ADK custom agent: `root_agent`, for `sre serve triage` and `adk web agents`.

It runs the deterministic investigation (`investigation.investigate`) with no model. Each stage
is an event with its text (an A2A `working` status update when served), and the last event
carries the DiagnosticReport as JSON with its Markdown rendering (the A2A result artifact). A
request it cannot read is refused with an `INVALID_REQUEST` error event naming what to send.

MCP sessions are opened per investigation with the agent's own client credentials (`SRE_CLIENT_*`)
on the servers the registry names. Without credentials, as in an offline `adk web`, every source
is reported unavailable and the report says so.

In a conversation that already has a report, a message that is not a new request is a follow-up:
with a model configured (`SRE_MODEL`) the model answers it with the read-only MCP tools
(`conversation.follow_up`); without one, the same resource is investigated again. With a model,
each report also gets a narrative (`conversation.narrator`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.models import BaseLlm
from google.genai import types as genai
from pydantic import PrivateAttr

from agents.triage.conversation import follow_up, mcp_toolsets, narrate
from agents.triage.investigation import investigate, record
from agents.triage.request import InvestigationRequest, Subject, parse_request
from agents.triage.settings import SERVERS, TriageSettings
from common.agents.executor import INVALID_REQUEST
from common.auth import ClientCredentials, TokenSource
from common.diagnostic_report import DiagnosticReport
from common.errors import BackendError, InputError
from common.http import create_http_client
from common.investigation.signals import Signal, load_catalogue
from common.mcp.toolbox import Toolbox, mcp_toolbox
from common.registration import registered_url
from common.settings import SettingsSource

__all__ = ["TriageAgent", "root_agent"]

logger = logging.getLogger(__name__)

_NO_IDENTITY = "triage has no OAuth client (set SRE_CLIENT_ID and SRE_CLIENT_SECRET) to call the MCP servers"


LAST_REPORT = "last_report"


class TriageAgent(BaseAgent):
    settings: TriageSettings
    #: The model of the model stage; None: `settings.model` (a name), or no model stage at all.
    llm: BaseLlm | None = None
    _catalogue: tuple[Signal, ...] | None = PrivateAttr(default=None)
    _http: httpx.AsyncClient | None = PrivateAttr(default=None)
    _tokens: TokenSource | None = PrivateAttr(default=None)

    @classmethod
    def from_source(cls, source: SettingsSource) -> TriageAgent:
        return cls(
            name="triage",
            description="Investigates alerts, failed deployments and questions; answers with a DiagnosticReport.",
            settings=TriageSettings.from_source(source),
        )

    def catalogue(self) -> tuple[Signal, ...]:
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.settings.signals_file)
        return self._catalogue

    @property
    def model(self) -> BaseLlm | str | None:
        return self.llm or self.settings.model

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        content = ctx.user_content
        texts = [part.text for part in (content.parts or []) if part.text] if content is not None else []
        last_report: dict[str, Any] | None = ctx.session.state.get(LAST_REPORT)
        try:
            request = parse_request(texts)
        except InputError as exc:
            if last_report is None or not texts:
                yield self._refusal(ctx, str(exc))
                return
            request = None
        if last_report is not None and (request is None or _is_follow_up(request)):
            if self.model is not None:
                async for event in self._follow_up(ctx, last_report):
                    yield event
                return
            # No model to answer in words: look at the same resource again, now.
            scope = last_report["scope"]
            request = InvestigationRequest(
                trigger=parse_request([" ".join(texts)]).trigger,
                subjects=(Subject(scope["service"], scope.get("namespace")),),
            )
        assert request is not None
        # The investigation runs in its own task, which opens and closes the MCP sessions (their cancel
        # scopes must not span this generator's yields); its stages and results come back through a queue.
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        narrative: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        worker = asyncio.create_task(self._investigate(request, queue, narrative))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "stage":
                    yield self._event(ctx, [value])
                elif kind == "refused":
                    yield self._refusal(ctx, value)
                    return
                elif kind == "failed":
                    raise value
                elif kind == "report":
                    # The model stage (if any) runs here, in the agent's context; the worker records the result.
                    if self.model is not None:
                        yield self._event(ctx, ["Writing the summary."])
                    narrative.set_result(await self._narrative(value) if self.model is not None else None)
                else:
                    report: DiagnosticReport = value
                    break
        finally:
            if not worker.done():
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        result = report.model_dump(mode="json")
        # Session state changes travel with an event (the session service applies them).
        yield self._event(ctx, [json.dumps(result), report.to_markdown()], state={LAST_REPORT: result})

    async def _narrative(self, report: DiagnosticReport) -> str | None:
        assert self.model is not None
        try:
            return await narrate(self.model, report.model_dump(mode="json"))
        except Exception:  # a model failing must not cost the report
            logger.exception("The model stage failed; the report goes without a narrative.")
            return None

    async def _follow_up(self, ctx: InvocationContext, report: dict[str, Any]) -> AsyncGenerator[Event, None]:
        assert self.model is not None
        tokens = self._token_source()
        toolsets = mcp_toolsets(await self._server_urls(tokens), tokens) if tokens is not None else []
        try:
            async for event in follow_up(self.model, report, toolsets).run_async(ctx):
                yield event
        finally:
            for toolset in toolsets:
                await toolset.close()

    async def _server_urls(self, tokens: TokenSource) -> dict[str, str]:
        urls = self.settings.server_urls()
        for server in SERVERS:
            if server in urls:
                continue
            try:
                urls[server] = await registered_url(
                    "servers",
                    server,
                    tokens=tokens,
                    http=self._client(),
                    registry_url=self.settings.agent.serve.registry_url,
                )
            except BackendError as exc:
                logger.warning("The follow-up goes without %s: %s", server, exc)
        return urls

    def _refusal(self, ctx: InvocationContext, message: str) -> Event:
        return Event(
            author=self.name, invocation_id=ctx.invocation_id, error_code=INVALID_REQUEST, error_message=message
        )

    async def _investigate(
        self,
        request: InvestigationRequest,
        queue: asyncio.Queue[tuple[str, Any]],
        narrative: asyncio.Future[str | None],
    ) -> None:
        async def progress(text: str) -> None:
            await queue.put(("stage", text))

        try:
            async with self._toolbox() as toolbox:
                report = await investigate(
                    request, toolbox, self.catalogue(), self.settings.investigation, progress=progress
                )
                await queue.put(("report", report))
                report.narrative = await narrative
                if self.settings.record_analyses:
                    await progress("Recording the report in the control plane.")
                    recorded = await record(report, toolbox)
                    if recorded is not None:
                        report.analysis_url = recorded.get("url")
        except InputError as exc:
            await queue.put(("refused", str(exc)))
            return
        except Exception as exc:  # re-raised by the generator, which fails the task
            await queue.put(("failed", exc))
            return
        await queue.put(("done", report))

    @asynccontextmanager
    async def _toolbox(self) -> AsyncIterator[Toolbox]:
        deadline = self.settings.source_timeout_seconds
        tokens = self._token_source()
        if tokens is None:
            yield Toolbox({}, dict.fromkeys(SERVERS, _NO_IDENTITY), deadline)
            return
        async with mcp_toolbox(
            SERVERS,
            tokens=tokens,
            http=self._client(),
            registry_url=self.settings.agent.serve.registry_url,
            urls=self.settings.server_urls(),
            deadline_seconds=deadline,
        ) as toolbox:
            yield toolbox

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = create_http_client(timeout=10.0)
        return self._http

    def _token_source(self) -> TokenSource | None:
        if self._tokens is None:
            credentials = ClientCredentials.of_component(self.settings.agent.serve)
            if credentials is None:
                return None
            self._tokens = TokenSource(credentials, self._client())
        return self._tokens

    def _event(self, ctx: InvocationContext, texts: list[str], *, state: dict[str, Any] | None = None) -> Event:
        return Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=genai.Content(role="model", parts=[genai.Part(text=text) for text in texts]),
            actions=EventActions(state_delta=state or {}),
        )


def _is_follow_up(request: InvestigationRequest) -> bool:
    """A free-text question naming no resource explicitly: about the conversation's last report."""
    return request.trigger.kind == "question" and not request.subjects


root_agent = TriageAgent.from_source(SettingsSource.load())
