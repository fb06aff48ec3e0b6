"""An alert storm: distinct alert groups posted to the router's webhook at once (issue 11, "Done when").

Every post answers 202 (never a 5xx) at once -- the router records the delivery and sends it to
triage in the background, so no post waits for triage to create its task --, every group maps to
exactly one task, and every task ends (completed, or failed for the groups whose investigation
fails on purpose): none stays submitted or working.
The triage here is the stand-in served by `a2a_app` (the real agent runtime, SQLite task store);
bench/alert_storm.py posts 200 groups to the real federation.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support.eventually import eventually
from support.router_federation import FAIL_WORD, Federation, alert, webhook_payload

from agents.router.dispatch import dedup_hash

pytestmark = pytest.mark.integration

GROUPS = 50
DEADLINE_SECONDS = 60.0
#: The slowest answer accepted: under ROUTER_PEER_TIMEOUT_SECONDS (conftest), which a post waiting for triage could
#: reach, with room for a loaded machine handling 50 posts at once on two cores.
ANSWERED_WITHIN_SECONDS = 3.0
ENDED = {"completed", "failed"}


def storm_payload(number: int, run: str) -> dict[str, Any]:
    fired = alert(instance=f"pod-{number}")
    if number % 3 == 0:
        fired["annotations"]["description"] = FAIL_WORD  # the stand-in fails these investigations
    return webhook_payload(fired, group_key=f'{{}}:{{alertname="HighErrorRate", storm="{run}", n="{number}"}}')


def test_a_storm_of_distinct_alert_groups_gets_one_task_each_and_every_task_ends(fed: Federation) -> None:
    run = uuid.uuid4().hex
    payloads = [storm_payload(number, run) for number in range(GROUPS)]
    headers = fed.headers()
    fed.settled()
    before = len(fed.triage.inputs())

    with ThreadPoolExecutor(max_workers=GROUPS) as pool:
        timed = list(pool.map(lambda payload: post(fed, payload, headers), payloads))

    responses = [response for response, _ in timed]
    slowest = max(seconds for _, seconds in timed)
    assert slowest < ANSWERED_WITHIN_SECONDS, f"the slowest post was answered in {slowest:.1f} s"
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] * GROUPS, [response.text for response in responses if response.status_code != 202][:3]
    task_ids = [response.json()["tasks"][0]["id"] for response in responses]
    assert len(set(task_ids)) == GROUPS
    assert tasks_per_group(fed, [payload["groupKey"] for payload in payloads]) == [1] * GROUPS

    states = wait_until_all_end(fed, task_ids, headers)
    assert states.count("failed") == len(range(0, GROUPS, 3))
    assert states.count("completed") == GROUPS - states.count("failed")
    assert len(fed.triage.inputs()) - before == GROUPS


def post(fed: Federation, payload: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, float]:
    """The answer, and how long it took (the connection included)."""
    # One client per request: the storm arrives on many connections, as from many Alertmanager retries.
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        began = time.monotonic()
        response = http.post(f"{fed.url}/webhooks/alertmanager", json=payload, headers=headers)
        return response, time.monotonic() - began


def tasks_per_group(fed: Federation, group_keys: list[str]) -> list[int]:
    groups = [dedup_hash("caller", "alertmanager-group", key) for key in group_keys]
    with sqlite3.connect(fed.router_data / "router-tasks.db") as db:
        counts = dict(db.execute("SELECT dedup_group, count(*) FROM router_tasks GROUP BY dedup_group").fetchall())
    return [counts.get(group, 0) for group in groups]


def wait_until_all_end(fed: Federation, task_ids: list[str], headers: dict[str, str]) -> list[str]:
    states: dict[str, str] = {}

    def all_ended() -> bool:
        for task_id in task_ids:
            if states.get(task_id) not in ENDED:
                response = fed.get(f"/tasks/{task_id}", headers)
                assert response.status_code == 200, response.text
                states[task_id] = response.json()["state"]
        return all(state in ENDED for state in states.values())

    eventually(
        all_ended,
        timeout=DEADLINE_SECONDS,
        interval=0.2,
        what=lambda: f"every task to end; these have not: {sorted(s for s in states.values() if s not in ENDED)}",
    )
    return [states[task_id] for task_id in task_ids]
