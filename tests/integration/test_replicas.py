"""Two routers and two triage replicas on one PostgreSQL under a storm, one of each killed mid-storm: nothing
lost, nothing done twice.

Real processes and transports throughout: a registry (`sre serve registry`) with its authorization server, two
routers (`sre serve router`, as `sre up` starts one) whose task stores are one PostgreSQL database, and two
replicas of an agent on `a2a_app` (`support.replica_agent`: the stand-in's slow agent, each run sleeping the
second its alert asks for) sharing one port (SO_REUSEPORT, as behind a load balancer) and one task store in
another database of that PostgreSQL, registered as the routers' triage agent. The real triage's investigations are
not what is tested here: the routers' claims and de-duplication, and the agent replicas' task leases, are.

Sixty Alertmanager groups are posted over about thirty seconds, each to both routers at once (Alertmanager in HA
sends every notification from each instance). A third of the way in one router is killed with SIGKILL and the
rest go to the survivor only (as a load balancer would send them); half-way one triage replica is killed with
SIGKILL. Then, from the databases: every group has exactly one router task, every router task was started at
triage in its own context exactly once (no investigation started twice), and every triage task ended: completed,
or failed with the reason the surviving replica gives a task whose replica died; nothing is left pending or
running.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from support.backends import free_port
from support.eventually import eventually
from support.postgres import PostgresProcess
from support.replica_agent import SPEC as TRIAGE_SPEC
from support.router_federation import Federation, alert, federation, wait_until_registered, webhook_payload
from support.served import ServedComponent

from agents.router.dispatch import dedup_hash
from agents.router.settings import BASIC_OWNER
from common.agents.watchdog import INTERRUPTED_MESSAGE
from common.database import create_database_engine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GROUPS = 60
STORM_SECONDS = 30.0
KILL_ROUTER_AT = GROUPS // 3
KILL_TRIAGE_AT = GROUPS // 2
#: The routers' delivery leases and the triage replicas' task leases: a dead replica's work moves on after this.
LEASE_SECONDS = 3
#: From the storm's end, how long every task has to end.
DRAIN_SECONDS = 40.0
#: What each investigation takes at the stand-in triage: long enough to be running when its replica is killed.
RUN_SECONDS = 1


@dataclass
class Cluster:
    fed: Federation
    second_router: ServedComponent
    triage: list[subprocess.Popen[bytes]]
    routers_store: str
    triage_store: str


@pytest.fixture
def cluster(postgres: PostgresProcess, tmp_path: Path) -> Iterator[Cluster]:
    routers_store, triage_store = (postgres.create_database(f"{n}_{uuid.uuid4().hex[:8]}") for n in ("router", "a2a"))
    settings = {
        "ROUTER_TASK_STORE_URL": routers_store,
        "ROUTER_TRIAGE_AGENT": TRIAGE_SPEC.name,
        "ROUTER_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        "ROUTER_DELIVERY_POLL_SECONDS": "0.5",
        "ROUTER_GROUP_WAIT_SECONDS": "0",
    }
    with federation(tmp_path, **settings) as fed:
        # The second router: the first's settings but its port, behind the same public URL (a load balancer's),
        # started once the first has created the tables, while the triage replicas start.
        env = {key: value for key, value in fed.router.env.items() if key != "SRE_PORT"}
        env["SRE_PUBLIC_URL"] = fed.router.url
        logs = tmp_path / "second-router-logs"
        logs.mkdir()
        second = ServedComponent("router", env, logs)
        try:
            with ThreadPoolExecutor(1) as pool:
                second_started = pool.submit(second.start)
                with _triage_replicas(fed, triage_store, tmp_path) as triage:
                    second_started.result()
                    wait_until_registered(fed, "router")
                    yield Cluster(fed, second, triage, routers_store, triage_store)
        finally:
            second.stop()


@contextmanager
def _triage_replicas(fed: Federation, store_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two replicas of the stand-in triage on one port and one task store, registered as the routers' triage."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}",
        "REPLICA_PORT": str(port),
        "REPLICA_REUSE_PORT": "1",
        "REPLICA_TASK_STORE_URL": store_url,
        "REPLICA_ISSUER": fed.registry.url,
        "REPLICA_JWKS_URL": f"{fed.registry.url}/jwks.json",
        "REPLICA_DATA_DIR": str(tmp_path / "agents"),
        "REPLICA_LEASE_SECONDS": str(LEASE_SECONDS),
        "REPLICA_MAX_CONCURRENT_TASKS": "8",
        "REPLICA_MAX_QUEUED_TASKS": "100",
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"triage-{n}.log" for n in range(2)]
    try:
        for log in logs:  # one after the other: the first creates the tables
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "support.replica_agent"], env=env, cwd=ROOT, stdout=out, stderr=out
                    )
                )
            eventually(
                lambda log=log: "Application startup complete" in log.read_text(),
                timeout=120,
                what=lambda log=log: f"a triage replica serving:\n{log.read_text()[-3000:]}",
            )
        fed.register(TRIAGE_SPEC, f"http://127.0.0.1:{port}")
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def test_two_routers_and_two_triage_replicas_on_one_postgresql_start_each_group_once_when_one_of_each_is_killed(
    cluster: Cluster,
) -> None:
    fed, second = cluster.fed, cluster.second_router
    groups = [f'{{}}:{{alertname="HighErrorRate", storm="{uuid.uuid4().hex}"}}' for _ in range(GROUPS)]
    routers = [fed.router.url, second.url]
    answers: list[Any] = []

    with ThreadPoolExecutor(max_workers=16) as pool, httpx.Client(timeout=10.0, auth=fed.basic) as http:

        def post(router: str, group: str) -> int | str:
            paged = alert(storm=group)
            paged["annotations"]["runbook"] = f"sleep {RUN_SECONDS}"
            try:
                return http.post(
                    f"{router}/webhooks/alertmanager", json=webhook_payload(paged, group_key=group)
                ).status_code
            except httpx.TransportError as exc:  # the killed router
                return type(exc).__name__

        started = time.monotonic()
        for n, group in enumerate(groups):
            if n == KILL_ROUTER_AT:
                os.kill(fed.router.pid, signal.SIGKILL)
                routers = [second.url, second.url]
            if n == KILL_TRIAGE_AT:
                cluster.triage[0].kill()
            answers.append([pool.submit(post, router, group) for router in routers])
            time.sleep(max(0.0, started + (n + 1) * STORM_SECONDS / GROUPS - time.monotonic()))
        answers = [[copy.result() for copy in copies] for copies in answers]

    # Every group was accepted by a live router at least once (the other copy is a duplicate or hit the dead one).
    assert all(any(status in (200, 202) for status in copies) for copies in answers), answers
    assert all(status in (200, 202) for copies in answers[KILL_ROUTER_AT + 1 :] for status in copies), answers

    wanted = {dedup_hash(BASIC_OWNER, "alertmanager-group", group) for group in groups}

    def router_tasks_ended() -> list[dict[str, Any]] | None:
        rows = [row for row in _select(cluster.routers_store, ROUTER_TASKS) if row["dedup_group"] in wanted]
        return rows if rows and all(row["delivery"] in ("started", "failed") for row in rows) else None

    rows = eventually(
        router_tasks_ended,
        timeout=DRAIN_SECONDS,
        what=lambda: f"every router task to leave pending:\n{second.log_tail()}",
    )
    per_group = {group: [row for row in rows if row["dedup_group"] == group] for group in wanted}
    assert {group: len(tasks) for group, tasks in per_group.items() if len(tasks) != 1} == {}
    assert [row["failure"] for row in rows if row["delivery"] != "started"] == []

    def triage_tasks_ended() -> list[dict[str, Any]] | None:
        tasks = _select(cluster.triage_store, TRIAGE_TASKS)
        return tasks if all(_state(task) in ENDED for task in tasks) else None

    triage_tasks = eventually(
        triage_tasks_ended,
        timeout=DRAIN_SECONDS,
        what=lambda: f"every triage task to end: {[_state(t) for t in _select(cluster.triage_store, TRIAGE_TASKS)]}",
    )
    contexts = [task["context_id"] for task in triage_tasks]
    started_twice = {row["id"]: contexts.count(row["id"]) for row in rows if contexts.count(row["id"]) != 1}
    assert started_twice == {}
    assert len(triage_tasks) == GROUPS
    by_id = {task["id"]: task for task in triage_tasks}
    assert all(by_id[row["a2a_task_id"]]["context_id"] == row["id"] for row in rows)
    failed = [task for task in triage_tasks if _state(task) == "TASK_STATE_FAILED"]
    assert all(INTERRUPTED_MESSAGE in str(task["status"]) for task in failed), failed
    assert len(failed) < GROUPS // 4  # at most the killed replica's runs in flight


ROUTER_TASKS = "SELECT id, dedup_group, delivery, failure, a2a_task_id FROM router_tasks"
TRIAGE_TASKS = "SELECT id, context_id, status FROM tasks"
ENDED = ("TASK_STATE_COMPLETED", "TASK_STATE_FAILED")


def _select(url: str, query: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = create_database_engine(url)
        try:
            async with engine.connect() as connection:
                return [dict(row) for row in (await connection.execute(text(query))).mappings()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _state(task: dict[str, Any]) -> str:
    status = task["status"]
    return str((json.loads(status) if isinstance(status, str) else status).get("state", ""))
