"""Back-pressure: past ROUTER_MAX_PENDING_DELIVERIES waiting deliveries, a new webhook delivery is 429 with Retry-After.

The router here cannot reach triage (ROUTER_TRIAGE_URL is a port nobody listens on), so every
delivery it accepts stays pending until ROUTER_DELIVERY_MAX_AGE_SECONDS gives it up: the backlog
is exactly what was accepted. A re-send of a recorded delivery and a resolved group add nothing
to it and are still answered; once the backlog is worked off (here: given up), deliveries are
accepted again.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.backends import free_port
from support.eventually import eventually
from support.router_federation import Federation, alert, federation, webhook_payload

pytestmark = pytest.mark.integration

LIMIT = 3
MAX_AGE_SECONDS = 3.0


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    nobody = f"http://127.0.0.1:{free_port()}"
    with federation(
        tmp_path_factory.mktemp("router-backlog"),
        ROUTER_TRIAGE_URL=nobody,
        ROUTER_MAX_PENDING_DELIVERIES=str(LIMIT),
        ROUTER_DELIVERY_MAX_AGE_SECONDS=str(MAX_AGE_SECONDS),
    ) as started:
        yield started


def group(number: int, run: str, status: str = "firing") -> dict[str, object]:
    fired = alert(status=status, instance=f"pod-{number}")
    return webhook_payload(fired, group_key=f'{{}}:{{alertname="HighErrorRate", run="{run}", n="{number}"}}')


def pending(router_data: Path) -> int:
    with sqlite3.connect(router_data / "router-tasks.db") as db:
        return int(db.execute("SELECT count(*) FROM router_tasks WHERE delivery = 'pending'").fetchone()[0])


def test_a_full_backlog_refuses_new_deliveries_with_429_and_answers_the_rest(full: Federation) -> None:
    run = uuid.uuid4().hex
    accepted = [full.post("/webhooks/alertmanager", group(number, run)) for number in range(LIMIT)]
    assert [response.status_code for response in accepted] == [202] * LIMIT, [r.text for r in accepted]
    rows = full.router_rows()

    refused = full.post("/webhooks/alertmanager", group(LIMIT, run))
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"].isdigit()
    body = refused.json()
    assert body["error"] == "backlog_full"
    assert "ROUTER_MAX_PENDING_DELIVERIES=3" in body["error_description"]
    assert "retries" in body["error_description"]
    assert full.router_rows() == rows, "a refused delivery is not recorded"

    again = full.post("/webhooks/alertmanager", group(0, run))
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["tasks"][0]["id"] == accepted[0].json()["tasks"][0]["id"]
    resolved = full.post("/webhooks/alertmanager", group(1, run, status="resolved"))
    assert resolved.status_code == 200, resolved.text
    assert resolved.json() == {"tasks": [], "duplicate": False, "ignored": "resolved"}

    # Triage never answers: the deliveries are given up after MAX_AGE_SECONDS, and the backlog is empty again.
    eventually(lambda: pending(full.router_data) == 0, timeout=30, what="the pending deliveries to be given up")
    later = eventually(
        lambda: (
            response
            if (response := full.post("/webhooks/alertmanager", group(LIMIT, run))).status_code != 429
            else None
        ),
        timeout=10,
        what="the refused delivery to be accepted once the backlog is empty",
    )
    assert later.status_code == 202, later.text
