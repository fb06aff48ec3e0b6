"""Calling a peer agent over A2A with the caller's own token: `agent_client(url, tokens)`.

    async with agent_client(url, tokens) as client:
        async for response in client.send_message(data_message({"alerts": [...]})):
            ...
    data, markdown = result_of(task)

The token is the caller's (client credentials, audience the peer's URL, scope `agents:invoke`),
never one it received. The peer's card is read first, so the client speaks the transport the
card declares; `find_agent` turns a registry name into that URL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types import AgentCard, Message, Part, Role, SendMessageRequest, Task
from google.protobuf.json_format import MessageToDict, ParseDict  # type: ignore[import-untyped]
from google.protobuf.struct_pb2 import Value  # type: ignore[import-untyped]

from common.agents.executor import RESULT_ARTIFACT
from common.auth import TokenSource
from common.registration import registered_url
from common.scopes import AGENTS_INVOKE
from common.tls import default_context

__all__ = ["agent_client", "data_message", "find_agent", "result_of", "text_message"]

#: An investigation streams for a while: reads wait this long between events.
STREAM_READ_TIMEOUT = 300.0


@asynccontextmanager
async def agent_client(
    url: str,
    tokens: TokenSource,
    *,
    streaming: bool = True,
    connect_timeout: float = 10.0,
    read_timeout: float = STREAM_READ_TIMEOUT,
    card: AgentCard | None = None,
) -> AsyncIterator[Client]:
    """An a2a-sdk client of the agent at `url`, authenticated as the caller's own client.

    `card` is the agent's card when the caller has it already (read a moment ago); else it is read first.
    """
    http_timeout = httpx.Timeout(connect_timeout, read=read_timeout)
    auth = tokens.bearer_auth(url, [AGENTS_INVOKE])
    async with httpx.AsyncClient(auth=auth, timeout=http_timeout, verify=default_context()) as http:
        if card is None:
            card = await A2ACardResolver(http, url).get_agent_card()
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)
        try:
            yield client
        finally:
            await client.close()


async def find_agent(name: str, *, tokens: TokenSource, http: httpx.AsyncClient, registry_url: str) -> str:
    """The URL under which `name` registered; BackendUnavailable when it is not there."""
    return await registered_url("agents", name, tokens=tokens, http=http, registry_url=registry_url)


def data_message(data: Mapping[str, Any], *, context_id: str | None = None) -> SendMessageRequest:
    """A user message carrying `data` as one JSON data part."""
    part = Part(data=ParseDict(dict(data), Value()), media_type="application/json")
    return _request(part, context_id)


def text_message(text: str, *, context_id: str | None = None) -> SendMessageRequest:
    return _request(Part(text=text), context_id)


def _request(part: Part, context_id: str | None) -> SendMessageRequest:
    message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[part])
    if context_id:
        message.context_id = context_id
    return SendMessageRequest(message=message)


def result_of(task: Task) -> tuple[dict[str, Any] | None, str | None]:
    """The data and the Markdown of the task's result artifact, each None when absent."""
    data: dict[str, Any] | None = None
    markdown: str | None = None
    for artifact in task.artifacts:
        if artifact.name != RESULT_ARTIFACT:
            continue
        for part in artifact.parts:
            kind = part.WhichOneof("content")
            if kind == "data" and data is None:
                value = MessageToDict(part.data)
                data = value if isinstance(value, dict) else {"value": value}
            elif kind == "text" and part.media_type == "text/markdown" and markdown is None:
                markdown = part.text
            elif kind == "text" and data is None and part.media_type == "application/json":
                data = json.loads(part.text)
    return data, markdown
