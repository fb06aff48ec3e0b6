"""Security checklist rows 1-12 and 26-29 against every route of the served router that needs a token.

Tokens are real (the registry's authorization server) or forged with the registry's own key, so
that the claim under test, not an unknown signature, is what gets them refused.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import httpx
import pytest
from joserfc.jwk import RSAKey
from support.hostile_tokens import OMIT, UNTIMELY, from_now
from support.router_federation import Federation, webhook_payload

pytestmark = pytest.mark.integration

ENDPOINTS = [
    ("POST", "/webhooks/alertmanager"),
    ("POST", "/webhooks/deployment"),
    ("POST", "/execute"),
    ("POST", "/diagnostics/deployment"),
    ("POST", "/diagnostics/alerts"),
    ("GET", "/tasks/some-task"),
    ("GET", "/tasks/some-task/stream"),
    ("POST", "/"),
    ("GET", "/metrics"),
]
A2A_SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {"message": {"role": "ROLE_USER", "messageId": "m-1", "parts": [{"text": "capacity"}]}},
}
BODIES = {
    "/webhooks/alertmanager": webhook_payload(group_key="security"),
    "/webhooks/deployment": {"service": "checkout", "status": "failed"},
    "/execute": {"user_query": "capacity forecast for checkout"},
    "/diagnostics/deployment": {"service": "checkout", "status": "failed"},
    "/diagnostics/alerts": {"alerts": [{"labels": {"alertname": "X", "service": "checkout"}}]},
    "/": A2A_SEND,
}

Authorization = Callable[[Federation], dict[str, str]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REFUSED: dict[str, Authorization] = {
    "none": lambda fed: {},
    "bearer-alone": lambda fed: {"Authorization": "Bearer"},
    "garbage": lambda fed: bearer("not-a-token"),
    "registry-audience": lambda fed: bearer(fed.token("caller", fed.registry.url)),
    "no-aud": lambda fed: bearer(fed.forge(claims={"aud": OMIT})),
    "expired": lambda fed: bearer(fed.forge(claims=from_now(UNTIMELY["expired-beyond-leeway"]))),
    "not-yet-valid": lambda fed: bearer(fed.forge(claims=from_now(UNTIMELY["nbf-in-an-hour"]))),
    "alg-none": lambda fed: bearer(fed.forge(alg="none")),
    "unknown-key-known-kid": lambda fed: bearer(
        fed.forge(key=RSAKey.generate_key(2048, parameters={"kid": _registry_kid(fed)}))
    ),
    "id-token-typ": lambda fed: bearer(fed.forge(header={"typ": "JWT"})),
    "iss-trailing-slash": lambda fed: bearer(fed.forge(claims={"iss": fed.registry.url + "/"})),
}


def _registry_kid(fed: Federation) -> str:
    return str(fed.http.get(f"{fed.registry.url}/jwks.json").json()["keys"][0]["kid"])


def call(fed: Federation, method: str, path: str, headers: dict[str, str], **params: str) -> httpx.Response:
    body = BODIES.get(path)
    return fed.http.request(
        method, f"{fed.url}{path}", json=body, headers={"A2A-Version": "1.0", **headers}, params=params
    )


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_protected_route_refuses_a_missing_or_invalid_token_with_401(
    fed: Federation, method: str, path: str, case: str
) -> None:
    fed.settled()
    seen = len(fed.triage.inputs()) + len(fed.capacity.inputs())

    response = call(fed, method, path, REFUSED[case](fed))

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    # RFC 6750 §3.1: no error code for a request that sent no credentials; invalid_token for a bad one.
    bearer = response.headers.get_list("www-authenticate")[0]
    assert ('error="invalid_token"' in bearer) == (case != "none"), bearer
    assert len(fed.triage.inputs()) + len(fed.capacity.inputs()) == seen


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_token_only_in_the_query_string_is_401(fed: Federation, method: str, path: str) -> None:
    response = call(fed, method, path, {}, access_token=fed.token())

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e[1] != "/metrics"])
def test_a_token_without_agents_invoke_is_403_naming_the_scope(fed: Federation, method: str, path: str) -> None:
    response = call(fed, method, path, bearer(fed.token("reader")))

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"
    assert "agents:invoke" in response.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if not e[1].startswith("/webhooks/")])
def test_basic_credentials_are_refused_where_only_tokens_are_accepted(fed: Federation, method: str, path: str) -> None:
    encoded = base64.b64encode(f"{fed.basic[0]}:{fed.basic[1]}".encode()).decode()

    response = call(fed, method, path, {"Authorization": f"Basic {encoded}"})

    assert response.status_code == 401


def test_a_valid_token_passes_every_route(fed: Federation) -> None:
    for method, path in ENDPOINTS:
        response = call(fed, method, path, fed.headers())
        assert response.status_code in (200, 202, 404), (method, path, response.text)


def test_the_card_is_public_and_declares_oauth2_client_credentials(fed: Federation) -> None:
    card = fed.http.get(f"{fed.url}/.well-known/agent-card.json").json()

    assert card["name"] == "router"
    assert "route" in [skill["id"] for skill in card["skills"]]
    flow = card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == f"{fed.registry.url}/oauth/token"
    assert list(flow["scopes"]) == ["agents:invoke"]
    assert fed.basic[1] not in str(card)
    assert card["capabilities"].get("extendedAgentCard", False) is False


def test_the_extended_card_without_a_token_is_an_auth_error(fed: Federation) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "GetExtendedAgentCard", "params": {}}

    response = fed.http.post(f"{fed.url}/", json=request, headers={"A2A-Version": "1.0"})

    assert response.status_code == 401


def test_an_unknown_odd_or_over_long_task_id_is_404(fed: Federation) -> None:
    for task_id in ("x" * 5000, uuid.uuid4().hex, "' OR '1'='1", "%00"):
        response = fed.get(f"/tasks/{task_id}")
        assert response.status_code == 404
