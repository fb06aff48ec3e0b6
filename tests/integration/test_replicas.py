"""Two router replicas on one PostgreSQL under a storm, one killed mid-storm: nothing lost, nothing done twice.

Real processes and transports throughout: a registry (`sre serve registry`), two routers (`sre serve router`, as
`sre up` starts one) whose task stores are one PostgreSQL database, in front of the stand-in triage agent of
`support.router_federation` (served over A2A in this process, its own SQLite task store): the real triage's
investigations are not what is tested here, the routers' claims and de-duplication are.

Sixty Alertmanager groups are posted over about thirty seconds, each to both routers at once (Alertmanager in HA
sends every notification from each instance); a third of the way in one router is killed with SIGKILL and the
rest go to the survivor only (as a load balancer would send them). Then, from the databases: every group has
exactly one router task, every task ended (started at triage and completed there), no group was started twice at
triage (one A2A task per router task's context), nothing is left pending.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from support.eventually import eventually
from support.postgres import PostgresProcess
from support.router_federation import Federation, alert, federation, wait_until_registered, webhook_payload
from support.served import ServedComponent

from agents.router.dispatch import dedup_hash
from agents.router.settings import BASIC_OWNER
from common.database import create_database_engine

pytestmark = pytest.mark.integration

GROUPS = 60
STORM_SECONDS = 30.0
KILL_AT = GROUPS // 3
LEASE_SECONDS = 3
#: From the storm's end, how long every task has to end (leases of the dead replica run out well within it).
DRAIN_SECONDS = 30.0


@pytest.fixture
def replicas(postgres: PostgresProcess, tmp_path: Path) -> Iterator[tuple[Federation, ServedComponent]]:
    url = postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")
    settings = {
        "ROUTER_TASK_STORE_URL": url,
        "ROUTER_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        "ROUTER_DELIVERY_POLL_SECONDS": "0.5",
    }
    with federation(tmp_path, **settings) as fed:
        # The second replica: the first's settings but its port, behind the same public URL (a load balancer's),
        # started once the first has created the tables.
        env = {key: value for key, value in fed.router.env.items() if key != "SRE_PORT"}
        env["SRE_PUBLIC_URL"] = fed.router.url
        logs = tmp_path / "second-router-logs"
        logs.mkdir()
        with ServedComponent("router", env, logs) as second:
            wait_until_registered(fed, "router")
            yield fed, second


def test_two_routers_on_one_postgresql_record_and_start_each_group_once_when_one_is_killed_mid_storm(
    replicas: tuple[Federation, ServedComponent], postgres: PostgresProcess
) -> None:
    fed, second = replicas
    store_url = fed.router.env["ROUTER_TASK_STORE_URL"]
    groups = [f'{{}}:{{alertname="HighErrorRate", storm="{uuid.uuid4().hex}"}}' for _ in range(GROUPS)]
    routers = [fed.router.url, second.url]
    answers: list[Any] = []

    with ThreadPoolExecutor(max_workers=16) as pool, httpx.Client(timeout=10.0, auth=fed.basic) as http:

        def post(router: str, group: str) -> int | str:
            payload = webhook_payload(alert(), group_key=group)
            try:
                return http.post(f"{router}/webhooks/alertmanager", json=payload).status_code
            except httpx.TransportError as exc:  # the killed replica
                return type(exc).__name__

        started = time.monotonic()
        for n, group in enumerate(groups):
            if n == KILL_AT:
                os.kill(fed.router.pid, signal.SIGKILL)
                routers = [second.url, second.url]
            answers.append([pool.submit(post, router, group) for router in routers])
            time.sleep(max(0.0, started + (n + 1) * STORM_SECONDS / GROUPS - time.monotonic()))
        answers = [[copy.result() for copy in copies] for copies in answers]

    # Every group was accepted by a live replica at least once (the other copy is a duplicate or hit the dead one).
    assert all(any(status in (200, 202) for status in copies) for copies in answers), answers
    assert all(status in (200, 202) for copies in answers[KILL_AT + 1 :] for status in copies), answers

    wanted = {dedup_hash(BASIC_OWNER, "alertmanager-group", group) for group in groups}

    def ended() -> list[dict[str, Any]] | None:
        rows = [row for row in _rows(store_url) if row["dedup_group"] in wanted]
        return rows if all(row["delivery"] in ("started", "failed") for row in rows) else None

    rows = eventually(
        ended,
        timeout=DRAIN_SECONDS,
        what=lambda: f"every router task to leave pending:\n{second.log_tail()}",
    )
    per_group = {group: [row for row in rows if row["dedup_group"] == group] for group in wanted}
    assert {group: len(tasks) for group, tasks in per_group.items() if len(tasks) != 1} == {}
    assert [row["failure"] for row in rows if row["delivery"] != "started"] == []

    triage_tasks = _triage_tasks(fed)
    contexts = [context for context, _ in triage_tasks]
    for row in rows:
        assert contexts.count(row["id"]) == 1, f"router task {row['id']} was started {contexts.count(row['id'])}x"
        assert row["a2a_context_id"] == row["id"]
    eventually(
        lambda: all(state == "TASK_STATE_COMPLETED" for _, state in _triage_tasks(fed)),
        timeout=DRAIN_SECONDS,
        what=lambda: f"every triage task to complete: {_triage_tasks(fed)}",
    )
    assert len(triage_tasks) == GROUPS


def _rows(url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = create_database_engine(url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    text("SELECT id, dedup_group, delivery, failure, a2a_context_id FROM router_tasks")
                )
                return [dict(row) for row in result.mappings()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _triage_tasks(fed: Federation) -> list[tuple[str, str]]:
    """(context id, state) of every task the stand-in triage holds."""
    with sqlite3.connect(fed.router_data.parent / "agents" / "triage-tasks.db") as db:
        rows = db.execute("SELECT context_id, status FROM tasks").fetchall()
    return [(context, _state(status)) for context, status in rows]


def _state(status: str) -> str:
    return str(json.loads(status).get("state", ""))
