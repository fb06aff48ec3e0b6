"""An ADK agent served over A2A: card, streaming, auth, task ownership and persistence, ADK's client.

`EchoAgent` (`support.stand_in_agent`) is a tiny deterministic agent on the kit (no model); it is served for real on
127.0.0.1 with tokens from a `TestIssuer`, and called with a2a-sdk's client.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, StreamResponse, Task, TaskState
from google.adk.agents import BaseAgent, LlmAgent
from google.adk.agents.remote_a2a_agent import RemoteA2aAgent
from google.adk.runners import InMemoryRunner
from google.genai import types as genai
from google.protobuf.json_format import MessageToDict
from support.asgi_server import ServedApp
from support.backends import free_port
from support.eventually import eventually_async
from support.issuer import TestIssuer
from support.scripted_llm import ScriptedLlm, text
from support.stand_in_agent import ECHO_STAGE, EchoAgent, GatedAgent, stand_in_settings

from common.agents import (
    AGENTS_INVOKE,
    CARD_MAX_AGE_SECONDS,
    INTERRUPTED_MESSAGE,
    RESULT_ARTIFACT,
    AgentCardSpec,
    SkillSpec,
    a2a_app,
    default_task_store_url,
)
from common.auth.resource import resource_verifier
from common.http import create_http_client
from common.settings import AuthConfig, ServeSettings

SPEC = AgentCardSpec(
    name="echo",
    description="Answers with a structured echo of the question.",
    version="1.2.3",
    skills=(
        SkillSpec(
            id="echo-question",
            name="Echo a question",
            description="Returns the question and its length as JSON and Markdown.",
            tags=("echo", "test"),
            examples=("Why is checkout slow?",),
        ),
    ),
)


class ServedAgent:
    def __init__(self, issuer: TestIssuer, port: int) -> None:
        self.issuer = issuer
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, client_id: str = "client-a", scopes: tuple[str, ...] = (AGENTS_INVOKE,), **kwargs: object) -> str:
        return self.issuer.mint(self.url, scopes, claims={"client_id": client_id, "sub": client_id}, **kwargs)  # type: ignore[arg-type]

    @asynccontextmanager
    async def client(self, token: str, *, streaming: bool = True) -> AsyncIterator[Client]:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=15.0) as http:
            card = await A2ACardResolver(http, self.url).get_agent_card()
            client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)
            try:
                yield client
            finally:
                await client.close()


def serve_settings(issuer: TestIssuer, port: int) -> ServeSettings:
    return ServeSettings(
        port=port, registry_url=issuer.issuer, auth=AuthConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url)
    )


@contextmanager
def served_agent(
    issuer: TestIssuer, data_dir: Path, port: int | None = None, *, agent: BaseAgent | None = None
) -> Iterator[ServedAgent]:
    port = port or free_port()
    serve = serve_settings(issuer, port)
    app = a2a_app(
        agent=agent or EchoAgent(name="echo", settings=stand_in_settings(data_dir)),
        card=SPEC,
        serve=serve,
        verifier=resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)),
        task_store_url=default_task_store_url(data_dir, SPEC.name),
    )
    with ServedApp(app, port=port):
        yield ServedAgent(issuer, port)


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as started:
        yield started


@pytest.fixture
def agent(issuer: TestIssuer, tmp_path: Path) -> Iterator[ServedAgent]:
    with served_agent(issuer, tmp_path) as served:
        yield served


def user_message(text: str) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[Part(text=text)])
    )


async def collect(client: Client, text: str) -> list[StreamResponse]:
    return [response async for response in client.send_message(user_message(text))]


pytestmark = pytest.mark.anyio

QUESTION = "Why is checkout slow?"


def test_card_is_public_and_declares_oauth2_client_credentials(agent: ServedAgent) -> None:
    response = httpx.get(f"{agent.url}/.well-known/agent-card.json")

    assert response.status_code == 200
    card = response.json()
    assert (card["name"], card["description"], card["version"]) == (SPEC.name, SPEC.description, "1.2.3")
    assert card["supportedInterfaces"] == [{"url": agent.url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"].get("pushNotifications", False) is False
    assert card["skills"] == [
        {
            "id": "echo-question",
            "name": "Echo a question",
            "description": "Returns the question and its length as JSON and Markdown.",
            "tags": ["echo", "test"],
            "examples": ["Why is checkout slow?"],
        }
    ]
    flow = card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == f"{agent.issuer.issuer}/oauth/token"
    assert list(flow["scopes"]) == [AGENTS_INVOKE]
    assert card["securityRequirements"] == [{"schemes": {"oauth2": {"list": [AGENTS_INVOKE]}}}]
    hosts = {agent.url.split("//")[1], agent.issuer.issuer.split("//")[1]}
    assert {url.split("/")[2] for url in _urls(card)} <= hosts


def test_card_is_cacheable_for_the_configured_max_age_and_says_when_it_last_changed(agent: ServedAgent) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    response = httpx.get(f"{agent.url}/.well-known/agent-card.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == f"public, max-age={CARD_MAX_AGE_SECONDS}"
    assert response.headers["etag"]
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    # The card was built when the app was, just before this test asked for it.
    assert before - timedelta(minutes=1) <= last_modified <= datetime.now(UTC)


def test_card_unchanged_since_the_client_copy_is_304_without_a_body(agent: ServedAgent) -> None:
    card_url = f"{agent.url}/.well-known/agent-card.json"
    last_modified = httpx.get(card_url).headers["last-modified"]

    unchanged = httpx.get(card_url, headers={"If-Modified-Since": last_modified})
    older = httpx.get(card_url, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    garbage = httpx.get(card_url, headers={"If-Modified-Since": "yesterday"})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["last-modified"] == last_modified
    assert unchanged.headers["cache-control"] == f"public, max-age={CARD_MAX_AGE_SECONDS}"
    assert older.status_code == 200
    assert older.json()["name"] == SPEC.name
    assert garbage.status_code == 200


def _urls(value: object) -> list[str]:
    if isinstance(value, dict):
        return [url for item in value.values() for url in _urls(item)]
    if isinstance(value, list):
        return [url for item in value for url in _urls(item)]
    return [value] if isinstance(value, str) and value.startswith("http") else []


async def test_message_stream_reports_the_stage_and_the_result_artifact(agent: ServedAgent) -> None:
    async with agent.client(agent.token()) as client:
        responses = await collect(client, QUESTION)

    stages = [
        part.text
        for response in responses
        if response.HasField("status_update") and response.status_update.status.HasField("message")
        for part in response.status_update.status.message.parts
    ]
    assert stages == [ECHO_STAGE]
    artifacts = [response.artifact_update.artifact for response in responses if response.HasField("artifact_update")]
    assert [artifact.name for artifact in artifacts] == [RESULT_ARTIFACT]
    data, markdown = artifacts[0].parts
    assert MessageToDict(data.data) == {"question": QUESTION, "length": len(QUESTION)}
    assert data.media_type == "application/json"
    assert (markdown.text, markdown.media_type) == (f"## Echo\n\n{QUESTION}", "text/markdown")
    final = [r.status_update.status.state for r in responses if r.HasField("status_update")][-1]
    assert final == TaskState.TASK_STATE_COMPLETED


async def test_message_send_returns_the_completed_task_with_its_artifact(agent: ServedAgent) -> None:
    async with agent.client(agent.token(), streaming=False) as client:
        (response,) = await collect(client, QUESTION)

    task = response.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    (artifact,) = task.artifacts
    assert MessageToDict(artifact.parts[0].data) == {"question": QUESTION, "length": len(QUESTION)}
    assert artifact.parts[1].text.startswith("## Echo")


async def test_an_llm_agents_answer_is_the_markdown_result_even_when_it_reads_as_json(
    issuer: TestIssuer, tmp_path: Path
) -> None:
    # Only an agent's result (the kit's AgentResult) carries data: a model's text is an answer for people.
    answer = '{"service": "checkout"}'
    llm_agent = LlmAgent(name="echo", model=ScriptedLlm(script=[text(answer)]))
    with served_agent(issuer, tmp_path, agent=llm_agent) as served:
        async with served.client(served.token(), streaming=False) as client:
            (response,) = await collect(client, QUESTION)

    assert response.task.status.state == TaskState.TASK_STATE_COMPLETED
    (artifact,) = response.task.artifacts
    assert [(part.text, part.media_type) for part in artifact.parts] == [(answer, "text/markdown")]


def _rpc(method: str, params: dict[str, object]) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


SEND = _rpc("SendMessage", {"message": {"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "hi"}]}})


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "expired", "other-audience"],
)
def test_rpc_without_a_valid_token_is_401(agent: ServedAgent, authorization: str | None) -> None:
    if authorization == "expired":
        authorization = "Bearer " + agent.issuer.mint(agent.url, [AGENTS_INVOKE], lifetime=-300)
    elif authorization == "other-audience":
        authorization = "Bearer " + agent.issuer.mint("http://127.0.0.1:1/", [AGENTS_INVOKE])
    headers = {"A2A-Version": "1.0"} | ({"Authorization": authorization} if authorization else {})

    response = httpx.post(agent.url + "/", json=SEND, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_rpc_without_the_agents_invoke_scope_is_403(agent: ServedAgent) -> None:
    token = agent.token(scopes=("metrics:read",))

    response = httpx.post(agent.url + "/", json=SEND, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_metrics_need_a_token_and_health_does_not(agent: ServedAgent) -> None:
    assert httpx.get(f"{agent.url}/healthz").json() == {"status": "ok", "agent": "echo"}
    assert httpx.get(f"{agent.url}/metrics").status_code == 401

    metrics = httpx.get(f"{agent.url}/metrics", headers={"Authorization": f"Bearer {agent.token()}"})

    assert metrics.status_code == 200
    assert "sre_http_requests" in metrics.text


def test_oversized_body_is_413(agent: ServedAgent) -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": "' + b"x" * (1024 * 1024 + 1) + b'"}'

    response = httpx.post(
        agent.url + "/",
        content=body,
        headers={"Authorization": f"Bearer {agent.token()}", "Content-Type": "application/json"},
    )

    assert response.status_code == 413


async def test_another_clients_task_is_not_found(agent: ServedAgent) -> None:
    async with agent.client(agent.token("client-a"), streaming=False) as owner:
        (response,) = await collect(owner, QUESTION)
        task_id = response.task.id
        assert (await owner.get_task(GetTaskRequest(id=task_id))).id == task_id

    stranger = httpx.post(
        agent.url + "/",
        json=_rpc("GetTask", {"id": task_id}),
        headers={"Authorization": f"Bearer {agent.token('client-b')}", "A2A-Version": "1.0"},
    )

    assert stranger.status_code == 200
    error = stranger.json()["error"]
    assert error["code"] == -32001  # TaskNotFoundError: the same answer as for a task that never existed
    assert "result" not in stranger.json()


def test_push_notifications_are_refused(agent: ServedAgent) -> None:
    headers = {"Authorization": f"Bearer {agent.token()}", "A2A-Version": "1.0"}
    config = _rpc("CreateTaskPushNotificationConfig", {"taskId": "t-1", "url": "http://169.254.169.254/latest"})
    inline = _rpc(
        "SendMessage",
        {
            "message": {"role": "ROLE_USER", "messageId": "m-2", "parts": [{"text": "hi"}]},
            "configuration": {"taskPushNotificationConfig": {"url": "http://169.254.169.254/latest"}},
        },
    )

    refused_config = httpx.post(agent.url + "/", json=config, headers=headers).json()
    refused_inline = httpx.post(agent.url + "/", json=inline, headers=headers).json()

    assert refused_config["error"]["code"] == -32003  # PushNotificationNotSupportedError
    assert refused_inline["error"]["code"] == -32602  # InvalidParams: the URL is refused before the task starts


async def test_tasks_survive_a_restart(issuer: TestIssuer, tmp_path: Path) -> None:
    with served_agent(issuer, tmp_path) as first:
        port = first.port
        async with first.client(first.token(), streaming=False) as client:
            (response,) = await collect(client, QUESTION)
    task_id = response.task.id

    with served_agent(issuer, tmp_path, port=port) as second:
        async with second.client(second.token(), streaming=False) as client:
            task = await client.get_task(GetTaskRequest(id=task_id))

    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert MessageToDict(task.artifacts[0].parts[0].data)["question"] == QUESTION


@pytest.mark.filterwarnings("ignore:.*EXPERIMENTAL.*:UserWarning")
async def test_adk_remote_agent_calls_the_served_agent(agent: ServedAgent) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {agent.token()}"}, timeout=15.0) as http:
        remote = RemoteA2aAgent(
            name="echo_remote",
            agent_card=f"{agent.url}/.well-known/agent-card.json",
            a2a_client_factory=ClientFactory(ClientConfig(httpx_client=http, streaming=True)),
        )
        runner = InMemoryRunner(agent=remote, app_name="caller")
        session = await runner.session_service.create_session(app_name="caller", user_id="someone")
        texts: list[str] = []
        async for event in runner.run_async(
            user_id="someone",
            session_id=session.id,
            new_message=genai.Content(role="user", parts=[genai.Part(text=QUESTION)]),
        ):
            for part in event.content.parts if event.content and event.content.parts else []:
                # Streamed text may arrive twice (DESIGN.md, library facts): keep each text once.
                if part.text and part.text not in texts:
                    texts.append(part.text)
        await runner.close()

    assert ECHO_STAGE in texts
    assert f"## Echo\n\n{QUESTION}" in texts


async def test_a_task_cut_off_by_a_restart_reads_back_failed_saying_to_send_it_again(
    issuer: TestIssuer, tmp_path: Path
) -> None:
    gate = threading.Event()  # never set: the run is still waiting when the server stops
    with served_agent(
        issuer,
        tmp_path,
        agent=GatedAgent(name="echo", settings=stand_in_settings(tmp_path), gate=gate, stage=ECHO_STAGE),
    ) as first:
        port = first.port
        async with first.client(first.token(), streaming=False) as client:
            request = user_message(QUESTION)
            request.configuration.return_immediately = True
            (response,) = await _responses(client, request)

            async def with_a_stage() -> Task | None:
                task = await client.get_task(GetTaskRequest(id=response.task.id))
                return task if task.status.message.parts else None

            task = await eventually_async(with_a_stage, what="the task's first stage")
    assert (task.status.state, task.status.message.parts[0].text) == (TaskState.TASK_STATE_WORKING, ECHO_STAGE)

    with served_agent(issuer, tmp_path, port=port) as second:
        async with second.client(second.token(), streaming=False) as client:
            task = await client.get_task(GetTaskRequest(id=response.task.id))

    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert [part.text for part in task.status.message.parts] == [INTERRUPTED_MESSAGE]


async def _responses(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [response async for response in client.send_message(request)]
