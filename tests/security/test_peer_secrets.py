"""Security checklist row 36 on the router as served: a secret in a peer agent's error is redacted in
what the router answers, in the task it records and in its log.

A misbehaving peer is registered in the router's federation (`router_federation`): it serves a
valid agent card with one skill of its own, and answers every A2A call with a JSON-RPC error
whose message echoes credentials, as a peer with a broken database driver might. A question for
that skill goes through the router's REST facade and its A2A endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.server.routes import create_agent_card_routes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import free_port
from support.router_federation import Federation, federation

from common.agents import AgentCardSpec, SkillSpec
from common.agents.card import agent_card
from common.settings import AuthConfig, ServeSettings

pytestmark = pytest.mark.integration

PASSWORD = "hunter2-peer-password"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLWxlYWs"
ECHO = f"database unreachable: postgresql://svc:{PASSWORD}@db/app; retried with Authorization: Bearer {TOKEN}"
SPEC = AgentCardSpec(
    name="ledger",
    description="Reconciles the payment ledger.",
    skills=(
        SkillSpec(
            id="ledger-reconcile",
            name="Reconcile the ledger",
            description="Reconciles ledger balances.",
            tags=("ledger", "reconcile"),
            examples=("Reconcile the ledger",),
        ),
    ),
)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with federation(tmp_path_factory.mktemp("router-federation")) as started:
        port = free_port()
        serve = ServeSettings(
            port=port,
            registry_url=started.registry.url,
            auth=AuthConfig(issuer=started.registry.url, jwks_url=f"{started.registry.url}/jwks.json"),
        )

        async def failing(request: Request) -> Response:
            body = await request.json()
            error = {"code": -32603, "message": ECHO}
            return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "error": error})

        app = Starlette(
            routes=[*create_agent_card_routes(agent_card(SPEC, serve)), Route("/", failing, methods=["POST"])]
        )
        with ServedApp(app, port=port):
            started.register(SPEC, serve.base_url)
            yield started


def assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert TOKEN not in text


def settled(fed: Federation, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    return fed.wait_for_end(task_id, timeout)


def test_row_36_a_secret_in_a_peer_agents_error_is_redacted_in_the_answer_the_task_and_the_log(
    fed: Federation,
) -> None:
    response = fed.post("/execute", {"user_query": "Reconcile the ledger"})
    answers = [response.text]
    if response.status_code == 202:
        (task,) = response.json()["tasks"]
        assert task["agent"] == "ledger", task
        answers.append(httpx.Response(200, json=settled(fed, task["id"])).text)
    a2a = fed.post(
        "/",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"role": "ROLE_USER", "messageId": "m-36", "parts": [{"text": "reconcile ledger"}]}},
        },
        headers={**fed.headers(), "A2A-Version": "1.0"},
    )
    answers.append(a2a.text)

    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text
    assert "ledger" in " ".join(answers)
    for text in (*answers, fed.router.log_text()):
        assert_no_secret(text)
