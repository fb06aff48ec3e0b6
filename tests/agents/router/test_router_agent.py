"""The router's agent in a chat (`adk web agents`), with no federation: what it says before it can route."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.adk.events import Event
from google.adk.runners import InMemoryRunner
from google.genai import types as genai

from agents.router.agent import RouterAgent
from agents.router.settings import RouterSettings
from common.agents import AgentSettings
from common.agents.executor import UPSTREAM_FAILED
from common.settings import ServeSettings

pytestmark = pytest.mark.anyio


async def chat(tmp_path: Path, message: str) -> list[Event]:
    """One message to a router that has no identity: no SRE_CLIENT_*, and no `sre up` in its data directory."""
    settings = RouterSettings(agent=AgentSettings(serve=ServeSettings(port=0), data_dir=tmp_path))
    runner = InMemoryRunner(agent=RouterAgent(name="router", settings=settings), app_name="router")
    session = await runner.session_service.create_session(app_name="router", user_id="u")
    content = genai.Content(role="user", parts=[genai.Part(text=message)])
    return [event async for event in runner.run_async(user_id="u", session_id=session.id, new_message=content)]


def texts(events: list[Event]) -> list[str]:
    return [part.text for event in events if event.content for part in event.content.parts or [] if part.text]


async def test_without_an_identity_the_router_says_which_variables_to_set(tmp_path: Path) -> None:
    events = await chat(tmp_path, "Why is checkout slow?")

    (stage,) = texts(events)
    assert stage.startswith("The request could not be routed: router has no OAuth client")
    for variable in ("SRE_CLIENT_ID", "SRE_CLIENT_SECRET", "REGISTRY_URL", "SRE_DATA_DIR"):
        assert variable in stage
    assert (events[-1].error_code, events[-1].error_message) == (UPSTREAM_FAILED, stage.split(": ", 1)[1])


async def test_an_empty_message_is_answered_with_what_to_send(tmp_path: Path) -> None:
    events = await chat(tmp_path, "   ")

    assert texts(events) == [
        "The message is empty. Send a question, an Alertmanager webhook payload or a deployment event."
    ]
    assert not any(event.error_code for event in events)
