"""What a pipeline agent's `run` works with: `Kit`, one per run.

    async with kit.toolbox(("prometheus-mcp", "loki-mcp")) as toolbox:   # the agent's own token per server
        answer = await PrometheusMcp(toolbox).query_range(query, start="now-1h")   # common.contracts
    answer = await kit.ask("triage-question", {"service": "checkout"}, progress=progress)
    if not answer.answered:                                                # never raised: degraded
        degraded.append(answer.reason)
    summary = await kit.narrate(result, progress)                          # None without a model

Everything is called with the agent's own identity (`common.agents.identity`), never with a
caller's token. The MCP sessions are the agent's `SessionPool` (`common.mcp.session_pool`), which
the kits of all its runs share: a server's session is opened by the first run that needs it and
kept for the next ones, reconnected when the server restarts. Without an identity, nothing fails:
every server and peer is reported unavailable with the sentence naming the variables to set, and
the agent's result says so (degraded).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from google.adk.models import BaseLlm
from google.adk.tools.mcp_tool import McpToolset

from common.agents.identity import AgentIdentity
from common.agents.model_stage import Prompts, mcp_toolsets, narrate
from common.agents.peers import PeerAnswer, Peers, Progress
from common.auth import TokenSource
from common.errors import BackendError, BackendUnavailable
from common.mcp.session_pool import SessionPool
from common.mcp.toolbox import Toolbox, pooled_toolbox
from common.registration import registered_url

__all__ = ["DEFAULT_DEADLINE_SECONDS", "DEFAULT_PEER_TIMEOUT_SECONDS", "Kit", "Progress"]

logger = logging.getLogger(__name__)

#: Of one MCP call, unless the agent says otherwise.
DEFAULT_DEADLINE_SECONDS = 20.0
#: Of one call to a peer agent that waits for no stream (starting a task, reading one).
DEFAULT_PEER_TIMEOUT_SECONDS = 10.0


class Kit:
    def __init__(
        self,
        *,
        name: str,
        identity: AgentIdentity | None,
        tokens: TokenSource | None,
        sessions: SessionPool | None,
        http: httpx.AsyncClient,
        own_url: str,
        no_identity: str,
        server_urls: Mapping[str, str],
        model: BaseLlm | str | None,
        prompts: Prompts,
    ) -> None:
        self.name = name
        #: The model of the model stage (`SRE_MODEL`); None: no model stage.
        self.model = model
        self._identity = identity
        self._tokens = tokens
        self._sessions = sessions
        self._http = http
        self._own_url = own_url
        self._no_identity = no_identity
        self._server_urls = server_urls
        self._prompts = prompts

    @asynccontextmanager
    async def toolbox(
        self, servers: Sequence[str], *, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    ) -> AsyncIterator[Toolbox]:
        """The pool's MCP sessions on `servers` (registry names, or the agent's `<PREFIX><SERVER>_URL`); one that cannot
        be opened is listed in `toolbox.unavailable` with the reason."""
        if self._sessions is None:
            yield Toolbox({}, dict.fromkeys(servers, self._no_identity), deadline_seconds)
            return
        async with pooled_toolbox(servers, self._sessions, deadline_seconds=deadline_seconds) as toolbox:
            yield toolbox

    def peers(self, *, timeout: float = DEFAULT_PEER_TIMEOUT_SECONDS) -> Peers:
        """The other agents, through the registry, called with the agent's own token; `BackendUnavailable` naming
        the variables to set when the agent has no identity."""
        if self._identity is None or self._tokens is None:
            raise BackendUnavailable(self._no_identity, backend="registry")
        return Peers(
            tokens=self._tokens,
            http=self._http,
            registry_url=self._identity.registry_url,
            own_name=self.name,
            own_url=self._own_url,
            timeout=timeout,
        )

    async def ask(self, skill: str, message: str | Mapping[str, Any], *, progress: Progress) -> PeerAnswer:
        """The answer of the agent with `skill` (its stages passed to `progress`); a failure is an answer that is not
        `answered`, with its reason, never an exception (`common.agents.peers`)."""
        try:
            peers = self.peers()
        except BackendUnavailable as exc:
            return PeerAnswer(skill, "unanswered", error=exc)
        return await peers.ask(skill, message, progress=progress)

    async def narrate(self, result: Mapping[str, Any], progress: Progress) -> str | None:
        """The model's summary of `result`; None without a model, or when the model failed (the result stands)."""
        if self.model is None:
            return None
        await progress("Writing the summary.")
        try:
            return await narrate(self.model, self._prompts.narrator, result)
        except Exception:  # a model failing must not cost the result
            logger.exception("The model stage of %s failed; the result goes without a narrative.", self.name)
            return None

    async def read_only_toolsets(self, servers: Sequence[str]) -> list[McpToolset]:
        """ADK toolsets of `servers`' read-only tools, for the follow-up model; none without an identity."""
        if self._identity is None or self._tokens is None:
            return []
        urls = {server: url for server, url in self._server_urls.items() if server in servers}
        for server in servers:
            if server in urls:
                continue
            try:
                urls[server] = await registered_url(
                    "servers", server, tokens=self._tokens, http=self._http, registry_url=self._identity.registry_url
                )
            except BackendError as exc:
                logger.warning("The follow-up of %s goes without %s: %s", self.name, server, exc)
        return mcp_toolsets(urls, self._tokens)
