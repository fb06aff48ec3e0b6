"""The registry's HTTP API over real HTTP against `sre serve registry` (SECURITY-CHECKLIST row 31).

Every test talks to a registry process on 127.0.0.1 with tokens from a test issuer whose
audience is the registry's URL. Names are unique per test, since the registry is shared.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.issuer import TestIssuer
from support.served import ServedComponent

from registry.openapi import OPERATIONS, openapi_document

pytestmark = pytest.mark.integration

WRITE = "registry:write"


def agent_body(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "url": f"http://127.0.0.1:9/{name}", **fields}


def server_body(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "url": f"http://127.0.0.1:9/{name}/mcp", **fields}


# --- registration and lookup ---------------------------------------------------------------


def test_agent_registration_is_created_then_updated_then_deregistered(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str], reader: dict[str, str]
) -> None:
    skills = [
        {"id": "triage-alert", "name": "Triage", "description": "", "tags": ["alerts"], "examples": ["why slow?"]}
    ]
    security = {"type": "oauth2", "flow": "client_credentials", "scopes": ["agents:invoke"]}
    body = agent_body("crud-agent", description="Finds causes", version="1.0", skills=skills, security=security)

    created = http.post(f"{registry.url}/agents", json=body, headers=writer)
    assert created.status_code == 201
    assert created.headers["location"] == "/agents/crud-agent"
    entry = created.json()
    assert {key: entry[key] for key in body} == {**body, "security": {**security, "token_url": None}}
    assert entry["health"] == {"status": "unknown", "last_checked": None, "last_error": None}

    updated = http.post(f"{registry.url}/agents", json={**body, "version": "1.1"}, headers=writer)
    assert updated.status_code == 200
    assert updated.json()["version"] == "1.1"
    assert updated.json()["registered_at"] == entry["registered_at"]
    assert updated.json()["last_seen"] >= entry["last_seen"]

    fetched = http.get(f"{registry.url}/agents/crud-agent", headers=reader)
    assert fetched.status_code == 200
    assert fetched.json() == updated.json()

    assert http.delete(f"{registry.url}/agents/crud-agent", headers=writer).status_code == 204
    missing = http.get(f"{registry.url}/agents/crud-agent", headers=reader)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert http.delete(f"{registry.url}/agents/crud-agent", headers=writer).status_code == 404


def test_server_descriptor_round_trips_and_lists_page_by_page(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str], reader: dict[str, str]
) -> None:
    tools = [{"name": "prometheus_query_range", "description": "Run a PromQL range query."}]
    for name in ("page-a", "page-b", "page-c"):
        body = server_body(name, tools=tools, scopes=["metrics:read"], tenant="paging")
        assert http.post(f"{registry.url}/servers", json=body, headers=writer).status_code == 201

    entry = http.get(f"{registry.url}/servers/page-b", headers=reader).json()
    assert (entry["transport"], entry["tools"], entry["scopes"]) == ("streamable-http", tools, ["metrics:read"])

    first = http.get(f"{registry.url}/servers", params={"tenant": "paging", "limit": 2}, headers=reader).json()
    assert [s["name"] for s in first["servers"]] == ["page-a", "page-b"]
    assert (first["returned"], first["total"], first["truncated"]) == (2, 3, True)
    rest = http.get(
        f"{registry.url}/servers",
        params={"tenant": "paging", "limit": 2, "cursor": first["next_cursor"]},
        headers=reader,
    ).json()
    assert [s["name"] for s in rest["servers"]] == ["page-c"]
    assert (rest["truncated"], rest["next_cursor"]) == (False, None)


def test_search_ranks_exact_skill_then_tags_then_text_with_ties_by_name(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str], reader: dict[str, str]
) -> None:
    agents = [
        agent_body("zulu-exact", skills=[{"id": "latency-triage", "name": "Latency triage"}], tenant="ranking"),
        agent_body("yankee-tag", skills=[{"id": "other", "name": "Other", "tags": ["latency-triage", "latency"]}]),
        agent_body("bravo-text", description="Explains latency regressions"),
        agent_body("alpha-text", description="Latency budgets", skills=[{"id": "x", "name": "X"}]),
        agent_body("charlie-none", description="Capacity forecasts"),
    ]
    for body in agents:
        body["tenant"] = "ranking"
        assert http.post(f"{registry.url}/agents", json=body, headers=writer).status_code == 201

    params = {"skill": "latency-triage", "q": "latency", "tenant": "ranking"}
    result = http.get(f"{registry.url}/search", params=params, headers=reader).json()
    ranked = [(hit["agent"]["name"], hit["score"], hit["matched"]) for hit in result["results"]]
    assert ranked == [
        ("zulu-exact", 10_001, ["skill:latency-triage", "text:latency"]),
        ("yankee-tag", 200, ["tag:latency", "tag:latency-triage"]),
        ("alpha-text", 1, ["text:latency"]),
        ("bravo-text", 1, ["text:latency"]),
    ]
    assert (result["returned"], result["total"], result["truncated"]) == (4, 4, False)

    top = http.get(f"{registry.url}/search", params={**params, "limit": 1}, headers=reader).json()
    assert [hit["agent"]["name"] for hit in top["results"]] == ["zulu-exact"]
    assert (top["total"], top["truncated"]) == (4, True)


def test_search_needs_a_skill_or_keywords(
    http: httpx.Client, registry: ServedComponent, reader: dict[str, str]
) -> None:
    response = http.get(f"{registry.url}/search", params={"q": "  "}, headers=reader)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["skill"]


# --- validation and bounds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (agent_body("typo", descripton="x"), ["descripton"]),
        ({"name": "bad-url", "url": "ftp://127.0.0.1/x"}, ["url"]),
        # Credentials in a URL would be shown to every reader of the registry: refused.
        ({"name": "userinfo", "url": "http://a@127.0.0.1:9/x"}, ["url"]),
        ({"name": "userinfo", "url": "http://user:secret@127.0.0.1:9/x"}, ["url"]),
        (
            agent_body("token-url", security={"type": "oauth2", "token_url": "https://a:b@idp/token"}),
            ["security.token_url"],
        ),
        ({"name": "has space", "url": "http://127.0.0.1:9/x"}, ["name"]),
        (agent_body("bad-skills", skills=[{"id": "a"}]), ["skills.0.name"]),
        (agent_body("bad-tags", skills=[{"id": "a", "name": "A", "tags": "alerts"}]), ["skills.0.tags"]),
        (agent_body("nul", description="a\u0000b"), ["description"]),
        ({"url": "http://127.0.0.1:9/x"}, ["name"]),
        ([], ["body"]),
    ],
)
def test_invalid_registrations_are_422_naming_each_field(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str], body: Any, fields: list[str]
) -> None:
    response = http.post(f"{registry.url}/agents", json=body, headers=writer)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert [error["field"] for error in response.json()["errors"]] == fields


def test_unknown_server_fields_and_transports_are_rejected(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str]
) -> None:
    response = http.post(f"{registry.url}/servers", json=server_body("sse", transport="sse", x=1), headers=writer)
    assert response.status_code == 422
    assert sorted(error["field"] for error in response.json()["errors"]) == ["transport", "x"]


def test_malformed_bodies_are_400_and_oversized_ones_413(
    http: httpx.Client, registry: ServedComponent, writer: dict[str, str]
) -> None:
    url = f"{registry.url}/agents"
    not_json = http.post(url, content=b"{not json", headers={**writer, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    form = http.post(url, content=b"name=x", headers={**writer, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400
    huge = agent_body("huge", description="x" * (2 * 1024 * 1024))
    assert http.post(url, json=huge, headers=writer).status_code == 413

    def chunks() -> Any:  # no Content-Length: the limit must hold while streaming
        yield b'{"name": "huge", "description": "'
        for _ in range(64):
            yield b"x" * 32768
        yield b'"}'

    streamed = http.post(url, content=chunks(), headers={**writer, "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_bad_query_parameters_are_422(http: httpx.Client, registry: ServedComponent, reader: dict[str, str]) -> None:
    for params, field in (({"limit": "0"}, "limit"), ({"cursor": "garbage!"}, "cursor"), ({"nope": "1"}, "nope")):
        response = http.get(f"{registry.url}/agents", params=params, headers=reader)
        assert response.status_code == 422, params
        assert [error["field"] for error in response.json()["errors"]] == [field]


# --- authentication and authorization (checklist row 31) ----------------------------------


WRITES = [
    ("POST", "/agents", agent_body("authz")),
    ("POST", "/servers", server_body("authz")),
    ("DELETE", "/agents/authz", None),
    ("DELETE", "/servers/authz", None),
]
READS = ["/agents", "/agents/authz", "/servers", "/servers/authz", "/search?q=x", "/metrics"]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_without_a_valid_token_are_401_with_a_bearer_challenge(
    http: httpx.Client, registry: ServedComponent, issuer: TestIssuer, method: str, path: str, body: Any
) -> None:
    other_audience = issuer.mint("http://127.0.0.1:8701/mcp", [WRITE])
    expired = issuer.mint(registry.url, [WRITE], lifetime=-120)
    refused = ("Bearer", "Bearer garbage", f"Basic {other_audience}", f"Bearer {other_audience}", f"Bearer {expired}")
    for authorization in (None, *refused):
        headers = {"Authorization": authorization} if authorization else {}
        response = http.request(method, f"{registry.url}{path}", json=body, headers=headers)
        assert response.status_code == 401, authorization
        assert response.headers["www-authenticate"].startswith("Bearer"), authorization


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_without_the_write_scope_are_403_insufficient_scope(
    http: httpx.Client,
    registry: ServedComponent,
    writer: dict[str, str],
    reader: dict[str, str],
    method: str,
    path: str,
    body: Any,
) -> None:
    http.post(f"{registry.url}/agents", json=agent_body("authz"), headers=writer)
    http.post(f"{registry.url}/servers", json=server_body("authz"), headers=writer)
    response = http.request(method, f"{registry.url}{path}", json=body, headers=reader)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert WRITE in response.json()["error_description"]
    assert f'scope="{WRITE}"' in response.headers["www-authenticate"]
    # Nothing changed: the entries are still there, as first registered.
    for kind in ("agents", "servers"):
        assert http.get(f"{registry.url}/{kind}/authz", headers=reader).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_token_for_the_registry(
    http: httpx.Client, registry: ServedComponent, issuer: TestIssuer, path: str
) -> None:
    assert http.get(f"{registry.url}{path}").status_code == 401
    query_token = issuer.mint(registry.url, [])
    separator = "&" if "?" in path else "?"
    assert http.get(f"{registry.url}{path}{separator}access_token={query_token}").status_code == 401
    foreign = issuer.mint("http://127.0.0.1:8701/mcp", [])
    assert http.get(f"{registry.url}{path}", headers={"Authorization": f"Bearer {foreign}"}).status_code == 401


def test_health_openapi_and_metrics(http: httpx.Client, registry: ServedComponent, reader: dict[str, str]) -> None:
    assert http.get(f"{registry.url}/healthz").json()["status"] == "ok"
    assert http.get(f"{registry.url}/openapi.json").status_code == 200
    metrics = http.get(f"{registry.url}/metrics", headers=reader)
    assert metrics.status_code == 200
    assert 'sre_http_requests_total{component="registry"' in metrics.text


def test_openapi_document_describes_exactly_the_served_routes(http: httpx.Client, registry: ServedComponent) -> None:
    served = http.get(f"{registry.url}/openapi.json").json()
    assert served == openapi_document(registry.url)
    assert served["openapi"].startswith("3.1")
    documented = {(method, path) for path, item in served["paths"].items() for method in item}
    assert documented == {(op.method, op.path) for op in OPERATIONS}

    from registry.api import RegistryApi
    from registry.store import RegistryStore

    api = RegistryApi(RegistryStore("sqlite+aiosqlite://"), max_body_bytes=1, auth_required=True, openapi={})
    routed = {
        (method.lower(), route.path) for route in api.routes() for method in route.methods or () if method != "HEAD"
    }
    assert routed == documented
