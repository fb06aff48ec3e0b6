"""The MCP servers an agent calls: found in the registry by name, each called with the agent's own token.

Agents reach servers only over MCP (DESIGN.md): a `Toolbox` calls tools on the servers of one
investigation, concurrently if need be, over sessions with a token whose audience is that server
(client credentials, never a token received). The sessions are an agent's `SessionPool`'s
(`common.mcp.session_pool`), kept open across investigations and shared by them: `pooled_toolbox`
takes them from the pool, `mcp_toolbox` opens a pool of its own for one block. A server that cannot
be found or reached does not fail the whole: it is listed in `Toolbox.unavailable` with the reason,
and calls to it raise `BackendUnavailable`, so an investigation can report it as degraded and go on;
the next call asks the pool again, which reconnects once the server is back (after a short back-off).
A call the server answers with an error raises `ToolCallError`, whose `kind` (`not_found`,
`forbidden`, ...) is what a caller decides by: the message is for people.

A server that dies or restarts while the toolbox is open does not fail the whole either. A call
that failed before the server could have run the tool (the connection was refused, or the server
no longer knew the session: HTTP 404) is sent once more on a fresh session; one that failed after
(the connection closed under it) raises `BackendUnavailable`, and the next call reconnects.

`typed=True` says the caller reads the result with the tool's result model (`common.contracts`),
which checks it: the SDK's own check of the structured result against the tool's JSON schema
(the most costly part of a call: it walks every point of a range) is then skipped, not paid twice.
An untyped call keeps it, and a result that fails it is `BackendFailed` naming the tool.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_PARAMS
from pydantic import ValidationError

from common.auth import TokenSource
from common.errors import BackendError, BackendFailed, BackendTimeout, BackendUnavailable, ErrorKind, ToolCallError
from common.mcp.session_pool import HeldSession, SessionPool
from common.mcp.tool_errors import tool_error_detail
from common.redaction import redact
from common.task_groups import task_group
from common.telemetry import span

__all__ = ["Toolbox", "mcp_toolbox", "pooled_toolbox"]

logger = logging.getLogger(__name__)

_MAX_ERROR_TEXT = 500


class Toolbox:
    def __init__(
        self,
        sessions: Mapping[str, Client],
        unavailable: Mapping[str, str],
        deadline_seconds: float,
        *,
        pool: SessionPool | None = None,
        pooled: Sequence[str] = (),
    ) -> None:
        """`sessions`: sessions the caller holds (a test's, in-process); `pool` and `pooled`: the pool the others
        come from, and the servers this toolbox may take from it."""
        self._sessions = dict(sessions)
        self._pool = pool
        self._pooled = frozenset(pooled)
        self._taken: dict[str, HeldSession] = {}
        #: Servers that could not be used, and why.
        self.unavailable = dict(unavailable)
        self.deadline_seconds = deadline_seconds

    @property
    def servers(self) -> list[str]:
        """The servers whose sessions are open."""
        return sorted({*self._sessions, *(server for server, held in self._taken.items() if held.usable)})

    async def call(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        deadline_seconds: float | None = None,
        typed: bool = False,
    ) -> dict[str, Any]:
        """The structured result of `tool` on `server`; a `BackendError` saying what failed otherwise
        (`ToolCallError` when the server answered the call with an error). `typed`: the caller checks the
        result with the tool's result model, so the SDK does not check it against the tool's JSON schema."""
        # A span per call names the server, the tool and how it ended (the MCP SDK's own `tools/call`
        # span inside it knows neither), never the arguments: a query can quote anything. A call to
        # an unavailable server is a span too, failing at once.
        with span(f"call_tool {tool}", server=server, tool=tool):
            deadline = deadline_seconds or self.deadline_seconds
            if self._pool is None or server not in self._pooled:
                return await self._call(server, self._held(server), tool, arguments, deadline, typed)
            held = await self._take(server)
            try:
                return await self._send(server, held.client, tool, arguments, deadline, typed)
            except MCPError as exc:
                if not await self._pool.unreached(held, exc):
                    raise self._failure(server, tool, exc, held) from None
            # The server never saw the call (it restarted, or was not there a moment ago): once more, afresh.
            held = await self._take(server)
            return await self._call(server, held.client, tool, arguments, deadline, typed, held)

    def _held(self, server: str) -> Client:
        session = self._sessions.get(server)
        if session is None:
            reason = self.unavailable.get(server, "it was not among the servers this toolbox opened")
            raise BackendUnavailable(f"{server} is unavailable: {reason}", backend=server)
        return session

    async def _take(self, server: str) -> HeldSession:
        """`server`'s session from the pool, reconnecting if it was lost; its reason noted if it cannot be had."""
        assert self._pool is not None
        try:
            held = await self._pool.session(server)
        except BackendUnavailable as exc:
            self.unavailable[server] = self._pool.reason(server) or str(exc)
            raise
        self._taken[server] = held
        return held

    async def _call(
        self,
        server: str,
        session: Client,
        tool: str,
        arguments: Mapping[str, Any],
        deadline: float,
        typed: bool,
        held: HeldSession | None = None,
    ) -> dict[str, Any]:
        try:
            return await self._send(server, session, tool, arguments, deadline, typed)
        except MCPError as exc:
            raise self._failure(server, tool, exc, held) from None

    async def _send(
        self, server: str, session: Client, tool: str, arguments: Mapping[str, Any], deadline: float, typed: bool
    ) -> dict[str, Any]:
        try:
            with anyio.fail_after(deadline):
                if typed:
                    # The SDK's `call_tool` without its JSON-schema check of the structured result (nor the
                    # tool listing it fetches for it): the caller's result model checks it.
                    request = types.CallToolRequest(
                        params=types.CallToolRequestParams(name=tool, arguments=dict(arguments))
                    )
                    result = await session.session.send_request(request, types.CallToolResult)
                else:
                    result = await session.call_tool(tool, dict(arguments))
        except TimeoutError:
            raise BackendTimeout(f"{server} did not answer {tool} within {deadline:g}s.", backend=server) from None
        except (ValidationError, RuntimeError) as exc:
            # The answer is not a tool result of the protocol (pydantic), or its structured content does not
            # fit the tool's output schema (the SDK's check of an untyped call).
            problem = redact(str(exc).replace("\n", " "))[:_MAX_ERROR_TEXT]
            raise BackendFailed(
                f"{server}.{tool} answered a result that does not fit: {problem}", backend=server
            ) from None
        if result.is_error:
            detail = tool_error_detail(result)
            raise ToolCallError(
                f"{server}.{tool} failed: {redact(detail.message)[:_MAX_ERROR_TEXT]}",
                backend=server,
                tool=tool,
                kind=detail.kind,
            )
        return dict(result.structured_content or {})

    def _failure(self, server: str, tool: str, exc: MCPError, held: HeldSession | None) -> BackendError:
        """The error of a call that `exc` failed; a server whose session ended under the call is noted unavailable."""
        if exc.code == CONNECTION_CLOSED:
            # The session ended under the call (its server died): the task that held it knows why, maybe only
            # after this call heard of it (the pool waits for it to, `SessionPool.unreached`).
            lost = held.lost if held is not None else None
            reason = f"its session ended: {lost}" if lost else self.unavailable.get(server, "its connection closed")
            self.unavailable[server] = reason
            return BackendUnavailable(f"{server} is unavailable: {reason}", backend=server)
        # -32602: the server refused the call before running the tool (an unknown tool, arguments its schema
        # refuses); any other protocol error is the server failing to answer.
        kind: ErrorKind = "invalid_argument" if exc.code == INVALID_PARAMS else "backend_unavailable"
        return ToolCallError(
            f"{server} refused {tool}: {redact(str(exc))[:_MAX_ERROR_TEXT]}", backend=server, tool=tool, kind=kind
        )


@asynccontextmanager
async def pooled_toolbox(
    servers: Sequence[str], pool: SessionPool, *, deadline_seconds: float = 30.0
) -> AsyncIterator[Toolbox]:
    """A toolbox on `servers`' sessions in `pool`, opened concurrently where they are not open yet; one that
    cannot be had is listed in `unavailable` (its calls ask the pool again)."""
    toolbox = Toolbox({}, {}, deadline_seconds, pool=pool, pooled=servers)

    async def take(server: str) -> None:
        with suppress(BackendUnavailable):  # noted in `unavailable`
            await toolbox._take(server)

    async with task_group() as group:
        for server in servers:
            group.start_soon(take, server)
    yield toolbox


@asynccontextmanager
async def mcp_toolbox(
    servers: Sequence[str],
    *,
    tokens: TokenSource,
    http: httpx.AsyncClient,
    registry_url: str,
    urls: Mapping[str, str] | None = None,
    deadline_seconds: float = 30.0,
) -> AsyncIterator[Toolbox]:
    """Sessions on `servers`, for this block only: their URLs from `urls` when given there, else from the registry."""
    pool = SessionPool(tokens=tokens, http=http, registry_url=registry_url, urls=urls, timeout_seconds=deadline_seconds)
    try:
        async with pooled_toolbox(servers, pool, deadline_seconds=deadline_seconds) as toolbox:
            yield toolbox
    finally:
        await pool.aclose()
