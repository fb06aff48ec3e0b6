"""The router as an A2A agent: its `route` skill forwards a message to the agent that fits, with its own token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.client import Client
from a2a.types import SendMessageRequest, StreamResponse, Task, TaskState
from support.router_federation import FAIL_WORD, STAGE, Federation, alert, webhook_payload

from common.agents.client import agent_client, data_message, result_of, text_message
from common.auth import ClientCredentials, TokenSource

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@asynccontextmanager
async def router_client(fed: Federation) -> AsyncIterator[Client]:
    credentials = ClientCredentials.model_validate(
        {"token_url": f"{fed.registry.url}/oauth/token", "client_id": "caller", "client_secret": fed._secrets["caller"]}
    )
    async with httpx.AsyncClient(timeout=10) as http, agent_client(fed.url, TokenSource(credentials, http)) as client:
        yield client


async def route(fed: Federation, request: SendMessageRequest) -> tuple[list[StreamResponse], list[str]]:
    async with router_client(fed) as client:
        responses = [response async for response in client.send_message(request)]
    stages = [
        part.text
        for response in responses
        if response.HasField("status_update") and response.status_update.status.HasField("message")
        for part in response.status_update.status.message.parts
    ]
    return responses, stages


def final(responses: list[StreamResponse]) -> tuple[int, dict[str, Any] | None, str | None]:
    states = [r.status_update.status.state for r in responses if r.HasField("status_update")]
    artifacts = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    data, markdown = result_of(Task(artifacts=artifacts))
    return states[-1], data, markdown


async def test_a_question_goes_to_the_skill_that_fits_and_its_result_comes_back(fed: Federation) -> None:
    question = "When will checkout run out of memory? A capacity forecast, please."
    seen = len(fed.capacity.inputs())

    responses, stages = await route(fed, text_message(question))

    state, data, markdown = final(responses)
    assert state == TaskState.TASK_STATE_COMPLETED
    assert data == {"agent": "capacity", "received": question}
    assert markdown == "## capacity\n\nDone."
    assert stages[:2] == ["Routing to capacity (skill capacity-forecast).", STAGE]
    caller, received = fed.capacity.agent.received[seen]
    assert (caller, received) == ("router", question)  # the router's own token, never the caller's


async def test_an_alertmanager_payload_goes_to_triage_as_a_data_part(fed: Federation) -> None:
    payload = webhook_payload(alert("QueueBacklog"), group_key="route-skill")
    fed.settled()  # no earlier delivery arrives among this test's
    seen = len(fed.triage.inputs())

    responses, stages = await route(fed, data_message(payload))

    state, data, _ = final(responses)
    assert state == TaskState.TASK_STATE_COMPLETED
    assert stages[0] == "Routing to triage (skill triage-investigate)."
    assert fed.triage.inputs()[seen] == payload
    assert data is not None
    assert data["received"]["groupKey"] == "route-skill"


async def test_a_deployment_event_goes_to_triage(fed: Federation) -> None:
    event = {"type": "deployment", "service": "checkout", "status": "failed"}

    responses, _ = await route(fed, data_message(event))

    state, data, _ = final(responses)
    assert state == TaskState.TASK_STATE_COMPLETED
    assert data == {"agent": "triage", "received": event}


async def test_a_request_no_skill_fits_is_answered_with_the_skills_on_offer(fed: Federation) -> None:
    responses, _ = await route(fed, text_message("Sing me a song"))

    state, data, markdown = final(responses)
    assert state == TaskState.TASK_STATE_COMPLETED
    assert data is None
    assert markdown is not None
    assert "No registered agent has a skill for this request" in markdown
    assert "`capacity-forecast` (capacity)" in markdown
    assert "`route`" not in markdown


async def test_a_peer_that_fails_fails_the_routed_task_saying_which(fed: Federation) -> None:
    responses, stages = await route(fed, text_message(f"capacity forecast {FAIL_WORD}"))

    state, _, _ = final(responses)
    assert state == TaskState.TASK_STATE_FAILED
    assert any(stage.startswith("capacity failed: The agent failed (trace id") for stage in stages)
