"""The agent runtime under load and failure: runs bounded per agent, and no task left running without a worker."""

from __future__ import annotations

import threading
import time
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
from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]
from sqlalchemy import select, update
from support.asgi_server import ServedApp
from support.backends import free_port
from support.eventually import eventually_async
from support.issuer import TestIssuer
from support.stand_in_agent import GatedAgent, stand_in_settings

from common.agents import AGENTS_INVOKE, AgentCardSpec, SkillSpec, a2a_app, default_task_store_url
from common.agents.leases import LEASES, TaskLeases
from common.agents.owner import ClientUser
from common.agents.watchdog import INTERRUPTED_MESSAGE, UNATTENDED_MESSAGE, TaskWatchdog
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


async def test_the_watchdog_fails_tasks_whose_lease_expired_or_is_missing_and_spares_the_live_and_the_new(
    tmp_path: Path,
) -> None:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    store = DatabaseTaskStore(engine)
    await store.initialize()
    mine, other = TaskLeases(engine, lease_seconds=30), TaskLeases(engine, lease_seconds=30)
    await mine.initialize()
    context = ServerCallContext(user=ClientUser("router"))
    long_ago = Timestamp(seconds=int(time.time()) - 3600)
    task_ids = ("orphan", "expired", "elsewhere", "here", "new")
    for task_id in task_ids:
        status = TaskStatus(state=TaskState.TASK_STATE_WORKING)
        status.timestamp.CopyFrom(long_ago if task_id != "new" else Timestamp(seconds=int(time.time())))
        await store.save(Task(id=task_id, context_id="c", status=status), context)
    await other.take("elsewhere")  # another replica's live lease
    await mine.take("here")
    await other.take("expired")
    async with engine.begin() as connection:
        await connection.execute(update(LEASES).where(LEASES.c.task_id == "expired").values(expires_at=time.time() - 1))
    watchdog = TaskWatchdog(store, mine, interval_seconds=15, grace_seconds=30)
    try:
        assert await watchdog.sweep() == 2
        states = {
            task_id: await store.get(task_id, context) for task_id in ("orphan", "expired", "elsewhere", "here", "new")
        }
        assert {task_id: (task.status.state, _text(task)) for task_id, task in states.items() if task} == {
            "orphan": (TaskState.TASK_STATE_FAILED, UNATTENDED_MESSAGE),
            "expired": (TaskState.TASK_STATE_FAILED, INTERRUPTED_MESSAGE),
            "elsewhere": (TaskState.TASK_STATE_WORKING, ""),
            "here": (TaskState.TASK_STATE_WORKING, ""),
            "new": (TaskState.TASK_STATE_WORKING, ""),
        }
        assert await watchdog.sweep() == 0
        async with engine.connect() as connection:
            held = (await connection.execute(select(LEASES.c.task_id).order_by(LEASES.c.task_id))).scalars().all()
        assert held == ["elsewhere", "here"]  # the expired lease went with its task
    finally:
        await engine.dispose()


def _text(task: Task) -> str:
    return " ".join(part.text for part in task.status.message.parts)
