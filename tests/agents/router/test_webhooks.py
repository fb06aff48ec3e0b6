"""The router's webhooks, served by `sre serve router`: each new delivery is answered at once and started once.

A delivery is recorded and answered 202 before triage is asked; triage missing or down delays it (the task reads
`submitted`), a router restart does not lose it, and it reaches triage exactly once.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.eventually import eventually
from support.router_federation import FAIL_WORD, STAGE, Federation, alert, wait_until_registered, webhook_payload

pytestmark = pytest.mark.integration


def group() -> str:
    return f'{{}}:{{alertname="HighErrorRate", run="{uuid.uuid4().hex}"}}'


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def deployment(**changes: Any) -> dict[str, Any]:
    return {
        "service": "checkout",
        "namespace": "shop",
        "deployment_id": uuid.uuid4().hex,
        "status": "failed",
        "version": "v2.4.1",
        "at": "2026-11-03T10:00:00Z",
        **changes,
    }


def test_a_new_alertmanager_delivery_starts_one_triage_task_with_the_payload_as_received(fed: Federation) -> None:
    payload = webhook_payload(alert(), group_key=group())
    fed.token()  # the caller's own token request is not the router's latency

    started = time.monotonic()
    response = fed.post("/webhooks/alertmanager", payload)
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.text
    body = response.json()
    (task,) = body["tasks"]
    assert body["duplicate"] is False
    assert task["agent"] == "triage"
    assert task["url"] == f"{fed.url}/tasks/{task['id']}"
    assert elapsed < 1.0
    (received,) = fed.triage.wait_for_input_with(payload["groupKey"])
    assert received["alerts"] == payload["alerts"]
    assert received["commonLabels"] == payload["commonLabels"]
    callers = [caller for caller, value in fed.triage.agent.received if value is received]
    assert callers == ["router"]  # the router's own token, not the caller's


def test_a_resend_answers_the_started_task_and_starts_nothing(fed: Federation) -> None:
    payload = webhook_payload(alert(), group_key=group())
    first = fed.post("/webhooks/alertmanager", payload)
    fed.triage.wait_for_input_with(payload["groupKey"])

    again = fed.post("/webhooks/alertmanager", payload)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"tasks": first.json()["tasks"], "duplicate": True}
    fed.settled()  # every delivery the router recorded has reached its stand-in
    assert len(fed.triage.inputs_with(payload["groupKey"])) == 1


def state_of(fed: Federation, task_id: str) -> str:
    return str(fed.get(f"/tasks/{task_id}").json()["state"])


def test_a_resend_after_the_investigation_failed_starts_a_new_one_which_the_group_maps_to(fed: Federation) -> None:
    """Checklist row 45: only running or completed investigations de-duplicate."""
    failing = alert()
    failing["annotations"]["description"] = FAIL_WORD  # the stand-in fails on it
    payload = webhook_payload(failing, group_key=group())
    first = fed.post("/webhooks/alertmanager", payload)
    (failed,) = first.json()["tasks"]
    fed.wait_for_state(failed["id"], "failed")

    with fed.gate.closed():  # the new investigation stays running meanwhile
        again = fed.post("/webhooks/alertmanager", payload)
        (retried,) = again.json()["tasks"]
        fed.wait_for_state(retried["id"], "working")
        once_more = fed.post("/webhooks/alertmanager", payload)

    assert (first.status_code, again.status_code, once_more.status_code) == (202, 202, 200), again.text
    assert again.json()["duplicate"] is False
    assert retried["id"] != failed["id"]
    assert once_more.json() == {"tasks": [retried], "duplicate": True}
    assert state_of(fed, failed["id"]) == "failed"  # the failed one stays readable


def test_concurrent_copies_of_one_delivery_start_one_task(fed: Federation) -> None:
    payload = webhook_payload(alert(), group_key=group())
    headers = fed.headers()
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: fed.post("/webhooks/alertmanager", payload, headers), range(6)))

    assert sorted(response.status_code for response in responses) == [200] * 5 + [202]
    assert len({response.json()["tasks"][0]["id"] for response in responses}) == 1


def test_a_new_alert_in_the_group_is_a_new_incident(fed: Federation) -> None:
    key = group()
    first = fed.post("/webhooks/alertmanager", webhook_payload(alert(), group_key=key))
    grown = fed.post("/webhooks/alertmanager", webhook_payload(alert(), alert(pod="checkout-2"), group_key=key))

    assert (first.status_code, grown.status_code) == (202, 202)
    assert first.json()["tasks"][0]["id"] != grown.json()["tasks"][0]["id"]


def test_a_resolved_group_starts_nothing_and_firing_again_is_a_new_incident(fed: Federation) -> None:
    key = group()
    first = fed.post("/webhooks/alertmanager", webhook_payload(alert(), group_key=key))

    resolved = fed.post("/webhooks/alertmanager", webhook_payload(alert(status="resolved"), group_key=key))
    refired = fed.post("/webhooks/alertmanager", webhook_payload(alert(), group_key=key))

    assert resolved.status_code == 200
    assert resolved.json() == {"tasks": [], "duplicate": False, "ignored": "resolved"}
    assert refired.status_code == 202
    assert refired.json()["tasks"][0]["id"] != first.json()["tasks"][0]["id"]
    assert len(fed.triage.wait_for_input_with(key, count=2)) == 2  # the first incident's, and the new one's


def test_a_deployment_event_starts_triage_with_a_typed_payload_once(fed: Federation) -> None:
    event = deployment()

    first = fed.post("/webhooks/deployment", event)
    again = fed.post("/webhooks/deployment", event)
    rolled_back = fed.post("/webhooks/deployment", {**event, "status": "rolled_back"})

    assert (first.status_code, again.status_code, rolled_back.status_code) == (202, 200, 202)
    assert again.json()["tasks"] == first.json()["tasks"]
    received = fed.triage.wait_for_input_with(event["deployment_id"], count=2)
    assert {"type": "deployment", **event} in received
    task = fed.get(f"/tasks/{first.json()['tasks'][0]['id']}").json()
    assert task["trigger"] == {"kind": "deployment", "summary": "Deployment of shop/checkout v2.4.1 failed"}


@pytest.mark.parametrize(
    ("change", "field"),
    [({"status": "succeeded"}, "status"), ({"service": ""}, "service"), ({"team": "payments"}, "team")],
)
def test_a_malformed_deployment_event_is_422_naming_the_field(
    fed: Federation, change: dict[str, Any], field: str
) -> None:
    response = fed.post("/webhooks/deployment", deployment(**change))

    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "3"}, "version"),
        ({"alerts": "not a list"}, "alerts"),
        ({"alerts": []}, "alerts"),
        ({"groupKey": None}, "groupKey"),
        ({"alerts": [{"labels": {"alertname": "X"}}]}, "alerts.0.status"),
    ],
)
def test_a_malformed_alertmanager_payload_is_422_naming_the_field(
    fed: Federation, change: dict[str, Any], field: str
) -> None:
    response = fed.post("/webhooks/alertmanager", {**webhook_payload(group_key=group()), **change})

    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


def test_more_alerts_than_the_limit_is_413_naming_it(fed: Federation) -> None:
    alerts = [alert(pod=f"checkout-{i}") for i in range(1001)]

    response = fed.post("/webhooks/alertmanager", webhook_payload(*alerts, group_key=group()))

    assert response.status_code == 413
    assert "at most 1000" in response.json()["error_description"]


def test_an_oversized_body_is_413_before_parsing(fed: Federation) -> None:
    body = b'{"version": "4", "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    response = fed.http.post(
        f"{fed.url}/webhooks/alertmanager", content=body, headers={**fed.headers(), "Content-Type": "application/json"}
    )

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content", "content_type"), [(b'{"version": "4",', "application/json"), (b"{}", "text/plain")]
)
def test_truncated_json_or_another_content_type_is_400(fed: Federation, content: bytes, content_type: str) -> None:
    response = fed.http.post(
        f"{fed.url}/webhooks/alertmanager", content=content, headers={**fed.headers(), "Content-Type": content_type}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_basic_credentials_start_a_task_owned_by_the_basic_user(fed: Federation) -> None:
    response = fed.post("/webhooks/deployment", deployment(), headers=basic(*fed.basic))

    assert response.status_code == 202, response.text
    task_id = response.json()["tasks"][0]["id"]
    # Bearer callers do not see it: it belongs to `webhook-basic`.
    assert fed.get(f"/tasks/{task_id}").status_code == 404


@pytest.mark.parametrize(
    "credentials",
    [("alertmanager", "wrong"), ("someone", "s3cret-basic-password"), ("alertmanager", ""), ("", "")],
)
def test_wrong_basic_credentials_are_401_with_both_challenges(fed: Federation, credentials: tuple[str, str]) -> None:
    key = group()

    response = fed.post("/webhooks/alertmanager", webhook_payload(group_key=key), headers=basic(*credentials))

    assert response.status_code == 401
    assert 'Basic realm="agent"' in response.headers["www-authenticate"]
    assert fed.triage.inputs_with(key) == []


def test_no_credentials_on_a_webhook_is_401_offering_bearer_and_basic(fed: Federation) -> None:
    response = fed.post("/webhooks/deployment", deployment(), headers={})

    assert response.status_code == 401
    challenges = response.headers.get_list("www-authenticate")
    assert any(c.startswith("Bearer") for c in challenges)
    assert any(c.startswith("Basic") for c in challenges)


def test_malformed_basic_header_is_401(fed: Federation) -> None:
    response = fed.post("/webhooks/deployment", deployment(), headers={"Authorization": "Basic !!!not-base64"})

    assert response.status_code == 401


def wait_for_log(fed: Federation, text: str, timeout: float = 20.0) -> None:
    eventually(
        lambda: text in fed.router.log_text(),
        timeout=timeout,
        what=lambda: f"{text!r} in the router's log:\n{fed.router.log_tail()}",
    )


def stream_events(fed: Federation, task_id: str, into: list[tuple[str, Any]]) -> None:
    with fed.http.stream("GET", f"{fed.url}/tasks/{task_id}/stream", headers=fed.headers(), timeout=60) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                into.append((name, json.loads(line.removeprefix("data: "))))


def test_a_delivery_waits_while_triage_is_missing_or_down_and_starts_once_when_it_is_back(fed: Federation) -> None:
    missing_event, down_payload = deployment(), webhook_payload(group_key=group())
    streamed: list[tuple[str, Any]] = []
    with fed.gate.closed():  # the investigations stay working until the stream has seen them so
        try:
            fed.deregister("triage")
            began = time.monotonic()
            missing = fed.post("/webhooks/deployment", missing_event)
            fed.register(fed.triage.spec, "http://127.0.0.1:9/")  # a port nothing listens on
            down = fed.post("/webhooks/alertmanager", down_payload)
            answered = time.monotonic() - began
            task_ids = [response.json()["tasks"][0]["id"] for response in (missing, down)]
            waiting = [fed.get(f"/tasks/{task_id}").json() for task_id in task_ids]
            for task_id in task_ids:  # each was tried, and will be again
                wait_for_log(fed, f"Router task {task_id} waits for the triage agent")
            follower = threading.Thread(target=stream_events, args=(fed, task_ids[1], streamed))
            follower.start()
        finally:
            fed.register(fed.triage.spec, fed.triage.url)
        views = [fed.wait_while_submitted(task_id) for task_id in task_ids]
        working = ("status", {"state": "working", "message": STAGE})
        eventually(lambda: working in streamed, what=lambda: f"{working} among the streamed events {streamed}")
    follower.join(30)

    assert (missing.status_code, down.status_code) == (202, 202), (missing.text, down.text)
    assert answered < 4.0  # two posts, neither waiting for triage
    assert [view["state"] for view in waiting] == ["submitted", "submitted"]
    assert all("Waiting for the triage agent" in view["message"] for view in waiting)
    assert [view["state"] for view in views] == ["working", "working"]
    # Each reached triage exactly once, as sent.
    assert fed.triage.wait_for_input_with(missing_event["deployment_id"]) == [{"type": "deployment", **missing_event}]
    assert fed.triage.wait_for_input_with(down_payload["groupKey"]) == [down_payload]
    assert streamed[0] == ("status", {"state": "submitted", "message": waiting[1]["message"]})
    assert streamed[-1] == ("done", {"state": "completed"})


def test_a_pending_delivery_is_started_after_the_router_restarts(fed: Federation) -> None:
    event = deployment()
    try:
        fed.register(fed.triage.spec, "http://127.0.0.1:9/")
        response = fed.post("/webhooks/deployment", event)
        assert response.status_code == 202, response.text
        task_id = response.json()["tasks"][0]["id"]
        wait_for_log(fed, f"Router task {task_id} waits for the triage agent")
        fed.router.stop()
    finally:
        fed.register(fed.triage.spec, fed.triage.url)
        if not fed.router.running:
            fed.router.start()
    wait_until_registered(fed, "router")

    view = fed.wait_while_submitted(task_id)

    assert view["state"] in ("working", "completed"), view
    assert fed.triage.wait_for_input_with(event["deployment_id"]) == [{"type": "deployment", **event}]
    # Claimed before the stop (triage was down) and again by the restarted router, which found it in its store.
    with sqlite3.connect(fed.router_data / "router-tasks.db") as db:
        (attempts,) = db.execute("SELECT attempts FROM router_tasks WHERE id = ?", (task_id,)).fetchone()
    assert attempts >= 2


def test_logs_hold_no_credentials(fed: Federation) -> None:
    fed.post("/webhooks/deployment", deployment(), headers=basic(*fed.basic))
    fed.post("/webhooks/deployment", deployment())
    log = fed.router.log_text()

    assert fed.basic[1] not in log
    assert fed.token() not in log
    assert fed.token().split(".")[2] not in log


def test_the_basic_user_is_a_separate_owner_from_bearer_callers(fed: Federation) -> None:
    # The same deployment from two owners is two incidents: one caller's deliveries never answer another's.
    event = deployment()
    by_token = fed.post("/webhooks/deployment", event)
    by_basic = fed.post("/webhooks/deployment", event, headers=basic(*fed.basic))

    assert (by_token.status_code, by_basic.status_code) == (202, 202)
