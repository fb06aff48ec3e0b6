"""An agent's MCP sessions, a few per server, kept open across its investigations: `SessionPool`.

    pool = SessionPool(tokens=tokens, http=http, registry_url=registry_url, urls=urls)
    held = await pool.session("prometheus-mcp")        # opened at first use, shared afterwards
    result = await held.client.call_tool(...)
    ...
    await pool.aclose()                                 # when the agent stops

Opening a Streamable HTTP session costs a token, a discovery round trip and a tool listing; an
agent that opened its sessions per investigation paid that each time. A server's sessions (a few,
`sessions_per_server`, used in turn: one client session reads every answer through one stream,
which concurrent investigations would queue on) are opened at first use (the URL from `urls`, else
the registry, looked up again at each opening: a restarted server may have moved), then used by
every investigation, concurrently, until lost or until the pool closes.

A session is lost when its transport fails (the server died, refused the connection, or stopped
answering) or when the server no longer knows it (HTTP 404 for its session id, the Streamable HTTP
spec's answer after a restart or an idle timeout); the next `session()` opens a fresh one (and
the server's other sessions are dropped with it, being as stale).
`unreached` tells a caller whose call failed whether the failure came before the server could have
run the tool (the connection was refused, or the session was unknown): only such a call is worth
sending again on the fresh session. A server that cannot be reached raises `BackendUnavailable`
with the reason, and is not tried again before a back-off (doubling from `retry_after_seconds` up
to MAX_RETRY_AFTER_SECONDS, reset by a success), so a dead server is not asked by every
investigation. A stateless server (no session id) works the same: it never answers 404, and a
restart only costs the connections.

Each session is held by a task of its own, which opens and closes it (anyio's cancel scopes require
one task to do both): a dead connection ends that task, never a caller. The holders are asyncio
tasks of the pool (the agents run on asyncio), so a session outlives the investigation that opened
it; `aclose` ends them all, each telling its server the session ended.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import MCP_SESSION_ID, streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from common.auth import TokenSource
from common.errors import BackendError, BackendUnavailable
from common.redaction import redact
from common.registration import registered_url
from common.task_groups import first_error
from common.tls import default_context

__all__ = ["MAX_RETRY_AFTER_SECONDS", "RETRY_AFTER_SECONDS", "SessionPool", "unavailable_reason"]

logger = logging.getLogger(__name__)

#: How long a server that could not be reached is left alone before it is tried again, at first.
RETRY_AFTER_SECONDS = 1.0
#: The longest back-off: a server down for long is still tried this often.
MAX_RETRY_AFTER_SECONDS = 30.0
#: Sessions opened on each server, used in turn by the calls.
SESSIONS_PER_SERVER = 4
#: HTTP connections a session keeps open to its server, all reused: the investigations sharing it send
#: dozens of calls at once, and a pool keeping fewer than it opens would close and reconnect at every burst.
MAX_CONNECTIONS = 64
#: How long closing waits for a session to tell its server it ended.
_CLOSE_SECONDS = 5.0
#: How long a caller whose call saw the connection close waits to learn why the session ended.
_END_SECONDS = 5.0
_MAX_ERROR_TEXT = 500
#: What makes a server unavailable rather than the pool broken.
_UNAVAILABLE = (BackendError, OSError, MCPError, httpx2.HTTPError, TimeoutError)


def unavailable_reason(error: BaseException) -> str:
    """What went wrong, for people and logs: the first error of a group, redacted and bounded."""
    cause = first_error(error)
    return redact(str(cause) or type(cause).__name__)[:_MAX_ERROR_TEXT]


@dataclass(eq=False)
class HeldSession:
    """A session of the pool (`client`) and what its holder learned of it."""

    server: str
    url: str
    #: Which of the server's sessions this is.
    slot: int = 0
    opened: Client | None = None
    closing: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)
    #: Why the session ended before it was closed.
    cause: BaseException | None = None
    #: The server answered 404 to the session's id: it no longer knows the session.
    expired: bool = False
    #: A request of the session found no server to connect to.
    refused: bool = False

    @property
    def client(self) -> Client:
        if self.opened is None:
            raise RuntimeError(f"The session on {self.server} is not open yet.")
        return self.opened

    @property
    def lost(self) -> str | None:
        """Why the session ended on its own, if it did."""
        return None if self.cause is None else unavailable_reason(self.cause)

    @property
    def usable(self) -> bool:
        return self.opened is not None and not (
            self.expired or self.refused or self.closing.is_set() or self.ended.is_set()
        )


@dataclass
class _Down:
    reason: str
    until: float
    wait: float


class _Watched(httpx2.AsyncBaseTransport):
    """The session's HTTP transport, noting what tells a caller its request never reached the tool."""

    def __init__(self, held: HeldSession) -> None:
        self._held = held
        limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        self._inner = httpx2.AsyncHTTPTransport(verify=default_context(), limits=limits)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.ConnectError:
            self._held.refused = True
            raise
        if response.status_code == 404 and MCP_SESSION_ID in request.headers:
            self._held.expired = True
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class SessionPool:
    def __init__(
        self,
        *,
        tokens: TokenSource,
        http: httpx.AsyncClient,
        registry_url: str,
        urls: Mapping[str, str] | None = None,
        timeout_seconds: float = 30.0,
        retry_after_seconds: float = RETRY_AFTER_SECONDS,
        sessions_per_server: int = SESSIONS_PER_SERVER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout_seconds` bounds connecting to a server and opening a session (a call has its own deadline)."""
        self._tokens = tokens
        self._http = http
        self._registry_url = registry_url
        self._urls = dict(urls or {})
        self._timeout = timeout_seconds
        self._retry_after = retry_after_seconds
        self._per_server = sessions_per_server
        self._clock = clock
        self._held: dict[tuple[str, int], HeldSession] = {}
        self._next: dict[str, int] = {}
        self._down: dict[str, _Down] = {}
        self._locks: dict[tuple[str, int], anyio.Lock] = {}
        self._holders: set[asyncio.Task[None]] = set()
        self._closed = False
        #: Sessions opened so far, each server's first included.
        self.sessions_opened = 0

    async def session(self, server: str) -> HeldSession:
        """`server`'s open session, opened now if there is none; `BackendUnavailable` saying why it cannot be."""
        # The server's sessions are used in turn: one session's client funnels every answer through one
        # reader, which concurrent investigations would queue on.
        slot = self._next.get(server, 0)
        self._next[server] = (slot + 1) % self._per_server
        key = (server, slot)
        held = self._held.get(key)
        if held is not None and held.usable:
            return held
        async with self._locks.setdefault(key, anyio.Lock()):
            # Another caller may have opened it meanwhile: one opening per session at a time.
            held = self._held.get(key)
            if held is not None and held.usable:
                return held
            if held is not None:
                self._drop(held)
            if self._closed:
                raise BackendUnavailable(f"{server} is unavailable: the agent is stopping", backend=server)
            down = self._down.get(server)
            if down is not None and self._clock() < down.until:
                retry = down.until - self._clock()
                raise BackendUnavailable(
                    f"{server} is unavailable: {down.reason} (tried again in {retry:.0f}s at the earliest)",
                    backend=server,
                )
            try:
                held = await self._open(server, slot)
            except Exception as exc:
                if not isinstance(first_error(exc), _UNAVAILABLE):
                    raise
                reason = unavailable_reason(exc)
                wait = self._retry_after if down is None else min(2 * down.wait, MAX_RETRY_AFTER_SECONDS)
                self._down[server] = _Down(reason, self._clock() + wait, wait)
                # Its other sessions cannot be in better shape: the next callers wait for the back-off too.
                self._drop_all(server)
                logger.warning("MCP server %s is unavailable: %s", server, reason)
                raise BackendUnavailable(f"{server} is unavailable: {reason}", backend=server) from None
            self._down.pop(server, None)
            return held

    def reason(self, server: str) -> str | None:
        """Why `server` could not be reached the last time it was tried; None when it could."""
        down = self._down.get(server)
        return None if down is None else down.reason

    async def unreached(self, held: HeldSession, error: MCPError) -> bool:
        """Whether `error`, which a call on `held` raised, came before the server could have run the tool: the
        server did not know the session (HTTP 404) or could not be connected to. The session is then dropped,
        so that the next `session()` opens a fresh one."""
        if error.code == CONNECTION_CLOSED:
            # The call may hear of the end before the holder does: wait for it to learn why.
            with anyio.move_on_after(_END_SECONDS):
                await held.ended.wait()
        if held.expired or held.refused:
            # The server restarted or went: its other sessions are as stale as this one.
            self._drop(held)
            self._drop_all(held.server)
            return True
        return False

    async def aclose(self) -> None:
        """Close every session (each tells its server), and open none again."""
        self._closed = True
        held = list(self._held.values())
        for each in held:
            self._drop(each)
        with anyio.move_on_after(_CLOSE_SECONDS):
            for each in held:
                await each.ended.wait()
        for task in list(self._holders):
            task.cancel()

    async def _open(self, server: str, slot: int) -> HeldSession:
        url = self._urls.get(server) or await registered_url(
            "servers", server, tokens=self._tokens, http=self._http, registry_url=self._registry_url
        )
        held = HeldSession(server, url, slot)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        holder = asyncio.create_task(self._hold(held, started), name=f"mcp session {server}")
        self._holders.add(holder)
        holder.add_done_callback(self._holders.discard)
        # Shielded: a caller cancelled while the session opens leaves it to the holder, which keeps it.
        await asyncio.shield(started)
        return held

    async def _hold(self, held: HeldSession, started: asyncio.Future[None]) -> None:
        """Open `held`'s session and keep it until it is dropped; one that ends before is lost."""
        try:
            # Connecting and opening are bounded here; a call is bounded by its caller's deadline, which a read
            # timeout of the HTTP client must not cut shorter.
            client = httpx2.AsyncClient(
                auth=self._tokens.bearer_auth2(held.url),
                timeout=httpx2.Timeout(None, connect=self._timeout),
                transport=_Watched(held),
            )
            with anyio.CancelScope(deadline=anyio.current_time() + self._timeout) as opening:
                async with client, Client(streamable_http_client(held.url, http_client=client)) as session:
                    opening.deadline = math.inf
                    held.opened = session
                    self._held[held.server, held.slot] = held
                    self.sessions_opened += 1
                    started.set_result(None)
                    await held.closing.wait()
            if opening.cancelled_caught and not started.done():
                raise TimeoutError(f"{held.server} did not open a session within {self._timeout:g}s")
        except Exception as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                held.cause = exc
                logger.warning("The session on MCP server %s ended: %s", held.server, unavailable_reason(exc))
        finally:
            if self._held.get((held.server, held.slot)) is held:
                del self._held[held.server, held.slot]
            held.ended.set()
            if not started.done():
                started.cancel()

    def _drop_all(self, server: str) -> None:
        for held in [each for each in self._held.values() if each.server == server]:
            self._drop(held)

    def _drop(self, held: HeldSession) -> None:
        if self._held.get((held.server, held.slot)) is held:
            del self._held[held.server, held.slot]
        held.closing.set()
