"""Asking another agent: found in the registry by skill, called over A2A with the caller's own token.

    peers = Peers(tokens=tokens, http=http, registry_url=registry_url, own_name="postmortem")
    answer = await peers.ask("triage-investigate", {"service": "checkout"}, progress=say)
    if answer.answered:
        report = answer.data  # and answer.markdown
    else:
        degraded.append(answer.reason)  # "the triage agent at http://... did not answer in time"

`ask` never raises for what a peer or the registry does: no agent with the skill, a registry or
a peer that cannot be reached, times out, answers garbage or fails its task, a task that waits
for input: each is an answer that is not `answered`, whose `reason` says why in a sentence fit
to show (the peer's own words bounded and redacted) and whose `error` is the `BackendError`
(its `kind`: `backend_unavailable`, `timeout`...) when it failed. The peer's working stages are
passed to `progress` as they come, each once.

Every call carries a token the caller got for itself (client credentials, audience the peer's
URL, scope `agents:invoke`); nothing the caller received is passed on. The lower-level calls
(`start`, `task`, `subscribe`, `stream`) raise their failure as the `BackendError` `peer_error`
makes of it: `BackendUnavailable` when the peer cannot be reached (refused, down, answering
503), `BackendTimeout` when it does not answer within `timeout` (a call that waits for no
stream: starting a task, reading one), `BackendFailed` when it answers with an error
(`InternalError`, HTTP 5xx) or with something that is not A2A (garbage). A peer whose queue is
full answers HTTP 429: `BackendUnavailable` with the `retry_after_seconds` of its `Retry-After`,
so the caller sends the request again later rather than giving it up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from a2a.client import A2ACardResolver, Client
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types import (
    AgentCard,
    GetTaskRequest,
    ListTasksRequest,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import A2AError, TaskNotFoundError, UnsupportedOperationError
from google.protobuf.json_format import ParseError  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.agents.client import STREAM_READ_TIMEOUT, agent_client, data_message, find_agent, result_of, text_message
from common.auth import TokenSource
from common.errors import BackendError, BackendFailed, BackendTimeout, BackendUnavailable
from common.redaction import redact
from common.tls import default_context

__all__ = [
    "TERMINAL",
    "PeerAgent",
    "PeerAnswer",
    "PeerSkill",
    "Peers",
    "peer_error",
    "status_text",
    "task_state_name",
]

logger = logging.getLogger(__name__)

_PAGE = 500
#: Tasks of one context listed at most (a queued delivery's context holds one).
_CONTEXT_PAGE = 10
#: How long a peer's card is used before it is read again (its own Cache-Control is not consulted).
CARD_TTL_SECONDS = 60.0
#: Characters of a peer's own error message passed on.
_MAX_MESSAGE = 300
#: Pages of the registry's agent list read at most (an agent asks among tens of agents, not thousands).
_MAX_PAGES = 10

#: States after which a task changes no more, or waits for its caller.
TERMINAL = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
        TaskState.TASK_STATE_INPUT_REQUIRED,
        TaskState.TASK_STATE_AUTH_REQUIRED,
    }
)
_WAITING = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED})

Progress = Callable[[str], Awaitable[None]]


class PeerSkill(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class PeerAgent(BaseModel):
    """An agent as the registry lists it (`GET /agents`): where it is and its card's skills."""

    model_config = ConfigDict(extra="ignore")

    name: str
    url: str
    description: str = ""
    skills: list[PeerSkill] = Field(default_factory=list)
    #: The registry reserves this name for the client that registered it: the operator vouches for it.
    reserved: bool = False


@dataclass(frozen=True)
class PeerAnswer:
    """What came of asking a peer: its result when `answered`, else why not (`reason`)."""

    #: The agent asked (the skill id asked for, when no agent has it).
    agent: str
    #: The A2A state its task ended in (`completed`, `input-required`, `failed`...), or `unanswered`
    #: when the call itself failed (see `error`).
    state: str
    data: dict[str, Any] | None = None
    markdown: str | None = None
    #: The peer's last status text: what it waits for, why it failed.
    message: str | None = None
    task_id: str = ""
    #: Why it failed, when it did: its `kind` for programs, its message for people.
    error: BackendError | None = None

    @property
    def answered(self) -> bool:
        return self.state == "completed"

    @property
    def reason(self) -> str:
        """Why there is no result, as a sentence to show; empty when answered."""
        if self.error is not None:
            return str(self.error)
        if self.answered:
            return ""
        return (
            f"{self.agent} is waiting ({self.state}): {self.message or 'no message'}. Continue with {self.agent} "
            f"directly, task {self.task_id}."
        )


class Peers:
    def __init__(
        self,
        *,
        tokens: TokenSource,
        http: httpx.AsyncClient,
        registry_url: str,
        own_name: str,
        own_url: str = "",
        timeout: float = 10.0,
    ) -> None:
        """`own_name` and `own_url` are the caller's registry entry, never a peer of its own."""
        self.tokens = tokens
        self.registry_url = registry_url.rstrip("/")
        self._http = http
        self._own = (own_name, own_url.rstrip("/"))
        self._timeout = timeout
        self._cards: dict[str, tuple[float, AgentCard]] = {}

    async def ask(self, skill: str, message: str | Mapping[str, Any], *, progress: Progress) -> PeerAnswer:
        """Ask the agent with the skill `skill` (reserved agents first, then by name); never raises (module doc)."""
        try:
            agents = await self.agents()
        except BackendError as exc:
            return PeerAnswer(skill, "unanswered", error=exc)
        # A reserved agent first: any client may register an agent with copied skills (see `PeerAgent.reserved`).
        having = sorted((agent for agent in agents if _has_skill(agent, skill)), key=lambda a: (not a.reserved, a.name))
        if not having:
            missing = f"no agent registered in the registry at {self.registry_url} has the skill {skill}"
            return PeerAnswer(skill, "unanswered", error=BackendUnavailable(missing, backend=skill))
        return await self.call(having[0], message, progress=progress)

    async def call(self, agent: PeerAgent, message: str | Mapping[str, Any], *, progress: Progress) -> PeerAnswer:
        """Send `message` (text, or a mapping as one data part) to `agent` and follow it to its end; never raises."""
        name, said, task = agent.name, set[str](), Task()
        request = text_message(message) if isinstance(message, str) else data_message(message)
        try:
            async for response in self.stream(name, agent.url, request):
                if response.HasField("task"):
                    task.CopyFrom(response.task)
                elif response.HasField("status_update"):
                    task.status.CopyFrom(response.status_update.status)
                    text = status_text(task.status)
                    if task.status.state == TaskState.TASK_STATE_WORKING and text and text not in said:
                        said.add(text)
                        await progress(text)
                elif response.HasField("artifact_update"):
                    task.artifacts.append(response.artifact_update.artifact)
                elif response.HasField("message"):  # a peer that answers without a task
                    reply = "\n\n".join(part.text for part in response.message.parts if part.text)
                    return PeerAnswer(name, "completed", markdown=reply or f"{name} answered without text.")
        except BackendError as exc:
            return PeerAnswer(name, "unanswered", task_id=task.id, error=exc)
        return _answer(name, task)

    async def agents(self) -> list[PeerAgent]:
        """The registered agents but the caller itself, as the registry lists them."""
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

    async def start(
        self,
        name: str,
        url: str,
        payload: Mapping[str, Any],
        *,
        seconds: float | None = None,
        context_id: str | None = None,
    ) -> Task:
        """Send `payload` as one data part and return the task as soon as the peer created it (non-blocking send).

        `seconds` replaces the peer timeout for this call (a queued delivery, which nobody waits for);
        `context_id` names the task's context (a queued delivery's own id, to find its task again).
        """
        request = data_message(payload, context_id=context_id)
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

    async def tasks_in_context(self, name: str, url: str, context_id: str) -> list[Task]:
        """The caller's tasks at the peer in the context `context_id` (A2A `ListTasks`), newest first."""
        with self._deadline(name, url, "list the tasks"):
            async with self.client(name, url, streaming=False) as client:
                listed = await client.list_tasks(ListTasksRequest(context_id=context_id, page_size=_CONTEXT_PAGE))
        return list(listed.tasks)

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
            failure = peer_error(name, url, exc)
            if failure.status_code != 429:
                # Read it again next time: the peer may have changed. Not when it is only busy: a storm's
                # deliveries meet its 429 by the hundred, and each would fetch (and log) the whole card again.
                self._cards.pop(url, None)
            raise failure from exc

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


def _has_skill(agent: PeerAgent, skill: str) -> bool:
    return any(declared.id.casefold() == skill.casefold() for declared in agent.skills)


def _answer(name: str, task: Task) -> PeerAnswer:
    """What the peer's task came to once its stream ended."""
    data, markdown = result_of(task)
    state, text = task.status.state, status_text(task.status)
    if state == TaskState.TASK_STATE_COMPLETED or state in _WAITING:
        return PeerAnswer(name, task_state_name(state), data, markdown, text, task.id)
    ended = task_state_name(state) if state in TERMINAL else "stopped without finishing"
    # The peer's own words, with whatever credentials a broken peer echoes redacted.
    failed = BackendFailed(redact(f"{name} {ended}: {text or 'no message'}"), backend=name)
    return PeerAnswer(name, task_state_name(state), data, markdown, text, task.id, failed)


def task_state_name(state: TaskState) -> str:
    """`TASK_STATE_INPUT_REQUIRED` -> `input-required` (an unspecified state reads as submitted)."""
    name = TaskState.Name(state).removeprefix("TASK_STATE_").lower().replace("_", "-")
    return "submitted" if name == "unspecified" else name


def status_text(status: TaskStatus) -> str | None:
    """The texts of a task status's message, or None when it has none."""
    if not status.HasField("message"):
        return None
    texts = [part.text for part in status.message.parts if part.WhichOneof("content") == "text" and part.text]
    return "\n\n".join(texts) or None


def peer_error(name: str, url: str, exc: Exception) -> BackendError:
    """What went wrong with the peer `name` at `url`, as the `BackendError` a caller is shown."""
    cause = exc.__cause__
    if isinstance(exc, A2AClientTimeoutError) or isinstance(cause, httpx.TimeoutException):
        return BackendTimeout(f"the {name} agent at {url} did not answer in time", backend=name)
    status = _http_status(exc)
    if status == 429:
        retry_after = _retry_after(exc)
        later = f"; retry in {retry_after:g} s" if retry_after is not None else ""
        return BackendUnavailable(
            f"the {name} agent at {url} is busy (HTTP 429: its queue is full){later}",
            backend=name,
            status_code=status,
            retry_after_seconds=retry_after,
        )
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


def _retry_after(exc: Exception) -> float | None:
    """The seconds of the peer's `Retry-After` (delay form; a date is not honoured), when it sent one."""
    for error in (exc, exc.__cause__):
        if isinstance(error, httpx.HTTPStatusError):
            value = error.response.headers.get("retry-after", "")
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if 0 <= seconds < 86_400 else None
    return None


def _http_status(exc: Exception) -> int | None:
    for error in (exc, exc.__cause__):
        if isinstance(error, httpx.HTTPStatusError):
            return error.response.status_code
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return status
    return None
