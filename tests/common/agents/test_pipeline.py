"""The agent kit's contract, on a real ADK runner: what any agent built on `PipelineAgent` does in a chat."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel
from support.asgi_server import ServedApp
from support.backends import free_port
from support.chat import Chat, texts
from support.scripted_llm import ScriptedLlm, text

from common.agents import RESULT_ARTIFACT, AgentCardSpec, AgentSettings, SkillSpec, a2a_app, default_task_store_url
from common.agents.executor import INVALID_REQUEST, UPSTREAM_FAILED
from common.agents.identity import agent_identity, missing_identity
from common.agents.kit import Kit, Progress
from common.agents.pipeline import LAST_RESULT, AgentRequest, AgentResult, PipelineAgent, PipelineSettings
from common.errors import BackendUnavailable, InputError
from common.local_run import write_endpoints
from common.settings import ServeSettings, SettingsSource

pytestmark = pytest.mark.anyio


class Count(BaseModel):
    service: str
    errors: int


class CountingAgent(PipelineAgent):
    """Counts a service's errors: refuses an empty message, fails on "down", answers "how many" follow-ups."""

    card: ClassVar[AgentCardSpec] = AgentCardSpec(
        name="counter",
        description="Counts errors.",
        skills=(SkillSpec(id="count", name="Count", description="Counts errors.", tags=("errors",)),),
    )
    follow_up_hint = 'Or send {"service": "checkout"}.'

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        value = json.loads(request.text) if request.text.startswith("{") else {}
        service = value.get("service")
        if not service:
            raise InputError('Name the service: send {"service": "checkout"}.')
        if service == "nobody":
            return AgentResult(None, "Nobody has no errors.")
        await progress(f"Counting the errors of {service}.")
        if service == "down":
            raise BackendUnavailable("prometheus-mcp could not be reached.", backend="prometheus-mcp")
        async with kit.toolbox(("prometheus-mcp",)) as toolbox:
            await progress(f"Unavailable: {', '.join(toolbox.unavailable)}.")
        count = Count(service=service, errors=3)
        return AgentResult(count, f"# Errors of {service}\n\n3 errors.")

    def is_follow_up(self, request: AgentRequest) -> bool:
        return not request.text.startswith("{")

    def answer_follow_up(self, question: str, last_result: dict[str, Any]) -> str | None:
        return f"{last_result['service']} had {last_result['errors']} errors." if "how many" in question else None


def counter(tmp_path: Path, llm: ScriptedLlm | None = None) -> CountingAgent:
    agent = AgentSettings(serve=ServeSettings(port=0), data_dir=tmp_path)
    return CountingAgent(name="counter", settings=PipelineSettings(agent=agent), llm=llm)


async def test_the_chat_shows_the_stages_then_the_markdown_and_the_json_is_an_artifact_and_in_the_state(
    tmp_path: Path,
) -> None:
    chat = Chat(counter(tmp_path))

    events = await chat.say('{"service": "checkout"}')

    assert texts(events) == [
        "Counting the errors of checkout.",
        "Unavailable: prometheus-mcp.",
        "# Errors of checkout\n\n3 errors.",
    ]
    assert events[-1].actions.state_delta == {LAST_RESULT: {"service": "checkout", "errors": 3}}
    # The artifact is announced by an event of its own: `adk web` would show it instead of the Markdown.
    assert not events[-1].actions.artifact_delta
    assert events[-2].actions.artifact_delta == {"report.json": 0}
    assert events[-2].content is None
    artifact = await chat.runner.artifact_service.load_artifact(
        app_name="counter", user_id=chat.user_id, session_id=chat.session_id, filename="report.json"
    )
    assert artifact is not None
    assert artifact.inline_data is not None
    assert artifact.inline_data.mime_type == "application/json"
    assert json.loads(artifact.inline_data.data or b"") == {"service": "checkout", "errors": 3}
    session = await chat.runner.session_service.get_session(
        app_name="counter", user_id=chat.user_id, session_id=chat.session_id
    )
    assert session is not None
    assert session.state[LAST_RESULT]["errors"] == 3


async def test_a_plain_answer_is_the_markdown_alone_and_keeps_the_last_result(tmp_path: Path) -> None:
    chat = Chat(counter(tmp_path))
    await chat.say('{"service": "checkout"}')

    (plain,) = await chat.say('{"service": "nobody"}')
    (answered,) = await chat.say("how many errors were there?")

    assert texts([plain]) == ["Nobody has no errors."]
    assert not plain.actions.state_delta
    assert not plain.actions.artifact_delta
    assert texts([answered]) == ["checkout had 3 errors."]


async def test_an_input_error_refuses_with_the_agents_message_and_a_backend_error_fails_upstream(
    tmp_path: Path,
) -> None:
    chat = Chat(counter(tmp_path))

    (refusal,) = await chat.say("{}")
    *stages, failure = await chat.say('{"service": "down"}')

    assert (refusal.error_code, refusal.error_message) == (
        INVALID_REQUEST,
        'Name the service: send {"service": "checkout"}.',
    )
    assert texts(stages) == ["Counting the errors of down."]
    assert (failure.error_code, failure.error_message) == (UPSTREAM_FAILED, "prometheus-mcp could not be reached.")


async def test_without_a_model_a_follow_up_is_answered_from_the_last_result_or_says_it_needs_sre_model(
    tmp_path: Path,
) -> None:
    chat = Chat(counter(tmp_path))
    await chat.say('{"service": "checkout"}')

    (answered,) = await chat.say("how many errors were there?")
    (unanswered,) = await chat.say("tell me a story about it")

    assert texts([answered]) == ["checkout had 3 errors."]
    (said,) = texts([unanswered])
    assert said.startswith("Free-form follow-ups need a model: set SRE_MODEL.")
    assert said.endswith('Or send {"service": "checkout"}.')
    assert not unanswered.actions.state_delta  # nothing ran again


async def test_with_a_model_the_result_gets_a_narrative_stage_and_a_follow_up_is_the_models_answer(
    tmp_path: Path,
) -> None:
    model = ScriptedLlm(script=[text("checkout had 3 errors, all today.")])
    chat = Chat(counter(tmp_path, model))
    await chat.say('{"service": "checkout"}')

    events = await chat.say("how many errors were there?")

    assert texts(events)[-1] == "checkout had 3 errors, all today."
    (asked,) = model.requests
    assert '"errors": 3' in str(asked.config.system_instruction)


async def test_without_an_identity_every_server_is_unavailable_with_the_variables_to_set(tmp_path: Path) -> None:
    events = await Chat(counter(tmp_path)).say('{"service": "checkout"}')
    settings = AgentSettings(serve=ServeSettings(port=0), data_dir=tmp_path)

    assert "Unavailable: prometheus-mcp." in texts(events)
    message = missing_identity("counter", settings)
    for variable in ("SRE_CLIENT_ID", "SRE_CLIENT_SECRET", "REGISTRY_URL", "SRE_DATA_DIR"):
        assert variable in message
    assert str(tmp_path / "credentials" / "counter.secret") in message


def test_the_identity_sre_up_provisioned_is_found_in_the_data_dir_with_its_registry(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "counter.secret").write_text("s3cret-value\n")
    write_endpoints(tmp_path, {"registry": "http://127.0.0.1:18700", "counter": "http://127.0.0.1:18799"})
    settings = AgentSettings.from_source(
        SettingsSource({"SRE_DATA_DIR": str(tmp_path)}), prefix="COUNTER_", default_port=0
    )

    identity = agent_identity("counter", settings)

    assert identity is not None
    assert identity.registry_url == "http://127.0.0.1:18700"
    assert identity.credentials.client_id == "counter"
    assert identity.credentials.token_url == "http://127.0.0.1:18700/oauth/token"
    assert identity.credentials.client_secret.get_secret_value() == "s3cret-value"
    assert "s3cret" not in repr(identity)


def test_the_environments_client_comes_before_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "counter.secret").write_text("from-disk")
    source = SettingsSource(
        {
            "SRE_DATA_DIR": str(tmp_path),
            "SRE_CLIENT_ID": "someone",
            "SRE_CLIENT_SECRET": "from-env",
            "REGISTRY_URL": "http://127.0.0.1:19700",
        }
    )

    identity = agent_identity("counter", AgentSettings.from_source(source, prefix="COUNTER_", default_port=0))

    assert identity is not None
    assert (identity.credentials.client_id, identity.registry_url) == ("someone", "http://127.0.0.1:19700")


async def test_served_over_a2a_the_result_artifact_is_built_from_the_saved_json_and_the_markdown(
    tmp_path: Path,
) -> None:
    agent = counter(tmp_path)
    serve = ServeSettings(port=free_port())
    app = a2a_app(
        agent=agent,
        card=CountingAgent.card,
        serve=serve,
        verifier=None,
        task_store_url=default_task_store_url(tmp_path, "counter"),
    )
    message = Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[Part(text='{"service": "checkout"}')])
    with ServedApp(app, port=serve.port) as served:
        async with httpx.AsyncClient(timeout=15.0) as http:
            card = await A2ACardResolver(http, served.url).get_agent_card()
            client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
            (response,) = [r async for r in client.send_message(SendMessageRequest(message=message))]
            await client.close()

    (artifact,) = response.task.artifacts
    data, markdown = artifact.parts
    assert artifact.name == RESULT_ARTIFACT
    assert (MessageToDict(data.data), data.media_type) == ({"service": "checkout", "errors": 3}, "application/json")
    assert (markdown.text, markdown.media_type) == ("# Errors of checkout\n\n3 errors.", "text/markdown")


async def test_an_identity_provisioned_after_the_agent_started_is_used_from_the_next_run(tmp_path: Path) -> None:
    agent = counter(tmp_path)
    before = await agent.kit().ask("count", "anyone?", progress=say_nothing)
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "counter.secret").write_text("s3cret-value")
    write_endpoints(tmp_path, {"registry": f"http://127.0.0.1:{free_port()}"})

    after = await agent.kit().ask("count", "anyone?", progress=say_nothing)

    assert "no OAuth client" in before.reason
    assert not after.answered
    assert "no OAuth client" not in after.reason


async def say_nothing(text: str) -> None:
    return None
