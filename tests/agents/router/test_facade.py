"""The router's REST facade: starting work without A2A, following it as JSON and as Server-Sent Events."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from support.eventually import eventually
from support.openapi_conformance import check_conformance
from support.router_federation import STAGE, Federation, alert, wait_until_registered, webhook_payload

from agents.router.openapi import OPERATIONS

pytestmark = pytest.mark.integration


def task_of(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    (task,) = response.json()["tasks"]
    return str(task["id"])


def events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The named events of an SSE stream; a comment line is ("comment", {"text": ...})."""
    name = None
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", {"text": line[1:].strip()}
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


def test_execute_routes_a_question_to_the_skill_that_fits_with_its_context(fed: Federation) -> None:
    seen = len(fed.capacity.inputs())
    body = {"user_query": "When will checkout run out of memory?", "context": {"service": "checkout"}}

    response = fed.post("/execute", body)

    assert response.json()["tasks"][0]["agent"] == "capacity"
    view = fed.wait_for_state(task_of(response), "completed")
    received = {"question": body["user_query"], "service": "checkout"}
    assert fed.capacity.wait_for_inputs(seen + 1)[seen] == received
    assert view["result"] == {"agent": "capacity", "received": received}
    assert view["trigger"] == {"kind": "question", "summary": body["user_query"]}


def test_execute_without_a_matching_skill_is_422_listing_the_skills(fed: Federation) -> None:
    response = fed.post("/execute", {"user_query": "Sing me a song"})

    assert response.status_code == 422
    described = response.json()["error_description"]
    assert "`capacity-forecast` (capacity)" in described
    assert "`triage-investigate` (triage)" in described
    assert "`route`" not in described  # the router does not route to itself


def test_execute_refuses_unknown_fields(fed: Federation) -> None:
    response = fed.post("/execute", {"user_query": "capacity of checkout", "agent": "capacity"})

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["agent"]


def test_a_task_reads_working_then_completed_with_its_result_and_markdown(fed: Federation) -> None:
    with fed.gate.closed():
        task_id = task_of(fed.post("/diagnostics/deployment", {"service": "checkout", "status": "failed"}))
        working = fed.wait_for_state(task_id, "working")
        assert working["message"] == STAGE
        assert (working["result"], working["markdown"]) == (None, None)

    done = fed.wait_for_state(task_id, "completed")

    assert done["id"] == task_id
    assert done["agent"] == "triage"
    assert done["result"] == {
        "agent": "triage",
        "received": {"type": "deployment", "service": "checkout", "status": "failed"},
    }
    assert done["markdown"] == "## triage\n\nDone."
    assert done["trigger"] == {"kind": "deployment", "summary": "Deployment of checkout failed"}
    assert done["created_at"] <= done["updated_at"]


def test_another_clients_task_is_404_like_an_unknown_one(fed: Federation) -> None:
    task_id = task_of(fed.post("/diagnostics/deployment", {"service": "checkout", "status": "failed"}))
    stranger = {"Authorization": f"Bearer {fed.forge('stranger')}"}

    theirs = fed.get(f"/tasks/{task_id}", headers=stranger)
    unknown = fed.get(f"/tasks/{uuid.uuid4().hex}")
    their_stream = fed.get(f"/tasks/{task_id}/stream", headers=stranger)

    assert theirs.status_code == unknown.status_code == their_stream.status_code == 404
    assert theirs.json()["error"] == unknown.json()["error"] == "not_found"
    assert fed.get(f"/tasks/{task_id}").status_code == 200


def test_bare_alerts_are_wrapped_into_a_webhook_payload_for_triage(fed: Federation) -> None:
    fed.settled()  # no earlier delivery arrives among this test's
    seen = len(fed.triage.inputs())
    bare = {"labels": {"alertname": "HighLatency", "service": "checkout"}, "annotations": {"summary": "p99 high"}}
    api_v2 = {
        "labels": {"alertname": "HighLatency", "service": "checkout", "pod": "p-2"},
        "status": {"state": "active"},
    }

    response = fed.post("/diagnostics/alerts", {"alerts": [bare, api_v2]})

    task_of(response)
    received = fed.triage.wait_for_inputs(seen + 1)[seen]
    assert received["version"] == "4"
    assert received["status"] == "firing"
    assert received["commonLabels"] == {"alertname": "HighLatency", "service": "checkout"}
    assert [a["status"] for a in received["alerts"]] == ["firing", "firing"]
    assert all(len(a["fingerprint"]) == 16 and a["startsAt"] for a in received["alerts"])


def test_a_whole_payload_is_sent_as_it_is_and_resolved_alerts_start_nothing(fed: Federation) -> None:
    fed.settled()  # no earlier delivery arrives among this test's
    seen = len(fed.triage.inputs())
    payload = webhook_payload(alert("DiskFull"), group_key=uuid.uuid4().hex)

    task_of(fed.post("/diagnostics/alerts", payload))
    resolved = fed.post("/diagnostics/alerts", {"alerts": [{"labels": {"alertname": "X"}, "status": "resolved"}]})

    assert fed.triage.wait_for_inputs(seen + 1)[seen]["groupKey"] == payload["groupKey"]
    assert resolved.status_code == 200
    assert resolved.json()["ignored"] == "resolved"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"alerts": [{"annotations": {}}]}, "alerts.0.labels"), ({"alerts": [], "note": "x"}, "alerts"), ({}, "alerts")],
)
def test_malformed_alerts_are_422_naming_the_field(fed: Federation, body: dict[str, Any], field: str) -> None:
    response = fed.post("/diagnostics/alerts", body)

    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


def test_the_stream_of_a_running_task_says_status_then_artifact_then_done(fed: Federation) -> None:
    collected: list[tuple[str, dict[str, Any]]] = []
    with fed.gate.closed():
        task_id = task_of(fed.post("/diagnostics/deployment", {"service": "cart", "status": "rolled_back"}))
        fed.wait_for_state(task_id, "working")

        def follow() -> None:
            with fed.http.stream("GET", f"{fed.url}/tasks/{task_id}/stream", headers=fed.headers()) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                collected.extend(events(response))

        reader = threading.Thread(target=follow)
        reader.start()
        live = ("comment", {"text": "following the task live"})
        eventually(lambda: live in collected, what=lambda: f"{live} among {collected}")  # released once followed live
    reader.join(10)

    collected = [(name, data) for name, data in collected if name != "comment"]
    names = [name for name, _ in collected]
    assert collected[0] == ("status", {"state": "working", "message": STAGE})
    assert names[-1] == "done"
    assert names.index("artifact") < names.index("done")
    (artifact,) = [data for name, data in collected if name == "artifact"]
    assert artifact["name"] == "result"
    assert artifact["result"]["received"]["service"] == "cart"
    assert artifact["markdown"] == "## triage\n\nDone."
    assert collected[-1] == ("done", {"state": "completed"})
    # Followed live: the agent adds its result before it completes (a final read would say completed first).
    assert names.index("artifact") < collected.index(("status", {"state": "completed", "message": None}))


def test_the_stream_of_a_finished_task_gives_its_final_state_at_once(fed: Federation) -> None:
    task_id = task_of(fed.post("/diagnostics/deployment", {"service": "cart", "status": "failed"}))
    fed.wait_for_state(task_id, "completed")

    response = fed.get(f"/tasks/{task_id}/stream")

    collected = list(events(response))
    assert [name for name, _ in collected] == ["status", "artifact", "done"]  # not followed live: no comment
    assert collected[0][1]["state"] == "completed"


def test_openapi_document_is_public_valid_and_matches_the_served_routes(fed: Federation) -> None:
    response = fed.http.get(f"{fed.url}/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": fed.url}]
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(op.method.upper(), op.path) for op in OPERATIONS}
    alertmanager = document["paths"]["/webhooks/alertmanager"]["post"]
    assert alertmanager["security"] == [{"bearerAuth": ["agents:invoke"]}, {"basicAuth": []}]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    schemathesis.openapi.from_dict(document)  # a document schemathesis can load and generate from
    for path, item in document["paths"].items():  # every operation is answered, none is 404 or 405
        for method in item:
            if path != "/tasks/{id}/stream":
                served = fed.http.request(method, f"{fed.url}{path.replace('{id}', 'x')}", headers=fed.headers())
                assert served.status_code not in (405, 500), (method, path, served.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [(op.method.upper(), op.path) for op in OPERATIONS if op.path not in ("/tasks/{id}/stream", "/openapi.json")],
)
def test_the_api_conforms_to_its_openapi_document(fed: Federation, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fed.url}/openapi.json", timeout=10)

    check_conformance(schema, method, path, fed.headers(), max_examples=10)


def test_tasks_are_still_followed_after_the_router_restarts(fed: Federation) -> None:
    task_id = task_of(fed.post("/diagnostics/deployment", {"service": "checkout", "status": "failed"}))
    fed.wait_for_state(task_id, "completed")
    payload = webhook_payload(alert("RestartCheck"), group_key=uuid.uuid4().hex)
    first = fed.post("/webhooks/alertmanager", payload)

    fed.router.stop()
    fed.router.start()
    wait_until_registered(fed, "router")

    view = fed.get(f"/tasks/{task_id}")
    assert view.status_code == 200
    assert view.json()["state"] == "completed"
    again = fed.post("/webhooks/alertmanager", payload)
    assert (again.status_code, again.json()["tasks"]) == (200, first.json()["tasks"])
