"""Replicas of an agent sharing one task store on a real PostgreSQL: leases, and the bounded queue's 429.

Each replica is a real process (`support.replica_agent`: a slow agent on `a2a_app`, served as
`sre serve` serves), authenticating real tokens of the registry's authorization server. Leases
are short here (`LEASE` seconds) so that expiry and renewal show within a test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client.errors import A2AClientError
from a2a.types import GetTaskRequest, Task, TaskState
from sqlalchemy import ColumnElement, select
from support.authorization_server import AuthorizationServer
from support.backends import free_port
from support.eventually import eventually, eventually_async
from support.postgres import PostgresProcess
from support.replica_agent import SLEEP_STAGE

from common.agents import AGENTS_INVOKE
from common.agents.client import agent_client, result_of, text_message
from common.agents.leases import LEASES
from common.agents.peers import Peers
from common.agents.watchdog import INTERRUPTED_MESSAGE
from common.auth import ClientCredentials, TokenSource
from common.database import create_database_engine
from common.errors import BackendUnavailable
from common.http import create_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
LEASE = 1.5


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """The replicas' shared settings: one task store, one authorization server, the caller's tokens."""

    store_url: str
    auth: AuthorizationServer
    tokens: TokenSource
    data_dir: Path
    ports: tuple[int, ...]


@pytest.fixture
def cluster(postgres: PostgresProcess, tmp_path: Path) -> Iterator[Cluster]:
    ports = (free_port(), free_port())
    with AuthorizationServer(tmp_path / "auth", resources=[f"http://127.0.0.1:{port}" for port in ports]) as auth:
        secret = auth.clients.add_client("caller", [AGENTS_INVOKE])
        credentials = ClientCredentials(token_url=auth.token_url, client_id="caller", client_secret=secret)
        tokens = TokenSource(credentials, create_http_client(timeout=10.0))
        yield Cluster(postgres.fresh_database(), auth, tokens, tmp_path, ports)


@contextmanager
def replicas(
    cluster: Cluster, ports: Sequence[int], *, max_concurrent: int = 4, max_queued: int = 100
) -> Iterator[list[Replica]]:
    """A replica process on each of `ports` (the same port twice: they share it), started together; each is
    killed at the end if still running."""
    started: list[Replica] = []
    try:
        for port in ports:
            env = {
                **os.environ,
                "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}",
                "REPLICA_PORT": str(port),
                "REPLICA_TASK_STORE_URL": cluster.store_url,
                "REPLICA_ISSUER": cluster.auth.issuer,
                "REPLICA_JWKS_URL": cluster.auth.jwks_url,
                "REPLICA_DATA_DIR": str(cluster.data_dir),
                "REPLICA_LEASE_SECONDS": str(LEASE),
                "REPLICA_MAX_CONCURRENT_TASKS": str(max_concurrent),
                "REPLICA_MAX_QUEUED_TASKS": str(max_queued),
                "REPLICA_REUSE_PORT": "1" if list(ports).count(port) > 1 else "0",
            }
            log = cluster.data_dir / f"replica-{port}-{len(started)}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "support.replica_agent"], env=env, cwd=ROOT, stdout=out, stderr=out
                )
            started.append(Replica(f"http://127.0.0.1:{port}", process, log))
        for replica in started:
            eventually(partial(_healthy, replica), timeout=60, what=f"the replica at {replica.url} serving")
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGCONT)
                replica.process.kill()
            replica.process.wait()


def _healthy(replica: Replica) -> bool:
    if replica.process.poll() is not None:
        raise AssertionError(f"the replica exited:\n{replica.log.read_text()}")
    if "Application startup complete" not in replica.log.read_text():  # this process, not another on the port
        return False
    try:
        return httpx.get(f"{replica.url}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


async def start_task(cluster: Cluster, replica: Replica, seconds: float) -> str:
    """Send `sleep <seconds>` to `replica` and return its task id once the run has said its stage."""
    async with agent_client(replica.url, cluster.tokens, streaming=False) as client:
        request = text_message(f"sleep {seconds}")
        request.configuration.return_immediately = True
        (task_id,) = [response.task.id async for response in client.send_message(request)]

        async def running() -> bool:
            task = await client.get_task(GetTaskRequest(id=task_id))
            return task.status.state == TaskState.TASK_STATE_WORKING and _text(task) == SLEEP_STAGE

        await eventually_async(running, what="the task running")
    return task_id


async def read_task(cluster: Cluster, replica: Replica, task_id: str) -> Task:
    async with agent_client(replica.url, cluster.tokens, streaming=False) as client:
        return await client.get_task(GetTaskRequest(id=task_id))


def _text(task: Task) -> str:
    return " ".join(part.text for part in task.status.message.parts)


async def lease_expiry(store_url: str, task_id: str) -> float | None:
    expiry = await _lease_column(store_url, task_id, LEASES.c.expires_at)
    return float(expiry) if isinstance(expiry, float | int) else None


async def lease_holder(store_url: str, task_id: str) -> str:
    return str(await _lease_column(store_url, task_id, LEASES.c.holder))


async def _lease_column(store_url: str, task_id: str, column: ColumnElement[Any]) -> object:
    engine = create_database_engine(store_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(column).where(LEASES.c.task_id == task_id))).scalar()
    finally:
        await engine.dispose()


async def test_a_task_running_on_one_replica_keeps_its_lease_past_its_term_and_another_replica_starting(
    cluster: Cluster,
) -> None:
    with replicas(cluster, cluster.ports[:1]) as (first,):
        task_id = await start_task(cluster, first, 300)
        first_expiry = await lease_expiry(cluster.store_url, task_id)
        assert first_expiry is not None
        with replicas(cluster, cluster.ports[1:]) as (second,):
            # The second replica swept at start-up (before it served) and sweeps every LEASE / 2 since.
            watched_from = time.time()
            states: list[int] = []

            async def renewed_twice() -> bool:
                task = await read_task(cluster, second, task_id)
                states.append(task.status.state)
                expiry = await lease_expiry(cluster.store_url, task_id)
                return expiry is not None and expiry > first_expiry + 2 * LEASE and time.time() > watched_from + LEASE

            await eventually_async(renewed_twice, timeout=30, interval=0.2, what="the lease renewed past its term")
            task = await read_task(cluster, second, task_id)

    assert set(states) == {TaskState.TASK_STATE_WORKING}
    assert (task.status.state, _text(task)) == (TaskState.TASK_STATE_WORKING, SLEEP_STAGE)


async def test_a_replica_killed_mid_task_has_its_task_failed_by_another_saying_to_send_it_again(
    cluster: Cluster,
) -> None:
    port = cluster.ports[0]
    # Two processes on one port (SRE_REUSE_PORT): the kernel gives the task to either of them.
    with replicas(cluster, (port, port)) as both:
        task_id = await start_task(cluster, both[0], 120)
        holder = await lease_holder(cluster.store_url, task_id)
        (running,) = [replica for replica in both if f"-{replica.process.pid}-" in holder]
        running.process.kill()  # SIGKILL: no clean-up; its lease stays behind

        async def failed() -> Task | None:
            task = await read_task(cluster, both[0], task_id)  # the same URL: now the survivor
            return task if task.status.state == TaskState.TASK_STATE_FAILED else None

        # A connection the kernel had queued for the killed process is reset: a client tries again.
        task = await eventually_async(
            failed, timeout=4 * LEASE, interval=0.2, what="the task failed", ignoring=(A2AClientError,)
        )
        assert task is not None
        assert [replica.process.poll() is None for replica in both].count(True) == 1

    assert _text(task) == INTERRUPTED_MESSAGE
    assert await lease_expiry(cluster.store_url, task_id) is None


async def test_a_frozen_replicas_task_is_failed_only_once_its_lease_has_expired(cluster: Cluster) -> None:
    with replicas(cluster, cluster.ports) as (first, second):
        task_id = await start_task(cluster, first, 120)
        expiry = await lease_expiry(cluster.store_url, task_id)
        first.process.send_signal(signal.SIGSTOP)  # alive, but renewing nothing
        assert expiry is not None

        states: list[tuple[float, int]] = []

        async def failed() -> Task | None:
            task = await read_task(cluster, second, task_id)
            states.append((time.time(), task.status.state))
            return task if task.status.state == TaskState.TASK_STATE_FAILED else None

        task = await eventually_async(failed, timeout=6 * LEASE, interval=0.2, what="the task failed")
        assert task is not None

    assert _text(task) == INTERRUPTED_MESSAGE
    # Working for as long as the lease held; failed only after it expired.
    assert all(state == TaskState.TASK_STATE_WORKING for at, state in states if at < expiry)
    assert states[-1][0] >= expiry


async def test_a_conversation_begun_on_one_replica_continues_on_another(cluster: Cluster) -> None:
    with replicas(cluster, cluster.ports) as (first, second):
        async with agent_client(first.url, cluster.tokens, streaming=False) as client:
            (begun,) = [response.task async for response in client.send_message(text_message("sleep 0.5"))]
        async with agent_client(second.url, cluster.tokens, streaming=False) as client:
            follow_up = text_message("sleep 0", context_id=begun.context_id)
            (continued,) = [response.task async for response in client.send_message(follow_up)]

    assert (begun.status.state, continued.status.state) == (TaskState.TASK_STATE_COMPLETED,) * 2
    assert continued.context_id == begun.context_id
    # The second replica read the conversation's last result from the shared session store.
    assert result_of(continued)[0] == {"slept": 0.0, "before": 0.5}


async def test_a_full_queue_is_429_with_retry_after_and_a_peer_sees_backend_unavailable(cluster: Cluster) -> None:
    with replicas(cluster, cluster.ports[:1], max_concurrent=1, max_queued=1) as (replica,):
        running = await start_task(cluster, replica, 60)
        async with agent_client(replica.url, cluster.tokens, streaming=False) as client:
            request = text_message("sleep 60")
            request.configuration.return_immediately = True
            (queued,) = [response.task.id async for response in client.send_message(request)]
        assert (await read_task(cluster, replica, queued)).status.state == TaskState.TASK_STATE_SUBMITTED

        token = await cluster.tokens.token(replica.url, [AGENTS_INVOKE])
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"messageId": "m-3", "role": "ROLE_USER", "parts": [{"text": "sleep 1"}]}},
        }
        refused = httpx.post(
            replica.url + "/",
            json=body,
            headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
            timeout=10.0,
        )

        async with create_http_client(timeout=10.0) as http:
            peers = Peers(tokens=cluster.tokens, http=http, registry_url=cluster.auth.issuer, own_name="caller")
            with pytest.raises(BackendUnavailable) as raised:
                await peers.start("sleepy", replica.url, {"question": "sleep 1"})
        # Reading tasks is not queued.
        assert (await read_task(cluster, replica, running)).status.state == TaskState.TASK_STATE_WORKING
        metrics_token = await cluster.tokens.token(replica.url)
        metrics = httpx.get(f"{replica.url}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}).text

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "queue_full"
    assert "max_queued_tasks = 1" in refused.json()["error_description"]
    assert raised.value.status_code == 429
    assert raised.value.retry_after_seconds is not None
    assert raised.value.retry_after_seconds >= 1
    assert 'sre_agent_tasks{component="sleepy",state="running"} 1.0' in metrics
    assert 'sre_agent_tasks{component="sleepy",state="waiting"} 1.0' in metrics
