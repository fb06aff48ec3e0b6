"""Row 39 on the router and the registry: free-form JSON out of bounds is refused naming the field.

An extra webhook field nested 50 or 300 deep, a lone surrogate in an alert label, a question's
context nested 300 deep (router), and an agent card nested deep, with a lone surrogate in its URL
or a 5 000-digit integer (registry): each is a 422 naming the field, nothing reaches triage or is
registered, and the lists still answer. The rule itself and the other surfaces are in
`tests/security/test_json_bounds.py`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from support.router_federation import Federation, alert, webhook_payload

from common.json_bounds import MAX_DEPTH

pytestmark = pytest.mark.integration

DEEP = 300
LONE_SURROGATE = '"a\\ud800b"'
LONG_INTEGER = "9" * 5000


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def too_deep_at(prefix: str) -> str:
    """The field refused in `nested(DEEP)` sent at `prefix` of a body: the first object past `MAX_DEPTH` levels."""
    levels = MAX_DEPTH + 1 - (prefix.count(".") + 2)  # the body is level 1, `prefix` one more per segment
    return ".".join([prefix, *["a"] * levels])


def field_errors(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


def post_router(fed: Federation, path: str, raw: str) -> httpx.Response:
    headers = {**fed.headers(), "Content-Type": "application/json"}
    return fed.http.post(f"{fed.url}{path}", content=raw.encode("utf-8", "surrogatepass"), headers=headers)


@pytest.mark.parametrize("levels", [50, DEEP])
def test_router_webhook_with_a_deep_extra_field_is_422_naming_it(fed: Federation, levels: int) -> None:
    payload = webhook_payload(alert(), group_key=f"g-{uuid.uuid4().hex}") | {"extra": nested(levels)}
    fed.settled()
    seen = len(fed.triage.inputs())

    response = fed.post("/webhooks/alertmanager", payload)

    assert response.status_code == 422, response.text
    assert field_errors(response) == [too_deep_at("extra")]
    assert len(fed.triage.inputs()) == seen


def test_router_refuses_a_lone_surrogate_in_a_label_or_a_deep_context(fed: Federation) -> None:
    payload = json.dumps(webhook_payload(alert(team="TEAM"), group_key=f"g-{uuid.uuid4().hex}"))
    surrogate = payload.replace('"TEAM"', LONE_SURROGATE)

    webhook = post_router(fed, "/webhooks/alertmanager", surrogate)
    diagnostics = post_router(fed, "/diagnostics/alerts", surrogate)
    question = fed.post("/execute", {"user_query": "why?", "context": nested(DEEP)})

    assert webhook.status_code == 422, webhook.text
    assert field_errors(webhook) == ["alerts.0.labels.team"]
    assert diagnostics.status_code == 422, diagnostics.text
    assert field_errors(diagnostics) == ["alerts.0.labels.team"]
    assert question.status_code == 422, question.text
    assert field_errors(question) == [too_deep_at("context")]


def post_registry(fed: Federation, raw: str) -> httpx.Response:
    token = fed.token("peers", fed.registry.url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return fed.http.post(f"{fed.registry.url}/agents", content=raw.encode(), headers=headers)


def test_registry_refuses_deep_or_unstorable_cards_naming_the_field_and_still_lists(fed: Federation) -> None:
    card = {"name": f"deep-{uuid.uuid4().hex[:8]}", "url": "http://127.0.0.1:9/a2a"}
    deep = card | {"skills": [{"id": "s", "name": "S", "examples": [nested(DEEP)]}]}
    raw_card = json.dumps(card)

    responses = {
        "deep": fed.registry_call("POST", "/agents", json=deep),
        "surrogate url": post_registry(fed, raw_card.replace('/a2a"', '/\\ud800"')),
        "long integer": post_registry(fed, raw_card.replace("}", ', "version": ' + LONG_INTEGER + "}")),
    }

    assert field_errors(responses["deep"]) == [too_deep_at("skills.0.examples.0")]
    assert field_errors(responses["surrogate url"]) == ["url"]
    assert field_errors(responses["long integer"]) == ["version"]
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 422)
    listed = fed.registry_call("GET", "/agents")
    assert listed.status_code == 200
    assert card["name"] not in [agent["name"] for agent in listed.json()["agents"]]
