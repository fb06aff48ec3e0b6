"""The MCP servers an agent calls: found in the registry by name, each called with the agent's own token.

Agents reach servers only over MCP (DESIGN.md): `mcp_toolbox(...)` opens one session per server
named, with a token whose audience is that server (client credentials, never a token received),
and `Toolbox.call` runs tools on them, concurrently if need be. A server that cannot be found or
reached does not fail the whole: it is listed in `Toolbox.unavailable` with the reason, and calls
to it raise `BackendUnavailable`, so an investigation can report it as degraded and go on. A call
the server answers with an error raises `ToolCallError`, whose `kind` (`not_found`, `forbidden`,
...) is what a caller decides by: the message is for people.

A server that dies while the toolbox is open does not fail the whole either: from then on it is
unavailable too, and its calls, those in flight included, raise `BackendUnavailable`. For that,
each session is held by a task of its own, which opens and closes it (anyio's cancel scopes require
one task to do both): a session's task group then wraps that task, never the caller's block, so a
dead connection ends its own task instead of cancelling the caller. Calls may come from any task.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
from anyio.abc import TaskStatus
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_PARAMS

from common.auth import TokenSource
from common.errors import BackendError, BackendTimeout, BackendUnavailable, ErrorKind, ToolCallError
from common.mcp.tool_errors import tool_error_detail
from common.redaction import redact
from common.registration import registered_url
from common.task_groups import first_error, unwrapped_errors
from common.telemetry import span
from common.tls import default_context

__all__ = ["Toolbox", "mcp_toolbox"]

logger = logging.getLogger(__name__)

_MAX_ERROR_TEXT = 500
#: What makes a server unavailable rather than the toolbox broken.
_UNAVAILABLE = (BackendError, OSError, MCPError, httpx2.HTTPError, TimeoutError)


class Toolbox:
    def __init__(self, sessions: Mapping[str, Client], unavailable: Mapping[str, str], deadline_seconds: float) -> None:
        self._sessions = dict(sessions)
        #: Servers that could not be used, and why.
        self.unavailable = dict(unavailable)
        self.deadline_seconds = deadline_seconds

    @property
    def servers(self) -> list[str]:
        """The servers whose sessions are open."""
        return sorted(self._sessions)

    def mark_unavailable(self, server: str, error: BaseException, *, lost: bool = False) -> None:
        """`server` cannot be used (`error` said why; `lost`: its session was open and ended): its calls
        raise `BackendUnavailable` saying so."""
        self._sessions.pop(server, None)
        cause = first_error(error)
        reason = redact(str(cause) or type(cause).__name__)[:_MAX_ERROR_TEXT]
        if lost:
            reason = f"its session ended: {reason}"
        logger.warning("MCP server %s is unavailable: %s", server, reason)
        self.unavailable[server] = reason

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, deadline_seconds: float | None = None
    ) -> dict[str, Any]:
        """The structured result of `tool` on `server`; a `BackendError` saying what failed otherwise
        (`ToolCallError` when the server answered the call with an error)."""
        # A span per call names the server, the tool and how it ended (the MCP SDK's own `tools/call`
        # span inside it knows neither), never the arguments: a query can quote anything. A call to
        # an unavailable server is a span too, failing at once.
        with span(f"call_tool {tool}", server=server, tool=tool):
            return await self._call(server, tool, arguments, deadline_seconds)

    async def _call(
        self, server: str, tool: str, arguments: Mapping[str, Any], deadline_seconds: float | None
    ) -> dict[str, Any]:
        session = self._sessions.get(server)
        if session is None:
            reason = self.unavailable.get(server, "it was not among the servers this toolbox opened")
            raise BackendUnavailable(f"{server} is unavailable: {reason}", backend=server)
        deadline = deadline_seconds or self.deadline_seconds
        try:
            with anyio.fail_after(deadline):
                result = await session.call_tool(tool, dict(arguments))
        except TimeoutError:
            raise BackendTimeout(f"{server} did not answer {tool} within {deadline:g}s.", backend=server) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                # The session ended under the call (its server died): the task that held it notes why,
                # maybe only after this call hears of it.
                reason = self.unavailable.get(server, "its connection closed")
                raise BackendUnavailable(f"{server} is unavailable: {reason}", backend=server) from None
            # -32602: the server refused the call before running the tool (an unknown tool, arguments
            # its schema refuses); any other protocol error is the server failing to answer.
            kind: ErrorKind = "invalid_argument" if exc.code == INVALID_PARAMS else "backend_unavailable"
            raise ToolCallError(
                f"{server} refused {tool}: {redact(str(exc))[:_MAX_ERROR_TEXT]}", backend=server, tool=tool, kind=kind
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
    """Sessions on `servers`: their URLs from `urls` when given there, else from the registry."""
    toolbox = Toolbox({}, {}, deadline_seconds)
    closing = anyio.Event()
    held: list[anyio.Event] = []
    # The caller's error (an InputError refusing the request) would leave the holders' task group
    # wrapped in an exception group: it leaves as raised.
    with unwrapped_errors():
        async with anyio.create_task_group() as holders:
            try:
                for server in servers:
                    try:
                        url = (urls or {}).get(server) or await registered_url(
                            "servers", server, tokens=tokens, http=http, registry_url=registry_url
                        )
                        ended = anyio.Event()
                        session = await holders.start(_hold_session, toolbox, server, url, tokens, closing, ended)
                        held.append(ended)
                        toolbox._sessions[server] = session
                    except Exception as exc:
                        # The session's task group wraps what went wrong (a refused token, a refused connection).
                        if not isinstance(first_error(exc), _UNAVAILABLE):
                            raise
                        toolbox.mark_unavailable(server, exc)
                yield toolbox
            finally:
                closing.set()
                # Each session closes as it would have without an error in the block (telling its server
                # it ended): the task group cancels its tasks when the block raised.
                for ended in held:
                    await ended.wait()


async def _hold_session(
    toolbox: Toolbox,
    server: str,
    url: str,
    tokens: TokenSource,
    closing: anyio.Event,
    ended: anyio.Event,
    *,
    task_status: TaskStatus[Client],
) -> None:
    """Open a session on `server` and hold it until `closing`; one that ends before makes it unavailable.

    An error opening it is raised to the caller of `start`, which decides whether it is the server's."""
    opened = False
    try:
        client = httpx2.AsyncClient(
            auth=tokens.bearer_auth2(url), timeout=toolbox.deadline_seconds, verify=default_context()
        )
        # No deadline around opening: the HTTP client's own timeout bounds the connect.
        async with client, Client(streamable_http_client(url, http_client=client)) as session:
            task_status.started(session)
            opened = True
            await closing.wait()
    except Exception as exc:
        if not opened:
            raise
        toolbox.mark_unavailable(server, exc, lost=True)
    finally:
        ended.set()
