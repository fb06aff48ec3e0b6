"""A peer agent that errors, answers garbage, is down or hangs: the router answers 502/503/504 naming it, never
500, where a caller waits for the agent (`/execute`, reading a task); a webhook delivery is answered 202 at once
and its task ends failed saying why; a task routed over A2A ends failed saying why (checklist row 43).

The peer is a small A2A impostor served here and registered as `flaky` (skill `flaky-probe`): its card is
real; what it answers to JSON-RPC is chosen by each test (`Peer.mode`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from a2a.types import SendMessageResponse, Task, TaskState, TaskStatus
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.router_federation import TRIAGE_SPEC, Federation, webhook_payload

from common.agents import AgentCardSpec, SkillSpec
from common.agents.card import agent_card
from common.agents.client import agent_client, text_message
from common.auth import ClientCredentials, TokenSource
from common.settings import ServeSettings

pytestmark = pytest.mark.integration

SPEC = AgentCardSpec(
    name="flaky",
    description="An agent that fails in the ways a test asks it to.",
    skills=(SkillSpec(id="flaky-probe", name="Probe", description="Answers probes.", tags=("probe",)),),
)
QUERY = {"user_query": "flaky-probe the widget"}
#: How long the hanging peer holds a request: past the router's peer timeout (conftest), short of forever.
HANG_SECONDS = 8.0
#: How long the slow peer takes to create a task: past the router's peer timeout, well within its delivery deadline.
SLOW_START_SECONDS = 6.0


@dataclass
class Peer:
    url: str
    mode: str = "ok"
    #: SendMessage calls received.
    sends: int = 0


def _peer_app(peer: Peer, card: dict[str, Any]) -> Starlette:
    async def card_route(request: Request) -> Response:
        return JSONResponse(card)

    async def rpc(request: Request) -> Response:
        body = await request.json()
        if body["method"] == "SendMessage":
            peer.sends += 1
            if peer.mode == "slow-start":
                await asyncio.sleep(SLOW_START_SECONDS)
        if peer.mode == "internal":
            error = {"code": -32603, "message": "the task store is corrupt"}
            return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "error": error})
        if peer.mode == "garbage":
            return PlainTextResponse("<html>503 Bad Gateway (nginx)</html>", media_type="text/html")
        if peer.mode == "http500":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if peer.mode == "hang":
            await asyncio.sleep(HANG_SECONDS)
        task = Task(
            id="peer-task-1", context_id="peer-context-1", status=TaskStatus(state=TaskState.TASK_STATE_WORKING)
        )
        result = (
            MessageToDict(SendMessageResponse(task=task)) if body["method"] == "SendMessage" else MessageToDict(task)
        )
        return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": result})

    return Starlette(
        routes=[
            Route("/.well-known/agent-card.json", card_route, methods=["GET"]),
            Route("/", rpc, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def peer(fed: Federation) -> Iterator[Peer]:
    served = ServedApp(_peer_app(Peer(""), {}))  # the port first: the card names the URL
    peer = Peer(served.url)
    card = MessageToDict(agent_card(SPEC, ServeSettings(port=served.port, public_url=peer.url)))
    served = ServedApp(_peer_app(peer, card), port=served.port)
    with served:
        fed.register(SPEC, peer.url)
        try:
            yield peer
        finally:
            fed.deregister(SPEC.name)


@pytest.mark.parametrize(
    ("mode", "status", "said"),
    [
        ("internal", 502, "answered an error (InternalError: the task store is corrupt)"),
        ("garbage", 502, "answered something that is not A2A"),
        ("http500", 502, "answered HTTP 500"),
        ("hang", 504, "did not start the task within"),
    ],
)
def test_a_peer_failing_to_start_a_task_is_a_gateway_error_naming_it(
    fed: Federation, peer: Peer, mode: str, status: int, said: str
) -> None:
    rows = fed.router_rows()
    peer.mode = mode
    try:
        response = fed.post("/execute", QUERY)
    finally:
        peer.mode = "ok"

    assert response.status_code == status, response.text
    described = response.json()["error_description"]
    assert f"flaky agent at {peer.url}" in described
    assert said in described
    assert fed.router_rows() == rows  # nothing recorded


def test_a_peer_that_is_down_is_503_with_retry_after(fed: Federation, peer: Peer) -> None:
    try:
        fed.register(SPEC, "http://127.0.0.1:9/")  # a port nothing listens on
        response = fed.post("/execute", QUERY)
    finally:
        fed.register(SPEC, peer.url)

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "30"
    assert "flaky agent at http://127.0.0.1:9" in response.json()["error_description"]


def test_reading_a_task_whose_peer_now_errors_is_502_naming_it(fed: Federation, peer: Peer) -> None:
    started = fed.post("/execute", QUERY)
    assert started.status_code == 202, started.text
    (task,) = started.json()["tasks"]
    assert fed.get(f"/tasks/{task['id']}").json()["state"] == "working"

    peer.mode = "internal"
    try:
        read = fed.get(f"/tasks/{task['id']}")
        streamed = fed.get(f"/tasks/{task['id']}/stream")
    finally:
        peer.mode = "ok"

    for response in (read, streamed):
        assert response.status_code == 502, response.text
        assert "flaky agent" in response.json()["error_description"]
        assert "the task store is corrupt" in response.json()["error_description"]


@pytest.mark.anyio
async def test_a_task_routed_over_a2a_to_an_erroring_peer_ends_failed_with_the_reason(
    fed: Federation, peer: Peer
) -> None:
    credentials = ClientCredentials.model_validate(
        {"token_url": f"{fed.registry.url}/oauth/token", "client_id": "caller", "client_secret": fed._secrets["caller"]}
    )
    peer.mode = "internal"
    try:
        async with (
            httpx.AsyncClient(timeout=10) as http,
            agent_client(fed.url, TokenSource(credentials, http)) as client,
        ):
            responses = [r async for r in client.send_message(text_message(f"flaky-probe {uuid.uuid4().hex}"))]
    finally:
        peer.mode = "ok"

    (status,) = [r.status_update.status for r in responses if r.HasField("status_update")][-1:]
    assert status.state == TaskState.TASK_STATE_FAILED
    reason = " ".join(part.text for part in status.message.parts)
    assert "flaky agent" in reason
    assert "the task store is corrupt" in reason


@contextmanager
def peer_as_triage(fed: Federation, peer: Peer, mode: str) -> Iterator[None]:
    """The registry's `triage` entry points at the peer, answering in `mode`, until the block ends."""
    peer.mode = mode
    fed.register(TRIAGE_SPEC, peer.url)
    try:
        yield
    finally:
        fed.register(TRIAGE_SPEC, fed.triage.url)
        peer.mode = "ok"


def new_group() -> str:
    return f'{{}}:{{alertname="HighErrorRate", run="{uuid.uuid4().hex}"}}'


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("internal", "answered an error (InternalError: the task store is corrupt)"),
        ("garbage", "answered something that is not A2A"),
        ("http500", "answered HTTP 500"),
    ],
)
def test_triage_failing_to_take_a_webhook_delivery_is_202_then_the_task_fails_naming_it(
    fed: Federation, peer: Peer, mode: str, said: str
) -> None:
    with peer_as_triage(fed, peer, mode):
        response = fed.post("/webhooks/alertmanager", webhook_payload(group_key=new_group()))
        assert response.status_code == 202, response.text
        (task,) = response.json()["tasks"]
        view = fed.wait_while_submitted(task["id"])

    assert view["state"] == "failed"
    assert f"The triage agent could not start the task: the triage agent at {peer.url}" in view["message"]
    assert said in view["message"]
    assert "Send the alert or event again" in view["message"]


def test_triage_slow_to_create_the_task_gets_the_webhook_answered_at_once_and_the_task_started_once(
    fed: Federation, peer: Peer
) -> None:
    payload = webhook_payload(group_key=new_group())
    with peer_as_triage(fed, peer, "slow-start"):
        sends = peer.sends
        began = time.monotonic()
        response = fed.post("/webhooks/alertmanager", payload)
        answered = time.monotonic() - began
        again = fed.post("/webhooks/alertmanager", payload)  # while triage is still creating it
        (task,) = response.json()["tasks"]
        waiting = fed.get(f"/tasks/{task['id']}").json()
        view = fed.wait_while_submitted(task["id"], timeout=SLOW_START_SECONDS + 20)

    assert response.status_code == 202, response.text
    assert answered < 4.0  # ROUTER_PEER_TIMEOUT_SECONDS (conftest): it used to be a 504 past it
    assert (again.status_code, again.json()["tasks"]) == (200, [task])
    assert waiting["state"] == "submitted"
    assert "Waiting for the triage agent" in waiting["message"]
    assert view["state"] == "working"  # the peer's task, read live from it
    assert peer.sends - sends == 1
