"""Security checklist rows 1-14, 23, 24 and 26-30 against the A2A agents as served: triage and the router.

triage runs as `sre serve triage` trusting a test issuer (no MCP server behind it: a question it
is sent fails or is refused, which is all these rows need, a task that exists). The router runs
in the federation of `router_federation` (registry, stand-in agents, router), its tokens signed
with the registry's own key. tests/agents/router/test_security.py checks the router's routes
against part of these rows; here both agents meet the whole catalogue of refused credentials
(`refused_tokens`) on their A2A endpoint, and the A2A rows (task isolation, push URLs, cards,
JSON-RPC errors, oversized requests) run on each.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from support.eventually import eventually
from support.hostile_tokens import RecordingServer, access_token, assert_oversized_tokens_refused_fast_in_bounded_memory
from support.issuer import TestIssuer
from support.key_rotation import accepted_after_rotation
from support.refused_tokens import REFUSED_CASES, refused_authorization, within_leeway
from support.router_federation import Federation, federation, strings_in, webhook_payload
from support.served import ServedComponent

from common.agents import AGENTS_INVOKE
from common.settings import SettingsSource
from registry.keys import KeyStore
from registry.settings import RegistrySettings

pytestmark = pytest.mark.integration

AGENTS = ("triage", "router")
A2A = {"A2A-Version": "1.0"}
#: Seconds between two JWKS fetches of triage, at least.
COOLDOWN = 2.0
#: Push-notification targets an agent must never call: link-local, cloud metadata, loopback.
FORBIDDEN_PUSH_URLS = (
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://127.0.0.1:22/",
)


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def send_message(text: str) -> dict[str, Any]:
    message = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": text}]}
    return rpc("SendMessage", {"message": message})


@dataclass
class Agent:
    """An A2A agent under test and how to sign tokens it accepts."""

    name: str
    url: str
    issuer: str
    public_key: RSAKey
    #: `sign(client_id, **changes)`: a token of `client_id` with agents:invoke, changed as told (`refused_tokens.Mint`).
    sign: Callable[..., str]
    pid: int
    #: A message the agent answers with a finished task quickly.
    question: str
    #: Text the card must never hold (secrets of the component).
    secrets: tuple[str, ...] = ()
    #: How many times the agent's issuer served its JWKS, where that is counted.
    fetch_count: Callable[[], int] | None = None
    #: The router's federation (its stand-in peers record what reached them).
    fed: Federation | None = None
    #: Makes the issuer sign with a new key from now on, where the test owns the issuer.
    rotate: Callable[[], object] | None = None

    def mint(self, **changes: Any) -> str:
        return self.sign("client-a", **changes)

    def headers(self, client_id: str = "client-a") -> dict[str, str]:
        return {**A2A, "Authorization": f"Bearer {self.sign(client_id)}"}

    def post(self, http: httpx.Client, body: Any, headers: dict[str, str]) -> httpx.Response:
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        return http.post(f"{self.url}/", content=content, headers={"Content-Type": "application/json", **headers})


AgentFactory = Callable[[str], Agent]


def _triage(stack: ExitStack, factory: pytest.TempPathFactory) -> Agent:
    issuer = stack.enter_context(TestIssuer())
    env = {
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_DATA_DIR": str(factory.mktemp("triage-data")),
        # Nothing to find: the registry is the issuer's host, which answers 404 at once.
        "REGISTRY_URL": issuer.issuer,
        "SRE_REQUESTS_PER_SECOND": "1000000",
        "TRIAGE_RECORD_ANALYSES": "false",
        "TRIAGE_SOURCE_TIMEOUT_SECONDS": "2",
        # Row 13 rotates the issuer's key.
        "SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": str(COOLDOWN),
    }
    served = stack.enter_context(ServedComponent("triage", env, factory.mktemp("served")))

    def sign(client_id: str, **changes: Any) -> str:
        claims = {"client_id": client_id, "sub": client_id, **changes.pop("claims", {})}
        return issuer.mint(served.url, [AGENTS_INVOKE], claims=claims, **changes)

    return Agent(
        "triage",
        served.url,
        issuer.issuer,
        issuer.signing_key,
        sign,
        served.pid,
        "[1, 2, 3]",
        fetch_count=lambda: issuer.fetch_count,
        rotate=issuer.rotate,
    )


def _router(stack: ExitStack, factory: pytest.TempPathFactory) -> Agent:
    # A short JWKS cooldown for the router: row 13 rotates the registry's key.
    cooldown = {"SRE_AUTH_JWKS_REFETCH_COOLDOWN_SECONDS": str(COOLDOWN)}
    fed: Federation = stack.enter_context(federation(factory.mktemp("router-federation"), **cooldown))
    settings = RegistrySettings.from_source(SettingsSource.load(fed.registry.env))
    key = KeyStore.for_settings(settings).signing_key().key
    assert isinstance(key, RSAKey), "the registry signs with RS256 by default"
    signing = [key]

    def rotate() -> None:
        """Rotate the registry's key with no publication delay, as `sre auth rotate-key` does with a delay."""
        keys = KeyStore(settings.keys_dir, settings.signing_algorithm, settings.token_ttl_seconds, publish_delay=0)
        keys.rotate()
        signing.append(keys.signing_key().key)  # type: ignore[arg-type]

    def sign(client_id: str, **changes: Any) -> str:
        changes.setdefault("key", signing[-1])
        claims = {"client_id": client_id, "sub": client_id, **changes.pop("claims", {})}
        return access_token(fed.registry.url, fed.router.url, [AGENTS_INVOKE], claims=claims, **changes)

    secrets_ = (fed.basic[1], *fed._secrets.values())
    question = "capacity forecast"
    return Agent(
        "router",
        fed.router.url,
        fed.registry.url,
        key,
        sign,
        fed.router.pid,
        question,
        secrets_,
        fed=fed,
        rotate=rotate,
    )


@pytest.fixture(scope="module")
def agent_of(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentFactory]:
    """`agent_of(name)`: triage or the router, started on first use and stopped with the module."""
    started: dict[str, Agent] = {}
    with ExitStack() as stack:

        def agent_of(name: str) -> Agent:
            if name not in started:
                agent = (_triage if name == "triage" else _router)(stack, tmp_path_factory)
                # The first calls of a fresh agent load its A2A handlers: on a busy machine they may take
                # longer than the tests' 10 s client timeout, which is meant for the answers under test.
                with httpx.Client(timeout=120.0, trust_env=False) as patient:
                    for headers in ({}, agent.headers()):
                        agent.post(patient, rpc("GetTask", {"id": "warm-up"}), {**A2A, **headers})
                started[name] = agent
            return started[name]

        yield agent_of


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code != 500, response.text
    body = response.json()
    assert "result" not in body, body
    error = body["error"]
    assert isinstance(error, dict)
    return error


def finished_task(http: httpx.Client, agent: Agent, client_id: str) -> str:
    """The id of a task `client_id` started, once the agent has finished it."""
    response = agent.post(http, send_message(agent.question), agent.headers(client_id))
    assert response.status_code == 200, response.text
    task = response.json()["result"]["task"]

    def ended() -> bool:
        now = agent.post(http, rpc("GetTask", {"id": task["id"]}), agent.headers(client_id)).json()["result"]
        return now["status"]["state"] not in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")

    eventually(ended, timeout=30, what=f"task {task['id']} to end")
    return str(task["id"])


# --- rows 1-3 and 26: no or misplaced credentials -------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["SendMessage", "SendStreamingMessage", "GetTask", "CancelTask", "ListTasks", "CreateTaskPushNotificationConfig"],
)
@pytest.mark.parametrize("name", AGENTS)
def test_rows_01_03_26_an_a2a_call_without_a_token_or_with_it_in_the_query_is_401_never_200(
    http: httpx.Client, agent_of: AgentFactory, name: str, method: str
) -> None:
    agent = agent_of(name)
    body = send_message("hi") if method.startswith("Send") else rpc(method, {"id": "t-1", "taskId": "t-1"})

    missing = agent.post(http, body, A2A)
    in_query = http.post(f"{agent.url}/", json=body, headers=A2A, params={"access_token": agent.mint()})

    assert_unauthorized(missing)
    assert_unauthorized(in_query)


@pytest.mark.parametrize("name", AGENTS)
def test_a_valid_token_and_one_expired_within_the_leeway_are_accepted(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)
    unknown = rpc("GetTask", {"id": uuid.uuid4().hex})

    for token in (agent.mint(), within_leeway(agent.mint)):
        response = agent.post(http, unknown, {**A2A, "Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert error_of(response)["code"] == -32001


@pytest.mark.parametrize("scopes", [[], ["metrics:read"], ["agents:invoke:extra"]], ids=["none", "other", "look-alike"])
@pytest.mark.parametrize("name", AGENTS)
def test_row_26_a_token_without_agents_invoke_is_403_naming_the_scope_and_starts_nothing(
    http: httpx.Client, agent_of: AgentFactory, name: str, scopes: list[str]
) -> None:
    agent = agent_of(name)
    client_id = f"scoped-{uuid.uuid4().hex[:8]}"
    # The agent's own signer, with the scope claim replaced: only the scope is wrong.
    token = agent.sign(client_id, claims={"scope": " ".join(scopes)})

    response = agent.post(http, send_message(agent.question), {**A2A, "Authorization": f"Bearer {token}"})
    listed = agent.post(http, rpc("ListTasks", {}), agent.headers(client_id))

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"
    assert AGENTS_INVOKE in response.headers["WWW-Authenticate"]
    assert listed.json()["result"].get("tasks", []) == []


# --- rows 2, 4-12 and 26: credentials that must not be accepted ------------------------------------


@pytest.mark.parametrize("case", REFUSED_CASES)
@pytest.mark.parametrize("name", AGENTS)
def test_rows_02_04_to_12_26_a_wrong_or_hostile_credential_is_401_and_starts_nothing(
    http: httpx.Client, agent_of: AgentFactory, key_host: tuple[RecordingServer, RSAKey], name: str, case: str
) -> None:
    agent = agent_of(name)
    host, attacker_key = key_host
    owner = f"refused-{uuid.uuid4().hex[:8]}"
    authorization = refused_authorization(
        case,
        lambda **changes: agent.sign(owner, **changes),
        issuer=agent.issuer,
        audience=agent.url,
        public_key=agent.public_key,
        attacker=host,
        attacker_key=attacker_key,
    )
    headers = {**A2A, "Authorization": authorization}

    response = agent.post(http, send_message(agent.question), headers)
    # Had the token been taken for the client it names, that client would now own a task.
    listed = agent.post(http, rpc("ListTasks", {}), agent.headers(owner))

    assert_unauthorized(response)
    assert host.requests == []
    assert listed.status_code == 200, listed.text
    assert listed.json()["result"].get("tasks", []) == []


#: The router's routes beside A2A: webhooks, the REST facade, its task views, with a body each accepts.
ROUTER_ROUTES = {
    ("POST", "/webhooks/alertmanager"): webhook_payload(group_key="refused"),
    ("POST", "/webhooks/deployment"): {"service": "checkout", "status": "failed"},
    ("POST", "/execute"): {"user_query": "capacity forecast for checkout"},
    ("POST", "/diagnostics/deployment"): {"service": "checkout", "status": "failed"},
    ("POST", "/diagnostics/alerts"): {"alerts": [{"labels": {"alertname": "X", "service": "checkout"}}]},
    ("GET", "/tasks/some-task"): None,
    ("GET", "/tasks/some-task/stream"): None,
    ("GET", "/metrics"): None,
}


@pytest.mark.parametrize("case", REFUSED_CASES)
def test_rows_02_04_to_12_a_wrong_or_hostile_credential_is_401_on_every_router_route_and_reaches_no_peer(
    http: httpx.Client, agent_of: AgentFactory, key_host: tuple[RecordingServer, RSAKey], case: str
) -> None:
    agent = agent_of("router")
    assert agent.fed is not None
    host, attacker_key = key_host
    authorization = refused_authorization(
        case,
        agent.mint,
        issuer=agent.issuer,
        audience=agent.url,
        public_key=agent.public_key,
        attacker=host,
        attacker_key=attacker_key,
    )
    agent.fed.settled()  # no earlier test's delivery lands in between
    received = len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs())

    statuses = {
        f"{method} {path}": http.request(
            method, f"{agent.url}{path}", json=body, headers={"Authorization": authorization}
        ).status_code
        for (method, path), body in ROUTER_ROUTES.items()
    }

    assert statuses == dict.fromkeys(statuses, 401)
    agent.fed.settled()  # a delivery wrongly accepted would have arrived by now
    assert len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs()) == received
    assert host.requests == []


# --- row 13 --------------------------------------------------------------------------------------


def test_row_13_triage_fetches_the_jwks_at_most_once_per_cooldown_for_tokens_with_random_kids(
    http: httpx.Client, agent_of: AgentFactory
) -> None:
    agent = agent_of("triage")
    tokens = [agent.mint(header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(200)]
    fetch_count = agent.fetch_count
    assert fetch_count is not None
    before = fetch_count()

    def status(token: str) -> int:
        return agent.post(http, rpc("GetTask", {"id": "t-1"}), {**A2A, "Authorization": f"Bearer {token}"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, tokens))
    elapsed = time.monotonic() - started

    assert statuses == [401] * len(tokens)
    # One refetch per cooldown at most, whatever the number of unknown kids.
    assert fetch_count() - before <= 1 + elapsed / COOLDOWN, elapsed
    assert status(agent.mint()) == 200


def jwks_fetches(http: httpx.Client, fed: Federation) -> float:
    """How many times the registry served its JWKS, from its own request metrics."""
    token = fed.token("caller", fed.registry.url)
    metrics = http.get(f"{fed.registry.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert metrics.status_code == 200, metrics.text
    lines = metrics.text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'route="/jwks.json"' in line and "_total" in line)


def test_row_13_the_router_fetches_the_registry_jwks_at_most_once_per_cooldown_for_tokens_with_random_kids(
    http: httpx.Client, agent_of: AgentFactory
) -> None:
    agent = agent_of("router")
    assert agent.fed is not None
    tokens = [agent.mint(header={"kid": f"rsa-{secrets.token_hex(8)}"}) for _ in range(200)]

    def status(token: str) -> int:
        return agent.post(http, rpc("GetTask", {"id": "t-1"}), {**A2A, "Authorization": f"Bearer {token}"}).status_code

    assert status(agent.mint()) == 200  # the router has its keys
    before = jwks_fetches(http, agent.fed)
    assert before >= 1, "the registry's metrics count no JWKS fetch: this test would count nothing"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, tokens))
    elapsed = time.monotonic() - started

    assert statuses == [401] * len(tokens)
    # One refetch per cooldown at most, whatever the number of unknown kids.
    assert jwks_fetches(http, agent.fed) - before <= 1 + elapsed / COOLDOWN, elapsed
    assert status(agent.mint()) == 200


# --- row 14 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AGENTS)
def test_row_14_oversized_authorization_headers_are_refused_fast_with_bounded_memory(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)

    def attempt(headers: dict[str, str]) -> httpx.Response:
        return agent.post(http, send_message("hi"), {**A2A, **headers})

    assert_oversized_tokens_refused_fast_in_bounded_memory(attempt, agent.pid)
    assert http.get(f"{agent.url}/healthz").status_code == 200


# --- rows 23-24: oversized bodies, malformed JSON-RPC -----------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
@pytest.mark.parametrize("name", AGENTS)
def test_row_23_a_5_mib_a2a_request_is_413_and_the_agent_stays_up(
    http: httpx.Client, agent_of: AgentFactory, name: str, chunked: bool
) -> None:
    agent = agent_of(name)

    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": "'
        for _ in range(5 * 16):
            yield b"x" * 64 * 1024
        yield b'"}'

    body: Any = chunks() if chunked else b"".join(chunks())
    response = http.post(f"{agent.url}/", content=body, headers={**agent.headers(), "Content-Type": "application/json"})
    # The router's REST facade too: the same limit before parsing.
    json_headers = {**agent.headers(), "Content-Type": "application/json"}
    facade = http.post(f"{agent.url}/execute", content=b"".join(chunks()), headers=json_headers) if agent.fed else None

    assert response.status_code == 413, response.text
    if facade is not None:
        assert facade.status_code == 413, facade.text
    assert http.get(f"{agent.url}/healthz").status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", ["/execute", "/diagnostics/alerts", "/webhooks/deployment"])
def test_row_22_a_router_rest_body_in_another_content_type_is_400_and_reaches_no_peer(
    http: httpx.Client, agent_of: AgentFactory, path: str, content_type: str
) -> None:
    agent = agent_of("router")
    assert agent.fed is not None
    body = json.dumps(ROUTER_ROUTES["POST", path])
    agent.fed.settled()  # no earlier test's delivery lands in between
    received = len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs())

    response = http.post(f"{agent.url}{path}", content=body, headers={**agent.headers(), "Content-Type": content_type})

    assert response.status_code == 400, response.text
    assert "application/json" in response.json()["error_description"]
    agent.fed.settled()  # a delivery wrongly accepted would have arrived by now
    assert len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs()) == received


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 400),
        ({"Content-Type": "application/json", "Accept": "text/html"}, 406),
    ],
)
@pytest.mark.parametrize("name", ["triage", "router"])
def test_row_22_an_a2a_request_in_another_content_type_or_accepting_only_html_is_refused(
    http: httpx.Client, agent_of: AgentFactory, name: str, headers: dict[str, str], status: int
) -> None:
    agent = agent_of(name)
    body = json.dumps(rpc("GetTask", {"id": "t-1"}))

    response = http.post(f"{agent.url}/", content=body, headers={**agent.headers(), **headers})

    assert response.status_code == status, response.text
    assert "application/json" in response.json()["error_description"]
    accepted = http.post(f"{agent.url}/", content=body, headers={**agent.headers(), "Content-Type": "application/json"})
    assert accepted.status_code == 200, accepted.text  # the same call, as JSON: a JSON-RPC answer (task not found)


@pytest.mark.parametrize("path", ["/execute", "/diagnostics/alerts", "/diagnostics/deployment", "/webhooks/deployment"])
def test_row_24_truncated_json_on_a_router_rest_route_is_400_and_reaches_no_peer(
    http: httpx.Client, agent_of: AgentFactory, path: str
) -> None:
    agent = agent_of("router")
    assert agent.fed is not None
    body = json.dumps(ROUTER_ROUTES["POST", path])[:-3]
    agent.fed.settled()  # no earlier test's delivery lands in between
    received = len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs())

    response = http.post(
        f"{agent.url}{path}", content=body, headers={**agent.headers(), "Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["error_description"]
    agent.fed.settled()  # a delivery wrongly accepted would have arrived by now
    assert len(agent.fed.triage.inputs()) + len(agent.fed.capacity.inputs()) == received


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (json.dumps(send_message("hi"))[:-5], -32700),
        ('{"hello": "world"}', -32600),
        ('{"jsonrpc": "1.0", "id": 1, "method": "GetTask", "params": {"id": "t"}}', -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600),
        ('"GetTask"', -32600),
        ("[]", -32600),
        (json.dumps([rpc("GetTask", {"id": "t"})]), -32600),
        ('{"jsonrpc": "2.0", "id": 1, "method": "DeleteEverything", "params": {}}', -32601),
    ],
    ids=["truncated", "object", "jsonrpc-1.0", "method-a-number", "string", "empty-batch", "batch", "unknown-method"],
)
@pytest.mark.parametrize("name", AGENTS)
def test_row_24_truncated_json_is_a_parse_error_and_what_is_not_one_json_rpc_request_is_invalid(
    http: httpx.Client, agent_of: AgentFactory, name: str, body: str, code: int
) -> None:
    agent = agent_of(name)

    response = agent.post(http, body, agent.headers())

    assert error_of(response)["code"] == code


# --- rows 27-28: cards ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", AGENTS)
def test_row_27_the_public_card_needs_no_token_declares_client_credentials_and_holds_no_secret(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)

    response = http.get(f"{agent.url}/.well-known/agent-card.json")

    assert response.status_code == 200
    card = response.json()
    assert card["name"] == name
    flow = card["securitySchemes"]["oauth2"]["oauth2SecurityScheme"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].startswith(agent.issuer)
    assert list(flow["scopes"]) == [AGENTS_INVOKE]
    text = response.text
    for secret in agent.secrets:
        assert secret not in text
    urls = [value for value in strings_in(card) if "://" in value]
    assert urls, card
    assert all(url.startswith((agent.url, agent.issuer)) for url in urls), urls


@pytest.mark.parametrize("name", AGENTS)
def test_row_28_the_extended_card_without_a_token_is_an_auth_error(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)

    assert_unauthorized(agent.post(http, rpc("GetExtendedAgentCard", {}), A2A))


# --- rows 29-30: task isolation, push URLs -------------------------------------------------------


@pytest.mark.parametrize("name", AGENTS)
def test_row_29_another_clients_task_is_not_found_exactly_like_one_that_never_existed(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)
    task_id = finished_task(http, agent, "client-a")
    stranger = agent.headers("client-b")

    theirs = {method: agent.post(http, rpc(method, {"id": task_id}), stranger) for method in ("GetTask", "CancelTask")}
    unknown_id = uuid.uuid4().hex
    unknown = agent.post(http, rpc("GetTask", {"id": unknown_id}), stranger)
    listed = agent.post(http, rpc("ListTasks", {}), stranger)
    own = agent.post(http, rpc("GetTask", {"id": task_id}), agent.headers("client-a"))

    assert {method: error_of(response)["code"] for method, response in theirs.items()} == {
        "GetTask": -32001,
        "CancelTask": -32001,
    }
    assert error_of(theirs["GetTask"])["message"].replace(task_id, "?") == error_of(unknown)["message"].replace(
        unknown_id, "?"
    )
    assert task_id not in listed.text
    assert own.json()["result"]["id"] == task_id


@pytest.mark.parametrize("url", FORBIDDEN_PUSH_URLS)
@pytest.mark.parametrize("name", AGENTS)
def test_row_30_a_push_notification_url_to_link_local_metadata_or_loopback_is_refused(
    http: httpx.Client, agent_of: AgentFactory, name: str, url: str
) -> None:
    agent = agent_of(name)
    message = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": agent.question}]}
    inline = rpc("SendMessage", {"message": message, "configuration": {"taskPushNotificationConfig": {"url": url}}})

    config = agent.post(http, rpc("CreateTaskPushNotificationConfig", {"taskId": "t-1", "url": url}), agent.headers())
    sent = agent.post(http, inline, agent.headers())

    assert error_of(config)["code"] == -32003  # PushNotificationNotSupportedError
    assert error_of(sent)["code"] == -32602  # the URL is refused before any task starts


# --- row 13, second half: a real key rotation, last because it changes the signing keys ----------


@pytest.mark.parametrize("name", AGENTS)
def test_row_13_a_rotated_key_is_accepted_without_a_restart(
    http: httpx.Client, agent_of: AgentFactory, name: str
) -> None:
    agent = agent_of(name)
    assert agent.rotate is not None
    unknown = rpc("GetTask", {"id": "t-1"})
    assert agent.post(http, unknown, agent.headers()).status_code == 200

    agent.rotate()

    response = accepted_after_rotation(
        lambda: agent.post(http, unknown, agent.headers()), timeout=COOLDOWN + 10, what=name
    )
    assert response.status_code == 200, response.text
    assert error_of(response)["code"] == -32001
