"""The other agents as the router reaches them: listed by the registry, called over A2A with its own token.

Every call carries a token the router got for itself (client credentials, audience the peer's
URL, scope `agents:invoke`); nothing a caller sent the router is passed on. Whatever goes wrong
with a peer is a `BackendError` whose message names it and says what failed, ready to be shown
to the caller (checklist row 43): `BackendUnavailable` when it cannot be reached (refused, down,
answering 503), `BackendTimeout` when it does not answer within `timeout` (a call that waits for
no stream: starting a task, reading one), `BackendFailed` when it answers with an error
(`InternalError`, HTTP 5xx) or with something that is not A2A (garbage).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
from a2a.client import A2ACardResolver, Client
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types import AgentCard, GetTaskRequest, SendMessageRequest, StreamResponse, SubscribeToTaskRequest, Task
from a2a.utils.errors import A2AError, TaskNotFoundError, UnsupportedOperationError
from google.protobuf.json_format import ParseError  # type: ignore[import-untyped]
from pydantic import ValidationError

from agents.router.routing import PeerAgent
from common.agents.client import STREAM_READ_TIMEOUT, agent_client, data_message, find_agent
from common.auth import TokenSource
from common.errors import BackendError, BackendFailed, BackendTimeout, BackendUnavailable
from common.redaction import redact
from common.tls import default_context

__all__ = ["Peers", "peer_error"]

logger = logging.getLogger(__name__)

_PAGE = 500
#: How long a peer's card is used before it is read again (its own Cache-Control is not consulted).
CARD_TTL_SECONDS = 60.0
#: Characters of a peer's own error message passed on.
_MAX_MESSAGE = 300
#: Pages of the registry's agent list read at most (a router routes among tens of agents, not thousands).
_MAX_PAGES = 10


class Peers:
    def __init__(
        self,
        *,
        tokens: TokenSource,
        http: httpx.AsyncClient,
        registry_url: str,
        own_name: str,
        own_url: str,
        timeout: float = 10.0,
    ) -> None:
        self.tokens = tokens
        self.registry_url = registry_url.rstrip("/")
        self._http = http
        self._own = (own_name, own_url.rstrip("/"))
        self._timeout = timeout
        self._cards: dict[str, tuple[float, AgentCard]] = {}

    async def agents(self) -> list[PeerAgent]:
        """The registered agents but the router itself, by name."""
        agents: list[PeerAgent] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            params: dict[str, str | int] = {"limit": _PAGE} | ({"cursor": cursor} if cursor else {})
            body = await self._registry_get("/agents", params)
            for entry in body.get("agents", []):
                try:
                    agent = PeerAgent.model_validate(entry)
                except ValidationError:
                    logger.warning("Skipping a malformed registry entry %r", entry.get("name"))
                    continue
                if agent.name != self._own[0] and agent.url.rstrip("/") != self._own[1]:
                    agents.append(agent)
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return agents

    async def url_of(self, name: str) -> str:
        return await find_agent(name, tokens=self.tokens, http=self._http, registry_url=self.registry_url)

    async def start(self, name: str, url: str, payload: Mapping[str, Any], *, seconds: float | None = None) -> Task:
        """Send `payload` as one data part and return the task as soon as the peer created it (non-blocking send).

        `seconds` replaces the peer timeout for this call (a queued delivery, which nobody waits for).
        """
        request = data_message(payload)
        request.configuration.return_immediately = True
        with self._deadline(name, url, "start the task", seconds):
            async with self.client(name, url, streaming=False, seconds=seconds) as client:
                async for response in client.send_message(request):
                    if response.HasField("task"):
                        return response.task
        raise BackendFailed(f"the {name} agent at {url} answered without a task", backend=name)

    async def task(self, name: str, url: str, task_id: str) -> Task | None:
        """The task as the peer reports it now; None when it does not know it."""
        with self._deadline(name, url, "read the task"):
            async with self.client(name, url, streaming=False) as client:
                try:
                    return await client.get_task(GetTaskRequest(id=task_id))
                except TaskNotFoundError:
                    return None

    async def subscribe(self, name: str, url: str, task_id: str) -> AsyncIterator[StreamResponse]:
        """The running task's events (the task first); nothing when it has finished meanwhile."""
        async with self.client(name, url, streaming=True) as client:
            try:
                async for response in client.subscribe(SubscribeToTaskRequest(id=task_id)):
                    yield response
            except (TaskNotFoundError, UnsupportedOperationError):
                return  # finished (terminal tasks cannot be subscribed to) or gone: the caller reads it once more

    async def stream(self, name: str, url: str, request: SendMessageRequest) -> AsyncIterator[StreamResponse]:
        async with self.client(name, url, streaming=True) as client:
            async for response in client.send_message(request):
                yield response

    @asynccontextmanager
    async def client(
        self, name: str, url: str, *, streaming: bool, seconds: float | None = None
    ) -> AsyncIterator[Client]:
        """An A2A client of the peer `name` at `url`; whatever goes wrong becomes a `BackendError` naming it."""
        # Without a stream to wait for, a read waits no longer than a connect (or the call's own `seconds`).
        read_timeout = STREAM_READ_TIMEOUT if streaming else (seconds or self._timeout)
        try:
            card = await self._card(url)
            async with agent_client(
                url,
                self.tokens,
                streaming=streaming,
                connect_timeout=self._timeout,
                read_timeout=read_timeout,
                card=card,
            ) as client:
                yield client
        except (A2AError, httpx.HTTPError, ParseError) as exc:
            self._cards.pop(url, None)  # read it again next time: the peer may have changed
            raise peer_error(name, url, exc) from exc

    async def _card(self, url: str) -> AgentCard:
        """The peer's card, read at most every `CARD_TTL_SECONDS` (a storm of starts reads it once)."""
        cached = self._cards.get(url)
        if cached is not None and time.monotonic() - cached[0] < CARD_TTL_SECONDS:
            return cached[1]
        async with httpx.AsyncClient(timeout=self._timeout, verify=default_context()) as http:
            card = await A2ACardResolver(http, url).get_agent_card()
        self._cards[url] = (time.monotonic(), card)
        return card

    @contextmanager
    def _deadline(self, name: str, url: str, what: str, seconds: float | None = None) -> Iterator[None]:
        seconds = seconds or self._timeout
        try:
            with anyio.fail_after(seconds):
                yield
        except TimeoutError:
            raise BackendTimeout(
                f"the {name} agent at {url} did not {what} within {seconds:g} s", backend=name
            ) from None

    async def _registry_get(self, path: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        url = f"{self.registry_url}{path}"
        try:
            response = await self._http.get(
                url, params=dict(params), auth=self.tokens.bearer_auth(self.registry_url), timeout=self._timeout
            )
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"the registry at {self.registry_url} could not be reached ({type(exc).__name__})", backend="registry"
            ) from None
        if response.status_code != 200:
            raise BackendUnavailable(
                f"the registry at {self.registry_url} answered HTTP {response.status_code}", backend="registry"
            )
        body = response.json()
        return body if isinstance(body, dict) else {}


def peer_error(name: str, url: str, exc: Exception) -> BackendError:
    """What went wrong with the peer `name` at `url`, as the `BackendError` a caller is shown."""
    cause = exc.__cause__
    if isinstance(exc, A2AClientTimeoutError) or isinstance(cause, httpx.TimeoutException):
        return BackendTimeout(f"the {name} agent at {url} did not answer in time", backend=name)
    status = _http_status(exc)
    if isinstance(exc, httpx.TransportError) or isinstance(cause, httpx.TransportError) or status == 503:
        reached = f"answered HTTP {status}" if status else f"could not be reached ({type(cause or exc).__name__})"
        return BackendUnavailable(f"the {name} agent at {url} {reached}", backend=name, status_code=status)
    if status is not None:
        return BackendFailed(f"the {name} agent at {url} answered HTTP {status}", backend=name, status_code=status)
    if isinstance(exc, A2AError) and not isinstance(exc, A2AClientError):
        # An A2A error the peer answered (InternalError, InvalidParams...): its own words, bounded,
        # with whatever credentials a broken peer echoes (a DSN, a header) redacted.
        words = redact(exc.message[:_MAX_MESSAGE])
        return BackendFailed(
            f"the {name} agent at {url} answered an error ({type(exc).__name__}: {words})", backend=name
        )
    return BackendFailed(
        redact(f"the {name} agent at {url} answered something that is not A2A ({exc})"[:400]), backend=name
    )


def _http_status(exc: Exception) -> int | None:
    for error in (exc, exc.__cause__):
        if isinstance(error, httpx.HTTPStatusError):
            return error.response.status_code
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return status
    return None
