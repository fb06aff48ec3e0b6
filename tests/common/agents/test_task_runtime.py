"""The agent runtime under load and failure: runs bounded per agent, and no task left running without a worker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, Task, TaskState, TaskStatus
from support.asgi_server import ServedApp
from support.backends import free_port
from support.eventually import eventually_async
from support.issuer import TestIssuer
from support.stand_in_agent import GatedAgent, stand_in_settings

from common.agents import AGENTS_INVOKE, AgentCardSpec, SkillSpec, a2a_app, default_task_store_url
from common.agents.owner import ClientUser
from common.agents.watchdog import UNATTENDED_MESSAGE, TaskWatchdog
from common.auth.resource import resource_verifier
from common.database import create_database_engine
from common.http import create_http_client
from common.settings import AuthConfig, ServeSettings

pytestmark = pytest.mark.anyio

SPEC = AgentCardSpec(
    name="gated",
    description="Waits for its gate.",
    skills=(SkillSpec(id="gated-wait", name="Wait", description="Waits.", tags=("wait",)),),
)
LIMIT = 2
SENT = 5


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as started:
        yield started


@asynccontextmanager
async def client_of(url: str, token: str) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=15.0) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(card)
        try:
            yield client
        finally:
            await client.close()


async def has_states(client: Client, task_ids: list[str], expected: list[int]) -> bool:
    """Whether the tasks' states are `expected`, in any order."""
    states = [(await client.get_task(GetTaskRequest(id=task_id))).status.state for task_id in task_ids]
    return sorted(states) == sorted(expected)


async def test_runs_beyond_the_limit_wait_submitted_and_start_in_turn(issuer: TestIssuer, tmp_path: Path) -> None:
    gate = threading.Event()
    agent = GatedAgent(name="gated", settings=stand_in_settings(tmp_path), gate=gate)
    port = free_port()
    serve = ServeSettings(
        port=port, registry_url=issuer.issuer, auth=AuthConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url)
    )
    app = a2a_app(
        agent=agent,
        card=SPEC,
        serve=serve,
        verifier=resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)),
        task_store_url=default_task_store_url(tmp_path, SPEC.name),
        max_concurrent_tasks=LIMIT,
    )
    token = issuer.mint(serve.base_url, (AGENTS_INVOKE,), claims={"client_id": "caller", "sub": "caller"})
    with ServedApp(app, port=port):
        async with client_of(serve.base_url, token) as client:
            task_ids = []
            for _ in range(SENT):
                request = SendMessageRequest(
                    message=Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[Part(text="wait")])
                )
                request.configuration.return_immediately = True
                async for response in client.send_message(request):
                    task_ids.append(response.task.id)

            expected = sorted(
                [TaskState.TASK_STATE_SUBMITTED] * (SENT - LIMIT) + [TaskState.TASK_STATE_WORKING] * LIMIT
            )
            await eventually_async(
                lambda: has_states(client, task_ids, expected), what=f"{LIMIT} tasks working, the others submitted"
            )

            gate.set()
            completed = [TaskState.TASK_STATE_COMPLETED] * SENT
            await eventually_async(lambda: has_states(client, task_ids, completed), what="every task to complete")

    # Every run has ended: never more than the limit were in flight, the held ones included.
    assert (agent.runs.started, agent.runs.peak) == (SENT, LIMIT)


async def test_a_task_left_working_without_a_worker_is_failed_saying_to_send_it_again(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    store = DatabaseTaskStore(engine)
    await store.initialize()
    context = ServerCallContext(user=ClientUser("router"))
    for task_id in ("orphan", "running"):
        working = Task(id=task_id, context_id="c", status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
        await store.save(working, context)
    watchdog = TaskWatchdog(store, lambda: {"running"})
    try:
        # A first sweep only suspects: the SDK may be storing a run's end just after the run returned.
        assert await watchdog.sweep() == 0
        assert await watchdog.sweep() == 1

        orphan, running = await store.get("orphan", context), await store.get("running", context)
        assert orphan is not None
        assert running is not None
        assert orphan.status.state == TaskState.TASK_STATE_FAILED
        assert orphan.status.message.parts[0].text == UNATTENDED_MESSAGE
        assert running.status.state == TaskState.TASK_STATE_WORKING
        assert await watchdog.sweep() == 0
    finally:
        await engine.dispose()
