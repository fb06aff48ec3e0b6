"""An alert storm in reduced form (issue 14): 60 distinct groups over 30 s, each sent by both of an HA pair.

Alertmanager in HA sends every notification from each instance, so each group arrives twice at
the same moment. Every post is answered (202 for the copy that recorded the delivery, 200
`duplicate` with the same task for the other; never a 5xx) without waiting for triage -- the
router records the delivery and sends it in the background --, every group maps to exactly one
task in the router's record and one investigation at triage, and every task ends (completed, or
failed for the groups whose investigation fails on purpose): none stays submitted or working.
Those fail FAIL_LATER_SECONDS after they begin, after both copies are answered: a group re-sent
after its investigation failed is a new investigation (checklist row 45), so a failure between the
two copies (seen under load, when the second copy waited for a free worker) rightly makes two tasks.
The triage here is the stand-in served by `a2a_app` (the real agent runtime, SQLite task store);
bench/alert_storm.py runs the full storm (200 groups a minute for 5 minutes) on the real
federation and measures the 200 ms target, which a timed test on a shared machine cannot assert.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support.eventually import eventually
from support.router_federation import FAIL_LATER_SECONDS, FAIL_LATER_WORD, Federation, alert, webhook_payload

from agents.router.dispatch import dedup_hash

pytestmark = pytest.mark.integration

GROUPS = 60
STORM_SECONDS = 30.0
DEADLINE_SECONDS = 60.0
#: The slowest answer accepted: generous, for a two-core machine shared with other test runs, where the bench saw a
#: post take 3 to 5 s at a load average of 30; the bench measures the 200 ms p99 target on its own.
ANSWERED_WITHIN_SECONDS = 10.0
assert FAIL_LATER_SECONDS > ANSWERED_WITHIN_SECONDS
#: Every FAILING_EVERY-th group's investigation fails (each holds one of the stand-in's 4 runs for FAIL_LATER_SECONDS).
FAILING_EVERY = 10
ENDED = {"completed", "failed"}


def storm_payload(number: int, run: str) -> dict[str, Any]:
    fired = alert(instance=f"pod-{number}")
    if number % FAILING_EVERY == 0:
        fired["annotations"]["description"] = FAIL_LATER_WORD  # the stand-in fails these investigations
    return webhook_payload(fired, group_key=f'{{}}:{{alertname="HighErrorRate", storm="{run}", n="{number}"}}')


def test_a_sustained_storm_sent_by_an_ha_pair_gets_one_task_per_group_and_every_task_ends(fed: Federation) -> None:
    run = uuid.uuid4().hex
    payloads = [storm_payload(number, run) for number in range(GROUPS)]
    headers = fed.headers()
    fed.settled()
    before = len(fed.triage.inputs())

    answers = storm(fed, payloads, headers)

    slowest = max(seconds for pair in answers for _, seconds in pair)
    assert slowest < ANSWERED_WITHIN_SECONDS, f"the slowest post was answered in {slowest:.1f} s"
    for number, pair in enumerate(answers):
        statuses = sorted(response.status_code for response, _ in pair)
        assert statuses == [200, 202], (number, [response.text for response, _ in pair])
        ids = {response.json()["tasks"][0]["id"] for response, _ in pair}
        assert len(ids) == 1, f"group {number}'s two copies were answered with different tasks: {ids}"
        duplicate = next(response for response, _ in pair if response.status_code == 200)
        assert duplicate.json()["duplicate"] is True
    task_ids = [pair[0][0].json()["tasks"][0]["id"] for pair in answers]
    assert len(set(task_ids)) == GROUPS
    assert tasks_per_group(fed, [payload["groupKey"] for payload in payloads]) == [1] * GROUPS

    states = wait_until_all_end(fed, task_ids, headers)
    assert states.count("failed") == len(range(0, GROUPS, FAILING_EVERY))
    assert states.count("completed") == GROUPS - states.count("failed")
    assert len(fed.triage.inputs()) - before == GROUPS, "a group was investigated twice, or not at all"


def storm(
    fed: Federation, payloads: list[dict[str, Any]], headers: dict[str, str]
) -> list[list[tuple[httpx.Response, float]]]:
    """Post each payload twice at once (an HA pair), one group every STORM_SECONDS / len(payloads) seconds."""
    interval = STORM_SECONDS / len(payloads)
    answers: list[list[tuple[httpx.Response, float]]] = [[] for _ in payloads]
    lock = threading.Lock()
    began = time.monotonic()

    def send(number: int) -> None:
        time.sleep(max(0.0, began + number * interval - time.monotonic()))
        answer = post(fed, payloads[number], headers)
        with lock:
            answers[number].append(answer)

    # A thread per copy: both copies of a group are posted at their moment, neither waits for a free worker.
    with ThreadPoolExecutor(max_workers=2 * len(payloads)) as pool:
        for future in [pool.submit(send, number) for number in range(len(payloads)) for _ in range(2)]:
            future.result()
    return answers


def post(fed: Federation, payload: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, float]:
    """The answer, and how long it took (the connection included)."""
    # One client per request: each copy comes from another Alertmanager, on its own connection.
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
