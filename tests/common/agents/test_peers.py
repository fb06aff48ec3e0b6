"""Asking another agent by skill (`common.agents.peers`, `Kit.ask`), over real A2A with real tokens.

The router's federation (`support.router_federation`: a registry with its authorization server,
stand-in agents, the router) gets three more agents served here, each behind a verifier that
keeps the claims of the tokens it accepted: `ledger` (a stand-in: one stage, then a JSON result
with its Markdown), `leaky` (fails its task with a message that echoes a password) and
`postmortem`, an agent on the kit with its own client, which asks the agent with the skill its
message names. Where no served agent asks, the asking agent is the client `caller`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.types import Task, TaskState
from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from mcp.server.auth.provider import AccessToken, TokenVerifier
from pydantic import SecretStr
from support.asgi_server import ServedApp
from support.backends import free_port
from support.router_federation import FAIL_WORD, STAGE, Federation, Gate, StandInAgent, federation
from support.stand_in_agent import stand_in_settings

from common.agents import AGENTS_INVOKE, AgentCardSpec, AgentSettings, SkillSpec, a2a_app, default_task_store_url
from common.agents.client import agent_client, result_of, text_message
from common.agents.executor import UPSTREAM_FAILED
from common.agents.kit import Kit, Progress
from common.agents.peers import PeerAnswer, Peers, status_text
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent, PipelineSettings
from common.auth import ClientCredentials, TokenSource
from common.auth.resource import resource_verifier
from common.errors import BackendError, BackendFailed, BackendUnavailable
from common.http import create_http_client
from common.redaction import REDACTED
from common.settings import AuthConfig, ClientIdentity, ServeSettings
from registry.clients import ClientStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

PASSWORD = "hunter2-ledger-password"
LEDGER = AgentCardSpec(
    name="ledger",
    description="Reconciles the payment ledger.",
    skills=(SkillSpec(id="ledger-reconcile", name="Reconcile", description="Reconciles balances.", tags=("ledger",)),),
)
ASKER = AgentCardSpec(
    name="postmortem",
    description="Drafts postmortems.",
    skills=(SkillSpec(id="postmortem-draft", name="Draft", description="Drafts a postmortem.", tags=("postmortem",)),),
)
LEAKY = AgentCardSpec(
    name="leaky",
    description="Fails, echoing its database's password.",
    skills=(SkillSpec(id="leaky-probe", name="Probe", description="Probes.", tags=("probe",)),),
)


@dataclass
class TokensSeen:
    """A peer's token verifier that keeps the claims of every token it accepted."""

    verifier: TokenVerifier
    claims: list[dict[str, Any]] = field(default_factory=list)

    async def verify_token(self, token: str) -> AccessToken | None:
        access = await self.verifier.verify_token(token)
        if access is not None:
            payload = token.split(".")[1]
            self.claims.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
        return access


class LeakyAgent(BaseAgent):
    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        failure = f"database unreachable: postgresql://svc:{PASSWORD}@db/app"
        yield Event(
            author=self.name, invocation_id=ctx.invocation_id, error_code=UPSTREAM_FAILED, error_message=failure
        )


class AskingAgent(PipelineAgent):
    """An agent on the kit that asks, for a postmortem, the agent with the skill its message names."""

    card = ASKER

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        answer = await kit.ask(request.text, {"question": "Reconcile for the postmortem"}, progress=progress)
        if not answer.answered:
            return AgentResult({"degraded": [answer.reason]}, f"Drafted without the ledger: {answer.reason}")
        return AgentResult({"ledger": answer.data}, f"Drafted with the ledger.\n\n{answer.markdown}")


@dataclass
class Peer:
    url: str
    tokens: TokensSeen


def settings(fed: Federation, identity: ClientIdentity | None = None) -> ServeSettings:
    registry = fed.registry.url
    return ServeSettings(port=free_port(), registry_url=registry, auth=AuthConfig(issuer=registry), identity=identity)


@contextmanager
def served(fed: Federation, spec: AgentCardSpec, agent: BaseAgent, serve: ServeSettings, data: Path) -> Iterator[Peer]:
    tokens = TokensSeen(resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)))
    store = default_task_store_url(data, spec.name)
    with ServedApp(
        a2a_app(agent=agent, card=spec, serve=serve, verifier=tokens, task_store_url=store), port=serve.port
    ):
        fed.register(spec, serve.base_url)
        yield Peer(serve.base_url, tokens)


@dataclass
class World:
    fed: Federation
    ledger: Peer
    leaky: Peer
    asker: Peer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("peers")
    with federation(root) as fed:
        # The asking agent's own client, added beside the federation's (the registry reads its clients file anew).
        secret = ClientStore(root / "registry" / "clients.toml").add_client(ASKER.name, [AGENTS_INVOKE])
        serve = settings(fed, ClientIdentity(id=ASKER.name, secret=SecretStr(secret)))
        asker = AskingAgent(name=ASKER.name, settings=PipelineSettings(agent=AgentSettings(serve=serve, data_dir=root)))
        with (
            served(
                fed,
                LEDGER,
                StandInAgent(name=LEDGER.name, settings=stand_in_settings(root), gate=Gate()),
                settings(fed),
                root,
            ) as ledger,
            served(fed, LEAKY, LeakyAgent(name=LEAKY.name), settings(fed), root) as leaky,
            served(fed, ASKER, asker, serve, root) as asking,
        ):
            yield World(fed, ledger, leaky, asking)


def caller(fed: Federation, http: httpx.AsyncClient) -> TokenSource:
    secret = fed._secrets["caller"]
    token_url = f"{fed.registry.url}/oauth/token"
    return TokenSource(ClientCredentials(token_url=token_url, client_id="caller", client_secret=secret), http)


async def ask(
    world: World, skill: str, message: str | dict[str, Any], registry_url: str = ""
) -> tuple[PeerAnswer, list[str]]:
    """What the client `caller`, as an agent, gets from asking for `skill`; the stages it was told."""
    stages: list[str] = []

    async def progress(text: str) -> None:
        stages.append(text)

    async with httpx.AsyncClient(timeout=10) as http:
        registry = registry_url or world.fed.registry.url
        peers = Peers(tokens=caller(world.fed, http), http=http, registry_url=registry, own_name="caller")
        answer = await peers.ask(skill, message, progress=progress)
    return answer, stages


async def a2a(fed: Federation, url: str, text: str) -> tuple[int, list[str], dict[str, Any] | None]:
    """The agent at `url` asked `text` over A2A by the client `caller`: its task's final state, stages and result."""
    async with httpx.AsyncClient(timeout=10) as http, agent_client(url, caller(fed, http)) as client:
        responses = [response async for response in client.send_message(text_message(text))]
    statuses = [r.status_update.status for r in responses if r.HasField("status_update")]
    data, _ = result_of(
        Task(artifacts=[r.artifact_update.artifact for r in responses if r.HasField("artifact_update")])
    )
    return statuses[-1].state, [text for status in statuses if (text := status_text(status))], data


async def test_asking_by_skill_relays_the_peers_stages_and_returns_its_result(world: World) -> None:
    question = {"question": "Reconcile yesterday's ledger"}

    answer, stages = await ask(world, "ledger-reconcile", question)

    assert answer.answered, answer.reason
    assert (answer.agent, answer.state, answer.reason) == ("ledger", "completed", "")
    assert answer.data == {"agent": "ledger", "received": question}  # a mapping goes as a data part
    assert answer.markdown == "## ledger\n\nDone."
    assert stages == [STAGE]


async def test_the_peer_is_called_with_the_callers_own_token_for_the_peer(world: World) -> None:
    seen = len(world.ledger.tokens.claims)

    answer, _ = await ask(world, "ledger-reconcile", "Reconcile the ledger")

    assert answer.answered, answer.reason
    claims = world.ledger.tokens.claims[seen:]
    assert claims
    assert {(claim["client_id"], claim["aud"]) for claim in claims} == {("caller", world.ledger.url)}


async def test_an_agent_on_the_kit_asks_another_by_skill_with_its_own_token_never_its_callers(world: World) -> None:
    """`caller` asks the postmortem agent over A2A; it asks `ledger` through `Kit.ask`, with a token of its own."""
    seen = len(world.ledger.tokens.claims)

    state, stages, data = await a2a(world.fed, world.asker.url, "ledger-reconcile")

    assert state == TaskState.TASK_STATE_COMPLETED
    assert STAGE in stages  # the ledger's stage, relayed as the asker's own
    assert data == {"ledger": {"agent": "ledger", "received": {"question": "Reconcile for the postmortem"}}}
    claims = world.ledger.tokens.claims[seen:]
    assert claims
    assert {(claim["client_id"], claim["aud"]) for claim in claims} == {("postmortem", world.ledger.url)}
    assert {(c["client_id"], c["aud"]) for c in world.asker.tokens.claims} == {("caller", world.asker.url)}


async def test_an_agent_on_the_kit_whose_peer_fails_answers_degraded_with_the_reason(world: World) -> None:
    state, _, data = await a2a(world.fed, world.asker.url, "leaky-probe")

    assert state == TaskState.TASK_STATE_COMPLETED  # the asker still answers: without what the peer would have said
    assert data is not None
    (reason,) = data["degraded"]
    assert reason.startswith("leaky failed: database unreachable")
    assert PASSWORD not in reason


async def test_the_router_asks_with_its_own_token_on_behalf_of_its_caller(world: World) -> None:
    seen = len(world.ledger.tokens.claims)

    state, stages, _ = await a2a(world.fed, world.fed.url, "ledger-reconcile the books")

    assert state == TaskState.TASK_STATE_COMPLETED
    assert STAGE in stages  # the peer's stage, relayed by the router
    claims = world.ledger.tokens.claims[seen:]
    assert claims
    assert {(claim["client_id"], claim["aud"]) for claim in claims} == {("router", world.ledger.url)}


async def test_a_peer_whose_task_fails_is_a_degraded_answer_with_its_reason_redacted(world: World) -> None:
    answer, _ = await ask(world, "leaky-probe", "probe")

    assert not answer.answered
    assert answer.state == "failed"
    assert isinstance(answer.error, BackendFailed)
    assert answer.error.kind == "backend_unavailable"
    assert answer.reason.startswith("leaky failed: database unreachable")
    assert REDACTED in answer.reason
    assert PASSWORD not in answer.reason


async def test_a_stand_in_failing_on_purpose_is_degraded_not_raised(world: World) -> None:
    answer, stages = await ask(world, "ledger-reconcile", f"ledger {FAIL_WORD}")

    assert (answer.answered, answer.state) == (False, "failed")
    assert answer.reason.startswith("ledger failed: The agent failed (trace id")
    assert stages == [STAGE]


async def test_a_peer_that_cannot_be_reached_is_degraded_with_its_kind(world: World) -> None:
    ghost = AgentCardSpec(
        name="ghost", description="Nobody.", skills=(SkillSpec(id="ghost-probe", name="Probe", description="Probes."),)
    )
    world.fed.register(ghost, "http://127.0.0.1:9/")  # a port nothing listens on
    try:
        answer, stages = await ask(world, "ghost-probe", "anyone?")
    finally:
        world.fed.deregister(ghost.name)

    assert (answer.answered, answer.state, stages) == (False, "unanswered", [])
    assert isinstance(answer.error, BackendUnavailable)
    assert answer.error.kind == "backend_unavailable"
    assert "the ghost agent at http://127.0.0.1:9" in answer.reason
    assert "could not be reached" in answer.reason


async def test_a_skill_no_agent_has_is_degraded_saying_so(world: World) -> None:
    answer, _ = await ask(world, "no-such-skill", "anyone?")

    assert (answer.answered, answer.state) == (False, "unanswered")
    assert isinstance(answer.error, BackendUnavailable)
    assert (
        f"no agent registered in the registry at {world.fed.registry.url} has the skill no-such-skill" == answer.reason
    )


async def test_a_registry_the_caller_cannot_use_is_degraded_saying_so(world: World) -> None:
    # No token is issued for a registry the authorization server does not know, and none is reachable there.
    answer, _ = await ask(world, "ledger-reconcile", "anyone?", registry_url="http://127.0.0.1:9")

    assert (answer.answered, answer.state) == (False, "unanswered")
    assert isinstance(answer.error, BackendError)
    assert "audience 'http://127.0.0.1:9'" in answer.reason
