"""A busy peer (HTTP 429) keeps its card: a storm's deliveries meeting a full queue do not each fetch it again.

The peer here is a small real HTTP server: it serves an agent's card, issues tokens at its token
endpoint (the caller's `TokenSource` asks it), and answers every A2A call with 429 and
`Retry-After`, as an agent whose queue is full does. A peer that fails otherwise has its card
read again, since it may have changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from google.protobuf.json_format import MessageToDict
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import free_port

from common.agents import AgentCardSpec, SkillSpec
from common.agents.card import agent_card
from common.agents.peers import Peers
from common.auth import ClientCredentials, TokenSource
from common.errors import BackendError, BackendUnavailable
from common.http import create_http_client
from common.settings import ServeSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SPEC = AgentCardSpec(
    name="triage",
    description="Investigates alerts.",
    skills=(SkillSpec(id="investigate", name="Investigate", description="Investigates.", tags=("alert",)),),
)


@dataclass
class Peer:
    url: str
    answer: int = 429
    cards_read: int = 0
    calls: list[str] = field(default_factory=list)


@pytest.fixture
def peer() -> Iterator[Peer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    card = MessageToDict(agent_card(SPEC, ServeSettings(port=port, public_url=url)))
    served = Peer(url)

    async def get_card(request: Request) -> Response:
        served.cards_read += 1
        return JSONResponse(card)

    async def token(request: Request) -> Response:
        return JSONResponse({"access_token": "a-token", "token_type": "Bearer", "expires_in": 300})

    async def call(request: Request) -> Response:
        served.calls.append(request.url.path)
        return JSONResponse({"error": "queue_full"}, status_code=served.answer, headers={"Retry-After": "7"})

    app = Starlette(
        routes=[
            Route("/.well-known/agent-card.json", get_card, methods=["GET"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/{path:path}", call, methods=["POST"]),
        ]
    )
    with ServedApp(app, port=port):
        yield served


async def starts(peer: Peer, times: int) -> list[BackendError]:
    failures: list[BackendError] = []
    async with create_http_client(timeout=10.0) as http:
        credentials = ClientCredentials(
            token_url=f"{peer.url}/oauth/token", client_id="router", client_secret=SecretStr("secret")
        )
        peers = Peers(tokens=TokenSource(credentials, http), http=http, registry_url=peer.url, own_name="router")
        for _ in range(times):
            with pytest.raises(BackendError) as raised:
                await peers.start("triage", peer.url, {"alert": "HighErrorRate"})
            failures.append(raised.value)
    return failures


async def test_a_busy_peer_is_unavailable_with_its_retry_after_and_its_card_is_read_once(peer: Peer) -> None:
    failures = await starts(peer, 5)

    assert len(peer.calls) == 5
    assert all(isinstance(failure, BackendUnavailable) for failure in failures)
    assert [failure.retry_after_seconds for failure in failures if isinstance(failure, BackendUnavailable)] == [7] * 5
    assert peer.cards_read == 1


async def test_a_peer_failing_otherwise_has_its_card_read_again(peer: Peer) -> None:
    peer.answer = 500

    await starts(peer, 3)

    assert len(peer.calls) == 3
    assert peer.cards_read == 3
