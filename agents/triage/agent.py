"""The triage agent as an ADK custom agent: `root_agent`, for `sre serve triage` and `adk web agents`.

It runs the deterministic investigation (`investigation.investigate`) with no model. Each stage
is an event with its text (an A2A `working` status update when served), and the last event
carries the DiagnosticReport as JSON with its Markdown rendering (the A2A result artifact). A
request it cannot read is refused with an `INVALID_REQUEST` error event naming what to send.

MCP sessions are opened per investigation with the agent's own client credentials (`SRE_CLIENT_*`)
on the servers the registry names. Without credentials, as in an offline `adk web`, every source
is reported unavailable and the report says so.
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
from google.adk.events import Event
from google.genai import types as genai
from pydantic import PrivateAttr

from agents.triage.investigation import investigate, record
from agents.triage.request import InvestigationRequest, parse_request
from agents.triage.settings import SERVERS, TriageSettings
from agents.triage.signals import Signal, load_catalogue
from common.agents.executor import INVALID_REQUEST
from common.auth import ClientCredentials, TokenSource
from common.diagnostic_report import DiagnosticReport
from common.errors import InputError
from common.http import create_http_client
from common.mcp_toolbox import Toolbox, mcp_toolbox
from common.settings import SettingsSource

__all__ = ["TriageAgent", "root_agent"]

logger = logging.getLogger(__name__)

_NO_IDENTITY = "triage has no OAuth client (set SRE_CLIENT_ID and SRE_CLIENT_SECRET) to call the MCP servers"


class TriageAgent(BaseAgent):
    settings: TriageSettings
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

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        content = ctx.user_content
        texts = [part.text for part in (content.parts or []) if part.text] if content is not None else []
        try:
            request = parse_request(texts)
        except InputError as exc:
            yield Event(
                author=self.name, invocation_id=ctx.invocation_id, error_code=INVALID_REQUEST, error_message=str(exc)
            )
            return
        # The investigation runs in its own task, which opens and closes the MCP sessions (their cancel
        # scopes must not span this generator's yields); its stages and result come back through a queue.
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        worker = asyncio.create_task(self._investigate(request, queue))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "stage":
                    yield self._event(ctx, [value])
                elif kind == "refused":
                    yield Event(
                        author=self.name,
                        invocation_id=ctx.invocation_id,
                        error_code=INVALID_REQUEST,
                        error_message=value,
                    )
                    return
                else:
                    report: DiagnosticReport = value
                    ctx.session.state["last_report"] = report.model_dump(mode="json")
                    yield self._event(ctx, [json.dumps(report.model_dump(mode="json")), report.to_markdown()])
                    return
        finally:
            if not worker.done():
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def _investigate(self, request: InvestigationRequest, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        async def progress(text: str) -> None:
            await queue.put(("stage", text))

        try:
            async with self._toolbox() as toolbox:
                report = await investigate(
                    request, toolbox, self.catalogue(), self.settings.investigation, progress=progress
                )
                if self.settings.record_analyses:
                    await progress("Recording the report in the control plane.")
                    recorded = await record(report, toolbox)
                    if recorded is not None:
                        report.analysis_url = recorded.get("url")
        except InputError as exc:
            await queue.put(("refused", str(exc)))
            return
        await queue.put(("report", report))

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

    def _event(self, ctx: InvocationContext, texts: list[str]) -> Event:
        return Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=genai.Content(role="model", parts=[genai.Part(text=text) for text in texts]),
        )


root_agent = TriageAgent.from_source(SettingsSource.load())
